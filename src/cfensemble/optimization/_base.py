"""What every CF-Ensemble trainer shares: validation, confidence, fold-in, prediction, loss.

Trainers are scikit-learn estimators (``BaseEstimator``): the constructor stores its
arguments as given, ``get_params``/``set_params``/``clone`` work, and every check runs in
``fit`` through :meth:`BaseCFTrainer._validate_params` (the model loader calls it too).

``fit`` runs the same steps for every trainer: validate, check the data, resolve the
parameters that depend on the data into fitted values (:meth:`_resolve_params`), compute the
confidence, then the subclass's loop ``_fit(data, C, rng, params)``, which sets ``X_``,
``Y_``, ``w_``, ``b_``; everything else (``predict``, ``objective``, ``history_``) is common.
"""

from __future__ import annotations

import logging
import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from cfensemble._parallel import effective_threads
from cfensemble._validation import (
    check_confidence,
    check_option,
    check_probability_matrix,
    check_scalar,
    warn_external,
)
from cfensemble.aggregators import (
    AutoAggregator,
    fit_auto_aggregator,
    fit_shrinkage_logistic,
    predict_auto,
    predict_mean,
    predict_weighted,
)
from cfensemble.confidence import Confidence
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InputTypeError, InvalidInputError, NotFittedError
from cfensemble.objective import (
    AGGREGATOR_INPUTS,
    ObjectiveValue,
    aggregator_features,
    cf_objective,
)
from cfensemble.optimization._als import update_instances

logger = logging.getLogger("cfensemble")

#: latent_dim='auto' chooses the rank on at most this many instances (a random subset).
RANK_MAX_INSTANCES = 20000

AGGREGATORS = ("auto", "weighted", "shrinkage", "mean")
#: The trainer parameters that define L_CF (keywords of ``objective.cf_objective``).
LOSS_PARAMS = (
    "rho",
    "lambda_reg",
    "use_class_weights",
    "focal_gamma",
    "aggregator_l2",
    "aggregator_input",
)


def _unscored(empty: np.ndarray) -> str:
    """The warnings' words for the columns ``empty`` of R that no classifier scored."""
    more = " ..." if empty.size > 5 else ""
    return (
        f"{empty.size} instance(s) hold no prediction from any classifier (columns "
        f"{empty[:5].tolist()}{more} of R, 0-based)"
    )


