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
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state

from cfensemble._validation import (
    check_confidence,
    check_option,
    check_probability_matrix,
    check_scalar,
    warn_external,
)
from cfensemble.aggregators import predict_mean, predict_weighted
from cfensemble.confidence import Confidence
from cfensemble.data import EnsembleData
from cfensemble.objective import (
    AGGREGATOR_INPUTS,
    ObjectiveValue,
    aggregator_features,
    cf_objective,
)
from cfensemble.optimization._als import update_instances

logger = logging.getLogger("cfensemble")

AGGREGATORS = ("weighted", "mean")
#: The trainer parameters that define L_CF (keywords of ``objective.cf_objective``).
LOSS_PARAMS = (
    "rho",
    "lambda_reg",
    "use_class_weights",
    "focal_gamma",
    "aggregator_l2",
    "aggregator_input",
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
        check_scalar(self.latent_dim, "latent_dim", kind=numbers.Integral, low=1)
        check_scalar(self.rho, "rho", low=0.0, high=1.0)
        check_scalar(self.lambda_reg, "lambda_reg", low=0.0)
        check_scalar(self.aggregator_l2, "aggregator_l2", low=0.0)
        check_scalar(self.focal_gamma, "focal_gamma", low=0.0)
        check_scalar(self.chunk_size, "chunk_size", kind=numbers.Integral, low=1)
        check_option(self.aggregator, "aggregator", AGGREGATORS)
        check_option(self.aggregator_input, "aggregator_input", AGGREGATOR_INPUTS)
        Confidence(self.confidence)  # raises on an unknown strategy
        if self.callback is not None and not callable(self.callback):
            raise TypeError(f"callback must be callable(iteration, loss), got {self.callback!r}")

    def _check_data(self, data) -> EnsembleData:
        if not isinstance(data, EnsembleData):
            raise TypeError(
                "data must be a cfensemble.data.EnsembleData (EnsembleData(R, labels)), "
                f"got {type(data).__name__}"
            )
        if self.n_classifiers is not None and data.n_classifiers != self.n_classifiers:
            raise ValueError(
                f"n_classifiers={self.n_classifiers} but R has {data.n_classifiers} rows "
                "(one per classifier): make them equal"
            )
        return data

    def _check_labels_for_fit(self, data: EnsembleData) -> None:
        if self.aggregator == "mean" and self.rho == 1.0:
            return
        y = data.labels[data.labeled_idx]
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(
                "labels must include both classes among labeled instances for the aggregator "
                f"to learn; got {data.n_labeled} labeled instance(s) with classes "
                f"{classes.astype(int).tolist()}"
            )

    def _resolve_params(self, data: EnsembleData) -> dict:
        """Parameters whose value depends on the data, resolved before the loop.

        Returns a dict with at least ``latent_dim`` (the rank the loop uses). The one place
        where a data-dependent choice (a rank picked from the data, say) belongs.
        """
        return {"latent_dim": int(self.latent_dim)}

    def _warn_full_rank(self, d: int, m: int) -> None:
        if d >= m:
            warn_external(
                f"latent_dim={d} >= n_classifiers={m}: the "
                "factorization is full rank and can reproduce R exactly, so it does not "
                "denoise; choose latent_dim < n_classifiers for a low-rank model"
            )

    # ------------------------------------------------------------------ fitting
    def fit(self, data: EnsembleData):
        """Fit on ``data`` (labeled columns supervise, unlabeled ones shape the factors).

        Parameters
        ----------
        data : EnsembleData with R of shape (n_classifiers, n_instances)

        Returns
        -------
        self
        """
        self._validate_params()
        data = self._check_data(data)
        self._check_labels_for_fit(data)
        params = self._resolve_params(data)
        self._warn_full_rank(params["latent_dim"], data.n_classifiers)
        rng = check_random_state(self.random_state)
        C = self._fit_confidence(data)
        self.history_ = {"combined": [], "recon": [], "sup": [], "time": []}
        self._t0 = time.perf_counter()
        self._fit_labels = data.labels
        self._fit(data, C, rng, params)
        # A lazy (dask) R stays on the cluster while fitting; the fitted model keeps R and
        # C in memory, as it keeps Y_ (transductive predict() reads them).
        self._fit_R = np.asarray(data.R)
        self.C_ = np.asarray(C)
        if hasattr(self, "C_label_aware_"):
            self.C_label_aware_ = np.asarray(self.C_label_aware_)
        self.n_classifiers_ = data.n_classifiers
        self.n_instances_ = data.n_instances
        return self

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
            return self.confidence_.fit_transform(data.R, data.observed, data.labels)
        lab = data.labeled_idx
        R_L = np.asarray(data.R[:, lab])
        self.confidence_.fit(R_L, ~np.isnan(R_L), data.labels[lab])
        return data.C if data.C is not None else self.confidence_.transform(data.R, data.observed)

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
            raise TypeError(f"{path} holds a {type(obj).__name__}, not a {cls.__name__}")
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
            raise ValueError(
                f"R_new must have n_classifiers={m} rows (one per classifier), got {R.shape[0]}"
            )
        C = self._fold_in_confidence(R, C_new)
        return update_instances(
            self.X_, np.nan_to_num(R), C, self.lambda_reg, chunk_size=self.chunk_size
        )

    def _aggregate(self, R_hat: np.ndarray, R: np.ndarray) -> np.ndarray:
        """Aggregator output for reconstructions R_hat (m, k) of predictions R (m, k)."""
        Z = aggregator_features(R_hat, R, self.aggregator_input)
        if self.aggregator == "mean":
            return predict_mean(Z)
        return predict_weighted(Z, self.w_, self.b_)

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
            return self._aggregate(self.reconstruct(), self._fit_R)
        R = check_probability_matrix(R_new, "R_new")
        return self._aggregate(self.reconstruct(R, C_new), R)

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
            **{name: getattr(self, name) for name in LOSS_PARAMS},
        )
