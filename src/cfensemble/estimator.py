"""CFEnsembleClassifier: a scikit-learn meta-estimator over base classifiers.

The pipeline (like ``sklearn.ensemble.StackingClassifier``, with CF-Ensemble as the final
stage): out-of-fold ``predict_proba`` of every base estimator builds the probability matrix
R (one row per estimator, one column per sample); the bases are refitted on all labeled
rows; a CF-Ensemble trainer is fitted on ``EnsembleData(R, labels)`` with unlabeled rows
(``y == -1``) as unlabeled columns. New rows: base predictions -> fold-in -> aggregator.

A base estimator may see only a subset of the features (``columns``), and rows where
those features are all missing get a missing cell in R instead of an error: missing base
predictions are what CF-Ensemble handles natively.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
from collections.abc import Mapping

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from cfensemble._params import store_params
from cfensemble._registry import SOLVERS
from cfensemble._validation import check_option
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InputTypeError, InvalidInputError, InvalidParameterError
from cfensemble.factory import make_trainer, resolve_latent_dim

__all__ = [
    "CFEnsembleClassifier",
    "default_estimators",
    "make_trainer",
    "out_of_fold_predictions",
    "resolve_latent_dim",
]

logger = logging.getLogger("cfensemble")

UNLABELED = -1
#: CFEnsembleClassifier parameters passed to the trainer factory under the same name.
_TRAINER_PARAMS = (
    "solver",
    "latent_dim",
    "rho",
    "lambda_reg",
    "confidence",
    "max_iter",
    "aggregator",
    "aggregator_input",
    "aggregator_l2",
    "use_class_weights",
    "random_state",
    "verbose",
)


# ---------------------------------------------------------------------------- base pool
def default_estimators(random_state=None) -> list[tuple[str, BaseEstimator]]:
    """A small, diverse and fast pool of scikit-learn classifiers.

    Linear (logistic regression), naive Bayes, k-nearest neighbours, a shallow tree, a random
    forest, extremely randomized trees, histogram gradient boosting and a small MLP; the
    models that need scaled inputs get a ``StandardScaler`` in front.

    Parameters
    ----------
    random_state : int, RandomState or None
        Seeds the randomized members (one integer drawn per member).

    Returns
    -------
    list of (name, estimator), unfitted
    """
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=5)
    return [
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))),
        ("naive_bayes", GaussianNB()),
        ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))),
        ("tree", DecisionTreeClassifier(max_depth=4, min_samples_leaf=5, random_state=seeds[0])),
        (
            "random_forest",
            RandomForestClassifier(n_estimators=60, min_samples_leaf=2, random_state=seeds[1]),
        ),
        (
            "extra_trees",
            ExtraTreesClassifier(n_estimators=60, min_samples_leaf=2, random_state=seeds[2]),
        ),
        (
            "hist_gb",
            HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, random_state=seeds[3]),
        ),
        (
            "mlp",
            make_pipeline(
                StandardScaler(),
                # lbfgs: converges in a fraction of adam's time on the small data sets
                # the pool is meant for. It needed 819 iterations on breast cancer and
                # 1,140 on Pima (0.4-0.6 s): 500 left a ConvergenceWarning per fold.
                MLPClassifier(
                    hidden_layer_sizes=(32,),
                    solver="lbfgs",
                    alpha=1e-1,
                    max_iter=2000,
                    random_state=seeds[4],
                ),
            ),
        ),
    ]


def _check_estimators(estimators) -> list[tuple[str, BaseEstimator]]:
    if isinstance(estimators, (str, bytes)) or not hasattr(estimators, "__iter__"):
        raise InputTypeError(
            f"estimators must be a list of (name, estimator) pairs, got {type(estimators)!r}"
        )
    pairs = list(estimators)
    if len(pairs) < 2:
        raise InvalidParameterError(
            f"estimators must hold at least 2 (name, estimator) pairs, got {len(pairs)}"
        )
    names = []
    for pair in pairs:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
            raise InputTypeError(
                f"each entry of estimators must be (name: str, estimator), got {pair!r}"
            )
        if not hasattr(pair[1], "predict_proba"):
            raise InputTypeError(
                f"estimator {pair[0]!r} has no predict_proba: every base estimator must "
                "output probabilities"
            )
        names.append(pair[0])
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"estimator names must be unique, got {names}")
    return pairs


def _check_columns(columns, names, n_features, feature_names=None) -> dict[str, np.ndarray | None]:
    """Map every estimator name to its feature indices (None = all features).

    ``feature_names``: X's column names (a DataFrame's, as ``feature_names_in_``), which
    ``columns`` may use instead of indices.
    """
    out: dict[str, np.ndarray | None] = dict.fromkeys(names)
    if columns is None:
        return out
    if not isinstance(columns, Mapping):
        raise InputTypeError(
            "columns must be a mapping {estimator name: feature indices or boolean mask}, "
            f"got {type(columns).__name__}"
        )
    unknown = set(columns) - set(names)
    if unknown:
        raise InvalidParameterError(
            f"columns names estimators that are not in estimators: {sorted(unknown)}; "
            f"known names are {list(names)}"
        )
    for name, cols in columns.items():
        idx = np.asarray(cols)
        if idx.dtype.kind in "UO" and idx.ndim == 1 and idx.size:
            idx = _feature_indices(name, idx, feature_names)
        if idx.dtype == bool:
            if idx.shape != (n_features,):
                raise InvalidParameterError(
                    f"columns[{name!r}] is a boolean mask of shape {idx.shape}; expected "
                    f"({n_features},)"
                )
            idx = np.flatnonzero(idx)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidParameterError(
                f"columns[{name!r}] must be a non-empty list of integer feature indices, of "
                f"feature names (with a DataFrame X) or a boolean mask, got {cols!r}"
            )
        if idx.min() < -n_features or idx.max() >= n_features:
            raise InvalidParameterError(
                f"columns[{name!r}] holds indices outside [0, {n_features}): {idx.tolist()}"
            )
        out[name] = idx % n_features
    return out


def _feature_indices(name, cols: np.ndarray, feature_names) -> np.ndarray:
    """Indices of the named features of ``columns[name]``, or an error saying what is wrong."""
    if feature_names is None:
        raise InvalidParameterError(
            f"columns[{name!r}] names features {cols.tolist()[:5]}, but X has no column names: "
            "fit on a pandas DataFrame with those columns, or give integer indices"
        )
    position = {str(f): j for j, f in enumerate(feature_names)}
    unknown = [c for c in cols.tolist() if str(c) not in position]
    if unknown:
        raise InvalidParameterError(
            f"columns[{name!r}] names features that X does not have: {unknown[:5]}; its "
            f"columns are {list(feature_names)[:10]}{' ...' if len(feature_names) > 10 else ''}"
        )
    return np.array([position[str(c)] for c in cols.tolist()], dtype=np.intp)


def _view(X, cols):
    """The features of one estimator and the rows it can score (not all NaN there)."""
    Xu = X if cols is None else X[:, cols]
    if Xu.dtype.kind == "f":
        rows = ~np.isnan(Xu).all(axis=1)
    else:
        rows = np.ones(Xu.shape[0], dtype=bool)
    return Xu, rows


def _positive_proba(estimator, X) -> np.ndarray:
    """Probability of the positive class (label 1 of the 0/1-encoded target)."""
    proba = estimator.predict_proba(X)
    classes = list(getattr(estimator, "classes_", [0, 1]))
    if 1 not in classes:
        return np.zeros(X.shape[0])
    return np.asarray(proba[:, classes.index(1)], dtype=np.float64)


def _make_cv(cv, random_state):
    if isinstance(cv, numbers.Integral):
        if cv < 2:
            raise InvalidParameterError(
                f"cv must be an int >= 2, a CV splitter or 'prefit', got {cv}"
            )
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        return StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    if hasattr(cv, "split"):
        return cv
    raise InvalidParameterError(f"cv must be an int >= 2, a CV splitter or 'prefit', got {cv!r}")


def _encode_binary(y) -> tuple[np.ndarray, np.ndarray]:
    """classes (2,), and y encoded 0/1 (1 = classes[1], the positive class)."""
    y = column_or_1d(y, warn=True)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary":
        raise InvalidInputError(
            f"Only binary classification is supported. The type of the target is {y_type}."
        )
    classes, enc = np.unique(y, return_inverse=True)
    if classes.size != 2:
        raise InvalidInputError(
            "Only binary classification is supported and both classes must be present: "
            f"got class(es) {classes.tolist()}"
        )
    return classes, enc.astype(np.int64)


def out_of_fold_predictions(
    estimators, X, y, *, cv=5, columns=None, random_state=None, n_jobs=None
) -> np.ndarray:
    """The probability matrix R from out-of-fold ``predict_proba`` of every estimator.

    Parameters
    ----------
    estimators : list of (name, estimator)
        Unfitted estimators with ``predict_proba`` (cloned, never modified).
    X : ndarray of shape (n_samples, n_features)
        NaN allowed where an estimator's ``columns`` are all missing: that row gets a
        missing cell for that estimator.
    y : array-like of shape (n_samples,)
        Binary target; the positive class is the larger label (``np.unique(y)[1]``).
    cv : int or CV splitter, default=5
        Integers give ``StratifiedKFold(cv, shuffle=True)`` seeded by ``random_state``.
    columns : mapping {name: feature indices, names or boolean mask}, optional
        Names need X to be a pandas DataFrame.
    random_state : int, RandomState or None
    n_jobs : int or None
        Passed to ``cross_val_predict``.

    Returns
    -------
    R : ndarray of shape (n_estimators, n_samples)
        Positive-class probabilities; NaN where an estimator cannot score a row.
    """
    pairs = _check_estimators(estimators)
    feature_names = getattr(X, "columns", None)
    X = np.asarray(X)
    if X.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    _, y01 = _encode_binary(y)
    if y01.shape[0] != X.shape[0]:
        raise InvalidInputError(f"X has {X.shape[0]} rows but y has {y01.shape[0]} entries")
    cols = _check_columns(columns, [n for n, _ in pairs], X.shape[1], feature_names)
    splitter = _make_cv(cv, random_state)
    R = np.full((len(pairs), X.shape[0]), np.nan)
    for u, (name, est) in enumerate(pairs):
        Xu, rows = _view(X, cols[name])
        yu = y01[rows]
        if np.unique(yu).size < 2:
            raise InvalidInputError(
                f"estimator {name!r} can score {rows.sum()} row(s) with a single class: it "
                "needs both classes among the rows where its columns are not all missing"
            )
        proba = cross_val_predict(
            clone(est), Xu[rows], yu, cv=splitter, method="predict_proba", n_jobs=n_jobs
        )
        R[u, rows] = proba[:, 1]
    return np.clip(R, 0.0, 1.0)


# ---------------------------------------------------------------------------- estimators
class _PoolClassifier(ClassifierMixin, _BaseComposition):
    """What CF-Ensemble and the pooled baselines share: the base pool and R.

    Parameters are nested like ``StackingClassifier``'s: with ``estimators`` given,
    ``get_params(deep=True)`` lists every base estimator by name and its parameters as
    ``<name>__<param>``, and ``set_params`` sets them (so a grid search can tune them) or
    replaces a base estimator by name.

    Subclasses implement ``_fit_final(R, labels)`` and ``_predict_final(R_new) -> (k,)``.
    """

    def get_params(self, deep=True):
        """Parameters of this estimator and, with ``deep``, of its base estimators.

        Parameters
        ----------
        deep : bool, default=True

        Returns
        -------
        dict
        """
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, base estimators' ones as ``<name>__<param>``.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self
        """
        self._set_params("estimators", **params)
        return self

    def _pool(self):
        if self.estimators is None:
            return default_estimators(self.random_state)
        return _check_estimators(self.estimators)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self.columns is not None
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y):
        """Build R from the base estimators and fit the final stage.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Binary target; -1 marks unlabeled rows (used transductively: their base
            predictions enter R as unlabeled columns).

        Returns
        -------
        self
        """
        y_raw = np.asarray(y)
        if y_raw.dtype.kind == "f" and np.isnan(y_raw).any():
            raise InvalidInputError(
                f"y holds NaN in {int(np.isnan(y_raw).sum())} row(s); this estimator marks "
                "unlabeled rows with -1 (scikit-learn's semi-supervised convention), not NaN: "
                "pass np.where(np.isnan(y), -1, y)"
            )
        with _nan_features_hint(self.columns):
            X, y = validate_data(
                self,
                X,
                y,
                ensure_all_finite="allow-nan" if self.columns is not None else True,
                ensure_min_samples=2,
                y_numeric=False,
            )
        y = column_or_1d(y, warn=True)
        unlabeled = _unlabeled_mask(y)
        if unlabeled.all():
            raise InvalidInputError(
                "y marks every row unlabeled (-1): at least both classes needed"
            )
        if unlabeled.any() and np.unique(y[~unlabeled]).size < 2:
            raise InvalidInputError(
                f"y holds -1 in {int(unlabeled.sum())} row(s), which this estimator reads as "
                "'unlabeled' (semi-supervised convention); the labeled rows then hold only "
                f"class(es) {np.unique(y[~unlabeled]).tolist()}. If -1 is a class (labels "
                "coded -1/+1), recode y, e.g. as 0/1"
            )
        self.classes_, y01 = _encode_binary(y[~unlabeled])
        pairs = self._pool()
        names = [n for n, _ in pairs]
        self._columns = _check_columns(
            self.columns, names, X.shape[1], getattr(self, "feature_names_in_", None)
        )
        lab = np.flatnonzero(~unlabeled)
        m, n = len(pairs), X.shape[0]
        R = np.full((m, n), np.nan)
        if isinstance(self.cv, str) and self.cv == "prefit":
            for name, est in pairs:
                check_is_fitted(est, msg=f"cv='prefit' but estimator {name!r} is not fitted")
            self.estimators_ = [est for _, est in pairs]
        else:
            if isinstance(self.cv, str):
                raise InvalidParameterError(
                    f"cv must be an int >= 2, a CV splitter or 'prefit', got {self.cv!r}"
                )
            R[:, lab] = out_of_fold_predictions(
                pairs,
                X[lab],
                y01,
                cv=self.cv,
                columns={k: v for k, v in self._columns.items() if v is not None},
                random_state=self.random_state,
                n_jobs=self.n_jobs,
            )
            self.estimators_ = []
            for name, est in pairs:
                Xu, rows = _view(X[lab], self._columns[name])
                self.estimators_.append(clone(est).fit(Xu[rows], y01[rows]))
        rest = np.arange(n) if isinstance(self.cv, str) else np.flatnonzero(unlabeled)
        if rest.size:
            R[:, rest] = self._base_predictions(X[rest])
        labels = np.full(n, np.nan)
        labels[lab] = y01
        self.named_estimators_ = dict(zip(names, self.estimators_, strict=True))
        self.R_ = R
        self._fit_final(R, labels)
        return self

    def _base_predictions(self, X) -> np.ndarray:
        """R_new of shape (n_estimators, n_rows); NaN where an estimator cannot score."""
        names = list(self._columns)
        R = np.full((len(names), X.shape[0]), np.nan)
        for u, (name, est) in enumerate(zip(names, self.estimators_, strict=True)):
            Xu, rows = _view(X, self._columns[name])
            if rows.any():
                R[u, rows] = _positive_proba(est, Xu[rows])
        return np.clip(R, 0.0, 1.0)

    def _check_new_X(self, X) -> np.ndarray:
        """X of new rows, checked against the fitted pool (NaN allowed with ``columns``)."""
        check_is_fitted(self, "estimators_")
        nan = "allow-nan" if self.columns is not None else True
        with _nan_features_hint(self.columns):
            return validate_data(self, X, reset=False, ensure_all_finite=nan)

    def base_predictions(self, X) -> np.ndarray:
        """Base predictions of X, shape (n_samples, n_estimators) (NaN: cannot score)."""
        return self._base_predictions(self._check_new_X(X)).T

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, 2), columns ordered as ``classes_``."""
        X = self._check_new_X(X)
        p = np.clip(self._predict_final(self._base_predictions(X)), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the positive class ``classes_[1]``, shape (n_samples,)."""
        p = np.clip(self.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)

    def predict(self, X) -> np.ndarray:
        """Predicted class labels, shape (n_samples,) (positive where p >= 0.5)."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]


@contextlib.contextmanager
def _nan_features_hint(columns):
    """scikit-learn's "Input X contains NaN" error, told how this estimator takes missing
    features (feature views), when ``columns`` is not set."""
    try:
        yield
    except ValueError as exc:
        if columns is not None or "contains NaN" not in str(exc):
            raise
        raise InvalidInputError(
            "X contains NaN. CFEnsembleClassifier takes missing features through feature "
            "views: pass columns={estimator name: its feature columns}, and an estimator "
            "abstains on the rows where all of its view is NaN (a missing modality: a missing "
            "cell of R); or impute X first"
        ) from exc


def _unlabeled_mask(y) -> np.ndarray:
    if y.dtype.kind in "iuf":
        return y == UNLABELED
    if y.dtype.kind == "O":
        return np.array([isinstance(v, numbers.Number) and v == UNLABELED for v in y])
    return np.zeros(y.shape[0], dtype=bool)


class CFEnsembleClassifier(_PoolClassifier):
    """CF-Ensemble over a pool of scikit-learn classifiers (a StackingClassifier alternative).

    Parameters
    ----------
    estimators : list of (name, estimator) or None, default=None
        Base classifiers with ``predict_proba``. None gives ``default_estimators()``.
    solver : {'als', 'varpro', 'pytorch'}, default='als'
        The CF-Ensemble optimizer (see ``cfensemble.optimization``). With the default rank
        and aggregator the three tie on the real-data benchmark
        (benchmarks/results/real_data.md: 18 settings, 180 paired folds per regime): equal
        on complete R, within 0.006 PR-AUC of each other with missing cells.
    cv : int, CV splitter or 'prefit', default=5
        How R's labeled columns are built: out-of-fold ``predict_proba``. 'prefit' takes
        already fitted estimators and uses their predictions on every row as R.
    columns : mapping {estimator name: feature indices, names or boolean mask}, optional
        The features each estimator sees (names: the columns of a pandas DataFrame X).
        Rows where those features are all NaN get a missing cell in R for that estimator
        (NaN inputs are then accepted).
    latent_dim : int or 'auto', default='auto'
        Rank d of the factorization; 'auto' chooses it from the data without labels
        (``cfensemble.rank.select_rank``: held-out observed cells, one-standard-error rule,
        never above n_estimators - 1). The trainer's ``latent_dim_`` is the rank used.
    rho : float in [0, 1] or None, default=None
        Weight of reconstruction against supervision; None: the trainer's default for the
        solver (1.0 for 'als', 'varpro' and 'pytorch', see ``CFEnsembleTrainer``).
    lambda_reg : float, default=0.01
    confidence : str or callable, default='uniform'
        Base confidence strategy (``cfensemble.confidence``). 'uniform' beat 'certainty'
        with ALS in an earlier run of the real-data benchmark (rank m // 3, 'weighted'
        aggregator; paired over 180 folds: 'certainty' -0.0026 PR-AUC, p=0.031, on complete
        R; -0.0048, p=0.009, with 30% of the cells missing).
    max_iter : int, default=100
        ALS sweeps, L-BFGS iterations (varpro) or epochs (pytorch).
    aggregator : {'auto', 'weighted', 'shrinkage', 'mean'}, default='auto'
        How the filled predictions are combined (see ``CFEnsembleTrainer``).
    aggregator_input : {'filled', 'reconstruction', 'both'}, default='filled'
        What the aggregator sees: the observed predictions with missing cells filled from
        R_hat, R_hat alone, or both side by side (see ``CFEnsembleTrainer``, whose default
        this matches). Real-data benchmark, ALS, paired over 180 folds: 'filled' against
        R_hat alone -0.0025 (p=0.41) on complete R, where it equals stacking exactly, and
        +0.0002 (p=0.12) with 30% missing cells, where it beats stacking by +0.011
        (p=0.011); on the synthetic benchmark it beats R_hat alone by ~0.04 PR-AUC.
    aggregator_l2 : float, default=1e-3
    use_class_weights : bool, default=True
    trainer_params : dict, optional
        Further keyword arguments for the trainer (e.g. ``{'lr': 0.05}`` for pytorch,
        ``{'init': 'random'}`` for the earlier start).
    n_jobs : int or None
        Parallel jobs of ``cross_val_predict``, and threads of the ALS/varpro kernels
        (``CFEnsembleTrainer(n_jobs=...)``) or of torch (``solver='pytorch'``, where None
        leaves torch's own setting); scikit-learn's convention (None: 1 unless in a joblib
        context, -1: every core).
    random_state : int, RandomState or None
    verbose : bool, default=False

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    n_features_in_ : int
    estimators_ : list of fitted base estimators (refitted on all labeled rows)
    named_estimators_ : dict name -> fitted estimator
    R_ : ndarray of shape (n_estimators, n_samples), the matrix the trainer was fitted on
    trainer_ : the fitted CF-Ensemble trainer
    n_iter_ : int, the trainer's iterations (sweeps, L-BFGS iterations or epochs); a fit
        that stops at ``max_iter`` gives no ConvergenceWarning here (a grid search fits
        hundreds): ``trainer_.converged_`` says whether it converged, and the log (logger
        "cfensemble", INFO) notes it

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from cfensemble import CFEnsembleClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = CFEnsembleClassifier(
    ...     [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(random_state=0)),
    ...      ("lr", LogisticRegression(max_iter=5000))], cv=3, random_state=0)
    >>> clf.fit(X, y).predict_proba(X[:3]).shape
    (3, 2)
    >>> clf.R_.shape                  # out-of-fold probabilities, one row per estimator
    (3, 569)

    Base estimators' parameters are nested as ``<name>__<param>`` (``GridSearchCV`` tunes
    them beside the trainer's):

    >>> clf.set_params(tree__max_depth=3, rho=0.9).get_params()["tree__max_depth"]
    3
    """

    def __init__(
        self,
        estimators=None,
        *,
        solver="als",
        cv=5,
        columns=None,
        latent_dim="auto",
        rho=None,
        lambda_reg=0.01,
        confidence="uniform",
        max_iter=100,
        aggregator="auto",
        aggregator_input="filled",
        aggregator_l2=1e-3,
        use_class_weights=True,
        trainer_params=None,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        store_params(self, locals())

    def _make_trainer(self, m: int):
        params = {name: getattr(self, name) for name in _TRAINER_PARAMS}
        extra = self.trainer_params or {}
        if "n_jobs" not in extra:
            params["n_jobs"] = self.n_jobs  # threads of the ALS/varpro kernels, or torch's
        return make_trainer(m, **params, **extra)

    def fit(self, X, y):
        # Validate the cheap parameters before the (expensive) base pool is fitted.
        check_option(self.solver, "solver", tuple(SOLVERS))
        if not isinstance(self.latent_dim, str):
            resolve_latent_dim(self.latent_dim, 2)
        return super().fit(X, y)

    fit.__doc__ = _PoolClassifier.fit.__doc__

    def _fit_final(self, R, labels) -> None:
        import warnings

        self.trainer_ = self._make_trainer(R.shape[0])
        with warnings.catch_warnings():
            # A few unconverged L-BFGS/ALS steps on a small R are not worth a user warning
            # per fit (grid searches fit hundreds); the trainer records converged_.
            from sklearn.exceptions import ConvergenceWarning

            warnings.simplefilter("ignore", ConvergenceWarning)
            self.trainer_.fit(EnsembleData(R, labels))
        self.n_iter_ = int(getattr(self.trainer_, "n_iter_", self.max_iter))
        if not getattr(self.trainer_, "converged_", True):
            logger.info("the %s trainer stopped at max_iter=%d", self.solver, self.max_iter)

    def _predict_final(self, R_new) -> np.ndarray:
        return self.trainer_.predict(R_new)