class BaseCFTrainer(BaseEstimator):
    """Shared machinery of the ALS/varpro and PyTorch trainers (not used directly).

    Subclasses define ``__init__`` (all parameters after ``latent_dim`` keyword-only, stored
    by ``cfensemble._params.store_params``), extend ``_validate_params`` and implement ``_fit``.
    """

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        if self.n_classifiers is not None:
            check_scalar(self.n_classifiers, "n_classifiers", kind=numbers.Integral, low=1)
        if isinstance(self.latent_dim, str):
            check_option(self.latent_dim, "latent_dim", ("auto",))
        else:
            check_scalar(self.latent_dim, "latent_dim", kind=numbers.Integral, low=1)
        if self.rho is not None:
            check_scalar(self.rho, "rho", low=0.0, high=1.0)
        check_scalar(self.lambda_reg, "lambda_reg", low=0.0)
        check_scalar(self.aggregator_l2, "aggregator_l2", low=0.0)
        check_scalar(self.focal_gamma, "focal_gamma", low=0.0)
        check_scalar(self.chunk_size, "chunk_size", kind=numbers.Integral, low=1)
        check_option(self.aggregator, "aggregator", AGGREGATORS)
        check_option(self.aggregator_input, "aggregator_input", AGGREGATOR_INPUTS)
        Confidence(self.confidence)  # raises on an unknown strategy
        if self.callback is not None and not callable(self.callback):
            raise InputTypeError(
                f"callback must be callable(iteration, loss), got {self.callback!r}"
            )

    def _check_data(self, data) -> EnsembleData:
        if not isinstance(data, EnsembleData):
            raise InputTypeError(
                "data must be a cfensemble.data.EnsembleData (EnsembleData(R, labels)), "
                f"got {type(data).__name__}"
            )
        if self.n_classifiers is not None and data.n_classifiers != self.n_classifiers:
            raise InvalidInputError(
                f"n_classifiers={self.n_classifiers} but R has {data.n_classifiers} rows "
                "(one per classifier): make them equal"
            )
        return data

    def _check_labels_for_fit(self, data: EnsembleData) -> None:
        if self.aggregator == "mean" and self._rho() == 1.0:
            return
        y = data.labels[data.labeled_idx]
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidInputError(
                "labels must include both classes among labeled instances for the aggregator "
                f"to learn; got {data.n_labeled} labeled instance(s) with classes "
                f"{classes.astype(int).tolist()}"
            )

    def _default_rho(self) -> float:
        """rho when the user leaves it at None (subclasses choose per solver)."""
        return 0.5

    def _rho(self) -> float:
        """The rho in force: the parameter, or the solver's default when it is None."""
        return self._default_rho() if self.rho is None else float(self.rho)

    def _resolve_params(self, data: EnsembleData, C) -> dict:
        """Parameters whose value depends on the data, resolved before the loop.

        Returns a dict with ``latent_dim`` (the rank the loop uses: the integer given, or for
        'auto' the rank chosen from held-out observed cells, :func:`cfensemble.rank.select_rank`)
        and ``rho`` (the parameter, or the solver's default when None).
        """
        return {"latent_dim": self._resolve_latent_dim(data, C), "rho": self._rho()}

    def _resolve_latent_dim(self, data: EnsembleData, C) -> int:
        if not isinstance(self.latent_dim, str):
            return int(self.latent_dim)
        from cfensemble.optimization._rank import select_rank

        seed = self.random_state if isinstance(self.random_state, numbers.Integral) else 0
        cols = np.arange(data.n_instances)
        if cols.size > RANK_MAX_INSTANCES:  # the rank is a property of the rows: subsample
            cols = np.sort(np.random.RandomState(seed).choice(cols, RANK_MAX_INSTANCES, False))
        R = data.R if cols.size == data.n_instances else data.R[:, cols]
        C = C if cols.size == data.n_instances else C[:, cols]
        R, C = np.asarray(R), np.asarray(C)  # a dask R: only the subsample is gathered
        # Rank 1 is left out from 4 classifiers on: it only rescales one consensus direction,
        # so a missing cell filled from it ignores which classifiers agree with which. On the
        # real-data probes it lost to rank 2 by 0.01-0.02 PR-AUC with cells missing at random
        # or by block and won by 0.005 with informative abstention, while held-out error
        # alone picked it most often (benchmarks/results/defaults_probe.md).
        m = R.shape[0]
        candidates = range(2, min(m - 1, 10) + 1) if m >= 4 else None
        sel = select_rank(
            R, C, candidates=candidates, lambda_reg=self.lambda_reg, random_state=seed
        )
        self.rank_candidates_, self.rank_errors_ = sel.candidates, sel.errors
        return sel.rank

    def _warn_full_rank(self, d: int, m: int) -> None:
        if d >= m:
            warn_external(
                f"latent_dim={d} >= n_classifiers={m}: the "
                "factorization is full rank and can reproduce R exactly, so it does not "
                "denoise; choose latent_dim < n_classifiers for a low-rank model"
            )

    # ------------------------------------------------------------------ fitting
    def fit(self, data: EnsembleData, *args):
        """Fit on ``data`` (labeled columns supervise, unlabeled ones shape the factors).

        Parameters
        ----------
        data : EnsembleData with R of shape (n_classifiers, n_instances)

        Returns
        -------
        self
        """
        if args:  # fit(R, y), as a scikit-learn estimator is called
            raise InputTypeError(
                f"fit takes one argument, EnsembleData(R, labels), got {1 + len(args)}: "
                "wrap R and the labels, trainer.fit(EnsembleData(R, labels)) (or use "
                "cfensemble.CFEnsembleClassifier for fit(X, y) on features)"
            )
        self._validate_params()
        data = self._check_data(data)
        self._check_labels_for_fit(data)
        if isinstance(data.observed, np.ndarray):
            empty = np.flatnonzero(~data.observed.any(axis=0))
            if empty.size:
                warn_external(
                    f"{_unscored(empty)}: labeled ones do not train the final aggregator, "
                    "and predict() gives them the labeled base rate"
                )
        rng = check_random_state(self.random_state)
        C = self._fit_confidence(data)
        params = self._resolve_params(data, C)
        self.latent_dim_, self.rho_ = params["latent_dim"], params["rho"]
        self._warn_full_rank(self.latent_dim_, data.n_classifiers)
        self.history_ = {"combined": [], "recon": [], "sup": [], "time": []}
        self._t0 = time.perf_counter()
        self._fit_labels = data.labels
        self._fit(data, C, rng, params)
        self._fit_final_aggregator(data)
        # A lazy (dask) R stays on the cluster while fitting; the fitted model keeps R and
        # C in memory, as it keeps Y_ (transductive predict() reads them).
        self._fit_R = np.asarray(data.R)
        self.C_ = np.asarray(C)
        if hasattr(self, "C_label_aware_"):
            self.C_label_aware_ = np.asarray(self.C_label_aware_)
        self.n_classifiers_ = data.n_classifiers
        self.n_instances_ = data.n_instances
        return self

    def _fit_final_aggregator(self, data: EnsembleData) -> None:
        """'shrinkage' and 'auto': fitted once, after the factors, on the labeled columns only.

        The fit loop keeps a class-weighted logistic aggregator (w_, b_) for L_CF's
        supervised term. 'shrinkage' replaces w_, b_ by weights shrunk toward equal weights
        (``aggregators.fit_shrinkage_logistic``, strength in ``shrinkage_``); 'auto' keeps
        them for L_CF and predicts with ``aggregators.fit_auto_aggregator``'s blend, stored
        as auto_w_, auto_b_ (stacking on logit features), auto_single_, auto_mix_ and the
        per-pattern stacking models auto_patterns_, auto_pattern_w_, auto_pattern_b_.
        """
        if self.aggregator not in ("shrinkage", "auto"):
            return
        lab = data.labeled_idx
        R_L = np.asarray(data.R[:, lab])
        scored = ~np.isnan(R_L).all(axis=0)
        if not scored.all():
            # A labeled column no classifier scored has a reconstruction of zeros (logits
            # of -9.2 for every input): a point of high leverage that says nothing; predict
            # gives such columns the base rate instead.
            lab, R_L = lab[scored], R_L[:, scored]
        Z = aggregator_features(self.X_.T @ self.Y_[:, lab], R_L, self.aggregator_input)
        y = data.labels[lab]
        if self.aggregator == "shrinkage":
            self.w_, self.b_, self.shrinkage_ = fit_shrinkage_logistic(
                Z, y, use_class_weights=self.use_class_weights
            )
            return
        # The patterns of every fitted column (transductive: the unlabeled columns' missing
        # cells, no label).
        auto = fit_auto_aggregator(
            Z,
            y,
            np.isnan(R_L),
            patterns=data.observed_patterns(),
            use_class_weights=self.use_class_weights,
        )
        self.auto_w_, self.auto_b_, self.auto_single_, self.auto_mix_ = auto[:4]
        self.auto_patterns_, self.auto_pattern_w_, self.auto_pattern_b_ = auto[4:]

    def _fit_confidence(self, data: EnsembleData):
        """Fit ``confidence_`` and return the base confidence C (m, n) of ``data``.

        For a lazy R (a dask array, ``cfensemble.distributed.DaskEnsembleData``) the
        strategy learns from the labeled columns only (all it reads) and C stays lazy.
        """
        self.confidence_ = Confidence(self.confidence)
        if isinstance(data.R, np.ndarray):
            if data.C is not None:
                self.confidence_.fit(data.R, data.observed, data.labels)
                return data.C
            return self.confidence_.fit_transform(
                data.R, data.observed, data.labels, self._confidence_dtype()
            )
        lab = data.labeled_idx
        R_L = np.asarray(data.R[:, lab])
        self.confidence_.fit(R_L, ~np.isnan(R_L), data.labels[lab])
        return data.C if data.C is not None else self.confidence_.transform(data.R, data.observed)

    def _confidence_dtype(self):
        """The dtype of the base confidence C this fit builds (C_): float64 unless the
        trainer works in float32 on NumPy arrays (``CFEnsembleTrainer``)."""
        return np.float64

    def _fit(self, data: EnsembleData, C: np.ndarray, rng, params: dict) -> None:
        """The optimizer's loop; sets X_, Y_, w_, b_, n_iter_, converged_."""
        raise NotImplementedError  # pragma: no cover

    def _record(self, iteration: int, value: ObjectiveValue) -> None:
        """Append one iteration to history_, log it and call the user's callback."""
        self.history_["combined"].append(value.total)
        self.history_["recon"].append(value.recon)
        self.history_["sup"].append(value.sup)
        self.history_["time"].append(time.perf_counter() - self._t0)
        if self.verbose:
            logger.info(
                "iter %d  L_CF=%.6g  recon=%.6g  sup=%.6g",
                iteration,
                value.total,
                value.recon,
                value.sup,
            )
        if self.callback is not None:
            self.callback(iteration, value.total)

    # ------------------------------------------------------------------ files
    def save(self, path, *, classifier_names=None):
        """Write the fitted trainer to one file (see :mod:`cfensemble.persistence`).

        Parameters
        ----------
        path : str or path-like, written as given (e.g. ``model.cfe``)
        classifier_names : sequence of str of length n_classifiers, optional

        Returns
        -------
        pathlib.Path
        """
        from cfensemble.persistence import save

        return save(self, path, classifier_names=classifier_names)

    @classmethod
    def load(cls, path):
        """Read a trainer written by :meth:`save`; it must be an instance of ``cls``."""
        from cfensemble.persistence import load

        obj = load(path)
        if not isinstance(obj, cls):
            raise InputTypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
        return obj

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "X_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: call fit(data) first"
            )

    def _fold_in_confidence(self, R: np.ndarray, C_new=None) -> np.ndarray:
        observed = ~np.isnan(R)
        if C_new is not None:
            C_new = check_confidence(C_new, R.shape, "C_new")
            return np.where(observed, C_new, 0.0)
        return self.confidence_.transform(R, observed)

    def fold_in(self, R_new, C_new=None) -> np.ndarray:
        """Instance factors of new columns with X fixed, label-free confidence.

        R_new : array-like of shape (n_classifiers, n_new). Returns ndarray (d, n_new).
        """
        self._check_fitted()
        R = check_probability_matrix(R_new, "R_new")
        m = self.X_.shape[1]
        if R.shape[0] != m:
            hint = (
                f"; it has {m} columns: pass R_new.T if its rows are instances"
                if R.shape[1] == m
                else ""
            )
            raise InvalidInputError(
                f"R_new must have n_classifiers={m} rows (one per classifier), got "
                f"{R.shape[0]}{hint}"
            )
        C = self._fold_in_confidence(R, C_new)
        # n_jobs (CFEnsembleTrainer) sets the kernels' threads here too; each column is
        # solved on its own, so the result does not depend on it.
        n_threads = effective_threads(getattr(self, "n_jobs", None))
        return update_instances(
            self.X_,
            np.nan_to_num(R),
            C,
            self.lambda_reg,
            chunk_size=self.chunk_size,
            n_threads=n_threads,
        )

    def _aggregate(self, R_hat: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Aggregator output for reconstructions R_hat (m, k) of predictions R (m, k)."""
        Z = aggregator_features(R_hat, R, self.aggregator_input)
        if self.aggregator == "mean":
            return predict_mean(Z)
        if self.aggregator == "auto":
            return predict_auto(Z, self._auto_aggregator(), R)
        return predict_weighted(Z, self.w_, self.b_)

    def _auto_aggregator(self) -> AutoAggregator:
        """The fitted 'auto' parts (a model file from before reduced-feature models has no
        patterns: one stacking model serves every column)."""
        parts = (self.auto_w_, self.auto_b_, self.auto_single_, self.auto_mix_)
        if getattr(self, "auto_patterns_", None) is None:
            return AutoAggregator(*parts)
        patterns = np.asarray(self.auto_patterns_, dtype=bool)
        return AutoAggregator(*parts, patterns, self.auto_pattern_w_, self.auto_pattern_b_)

    def reconstruct(self, R_new=None, C_new=None) -> np.ndarray:
        """R_hat = X^T Y for the fitted columns, or for new columns by fold-in; (m, k)."""
        self._check_fitted()
        Y = self.Y_ if R_new is None else self.fold_in(R_new, C_new)
        return self.X_.T @ Y

    def predict(self, R_new=None, C_new=None) -> np.ndarray:
        """Probability that each instance is positive.

        Parameters
        ----------
        R_new : array-like of shape (n_classifiers, n_new), optional
            None: every instance of the fitted data (transductive). Otherwise new columns,
            folded in with X fixed and the fitted confidence strategy (or ``C_new``).
        C_new : array-like of shape (n_classifiers, n_new), optional

        Returns
        -------
        ndarray of shape (n_instances,) or (n_new,)
        """
        self._check_fitted()
        if R_new is None:
            R = self._fit_R
            p = self._aggregate(self.reconstruct(), R)
        else:
            R = check_probability_matrix(R_new, "R_new")
            p = self._aggregate(self.reconstruct(R, C_new), R)
        return self._no_evidence_at_base_rate(p, R)

    def _no_evidence_at_base_rate(self, p: np.ndarray, R: np.ndarray) -> np.ndarray:
        """p (k,) with the instances no classifier scored (R's all-missing columns) set to
        the positive share of the fitted labels, and a warning that counts them.

        Such a column's factor is the regularized solution of no equations, zero, so its
        reconstruction is 0 and every aggregator would read it as a confident negative
        (p ~ 1e-4 with 'auto'). Nothing was observed: the labeled base rate is the honest
        probability.
        """
        empty = np.flatnonzero(np.isnan(R).all(axis=0))
        if empty.size == 0:
            return p
        rate = float(np.nanmean(self._fit_labels))
        warn_external(
            f"{_unscored(empty)}: predicted at the labeled base rate {rate:.4g}; give them at "
            "least one classifier's prediction, or drop them"
        )
        p = np.array(p, dtype=np.float64)
        p[empty] = rate
        return p

    # ------------------------------------------------------------------ objective
    def _factors_for(self, data: EnsembleData) -> np.ndarray:
        """Instance factors at which L_CF is evaluated for ``data``: the fitted Y_ for the
        fitted data, fold-in for any other matrix."""
        if data.R.shape == self._fit_R.shape and np.array_equal(
            data.R, self._fit_R, equal_nan=True
        ):
            return self.Y_
        return self.fold_in(data.R, data.C)

    def combined_loss(self, data: EnsembleData) -> float:
        """Exact L_CF (docs/design.md) at the fitted parameters on ``data``."""
        return self.objective(data).total

    def objective(self, data: EnsembleData) -> ObjectiveValue:
        """L_CF and its parts at the fitted parameters on ``data``."""
        self._check_fitted()
        data = self._check_data(data)
        Y = self._factors_for(data)
        C = (
            data.C
            if data.C is not None
            else self.confidence_.transform(data.R, data.observed, data.labels)
        )
        return cf_objective(
            data.R,
            C,
            data.labels,
            self.X_,
            Y,
            None if self.aggregator == "mean" else self.w_,
            self.b_,
            **{name: getattr(self, name) for name in LOSS_PARAMS if name != "rho"},
            rho=self.rho_,
        )
