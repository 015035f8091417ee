"""Baselines over the same prediction matrix R: mean, stacking, a gradient-boosting stacker
that takes missing cells natively, best single classifier.

Each function takes R of shape (m, n) (NaN = missing) and labels of shape (n,) (NaN =
unlabeled) and returns probabilities for every instance, shape (n,). Each fits on the
labeled columns only, so scoring the unlabeled columns is inductive (the same numbers a
model fitted on the labeled columns gives to new columns).

``PoolBaselineClassifier`` is the same baselines as scikit-learn estimators over the same
pool of base classifiers as ``CFEnsembleClassifier``.
"""

from __future__ import annotations

import numpy as np

from cfensemble._params import store_params
from cfensemble._validation import check_option
from cfensemble.aggregators import fit_weighted_logistic, mean_of_observed, predict_weighted
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights


def mean_aggregation(R: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Mean of each instance's observed predictions (labels unused).

    Parameters
    ----------
    R : ndarray of shape (n_classifiers, n_instances)
        NaN where a prediction is missing.
    labels : ignored

    Returns
    -------
    ndarray of shape (n_instances,)

    Examples
    --------
    >>> import numpy as np
    >>> from cfensemble.baselines import mean_aggregation
    >>> mean_aggregation(np.array([[0.2, 0.9], [0.4, np.nan]]))
    array([0.3, 0.9])
    """
    return mean_of_observed(R)


def _impute_column_means(R: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # Each classifier's missing cells get its mean observed prediction on labeled columns.
    lab = ~np.isnan(labels)
    fill = np.nanmean(np.where(lab[None, :], R, np.nan), axis=1)
    fill = np.where(np.isnan(fill), np.nanmean(R, axis=1), fill)
    fill = np.where(np.isnan(fill), 0.5, fill)
    return np.where(np.isnan(R), fill[:, None], R)


def stacking(
    R: np.ndarray, labels: np.ndarray, *, l2: float = 1e-3, use_class_weights: bool = True
) -> np.ndarray:
    """Class-weighted logistic regression on the labeled columns of R (mean-imputed).

    Each classifier's missing cells get its mean observed prediction on labeled columns.

    Parameters
    ----------
    R : ndarray of shape (n_classifiers, n_instances)
    labels : ndarray of shape (n_instances,)
        0, 1, or NaN for unlabeled columns (predicted, not fitted on).
    l2 : float, default=1e-3
        L2 penalty on the weights.
    use_class_weights : bool, default=True
        Balanced class weights.

    Returns
    -------
    ndarray of shape (n_instances,)
        The probability of the positive class for every column.

    Examples
    --------
    >>> from cfensemble.baselines import stacking
    >>> from cfensemble.metrics import pr_auc
    >>> from cfensemble.synthetic import make_ensemble
    >>> s = make_ensemble(n_classifiers=6, n_instances=400, random_state=0)
    >>> p = stacking(s.R, s.labels)
    >>> p.shape
    (400,)
    >>> bool(pr_auc(s.y_true[s.test_idx], p[s.test_idx]) > s.y_true.mean())
    True
    """
    lab = ~np.isnan(labels)
    Z = _impute_column_means(R, labels)
    y = labels[lab]
    w, b = fit_weighted_logistic(Z[:, lab], y, class_weights(y, use_class_weights), l2=l2)
    return predict_weighted(Z, w, b)


def best_single(R: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The classifier with the best PR-AUC on labeled instances (missing cells: its mean)."""
    lab = ~np.isnan(labels)
    Z = _impute_column_means(R, labels)
    scores = [pr_auc(labels[lab], Z[u, lab]) for u in range(R.shape[0])]
    return Z[int(np.argmax(scores))].copy()


def hgb_stacking(
    R: np.ndarray,
    labels: np.ndarray,
    *,
    max_iter: int = 100,
    learning_rate: float = 0.05,
    max_leaf_nodes: int = 15,
    min_samples_leaf: int = 10,
    random_state=0,
) -> np.ndarray:
    """Gradient-boosting stacker on the labeled columns of R, NaN cells taken natively.

    ``HistGradientBoostingClassifier`` learns, at every split, which side missing values
    go to, so no imputation is needed. Class-balanced sample weights (as in ``stacking``).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    lab = ~np.isnan(labels)
    y = labels[lab].astype(np.int64)
    model = HistGradientBoostingClassifier(
        max_iter=max_iter,
        learning_rate=learning_rate,
        max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min(min_samples_leaf, max(1, int(lab.sum()) // 4)),
        class_weight="balanced",
        early_stopping=False,
        random_state=random_state,
    )
    model.fit(R[:, lab].T, y)
    return model.predict_proba(R.T)[:, list(model.classes_).index(1)]


BASELINES = {
    "mean": mean_aggregation,
    "stacking": stacking,
    "hgb_stacking": hgb_stacking,
    "best_single": best_single,
}


def _pool_baseline_class():
    """Build ``PoolBaselineClassifier`` on first use: importing this module must not import
    ``cfensemble.estimator`` (which the benchmark and evaluation layers import from here)."""
    from cfensemble.estimator import _PoolClassifier

    class PoolBaselineClassifier(_PoolClassifier):
        """A baseline of ``BASELINES`` as a scikit-learn classifier over a base pool.

        Builds R exactly as ``CFEnsembleClassifier`` does (same pool, same ``cv``, same column
        subsets and missing cells), then applies ``method`` instead of CF-Ensemble.

        Parameters
        ----------
        estimators : list of (name, estimator) or None
            None gives ``cfensemble.estimator.default_estimators()``.
        method : {'mean', 'stacking', 'hgb_stacking', 'best_single'}, default='stacking'
        cv : int, CV splitter or 'prefit', default=5
        columns : mapping {estimator name: feature indices or boolean mask}, optional
        n_jobs : int or None
        random_state : int, RandomState or None

        Attributes
        ----------
        classes_, n_features_in_, estimators_, named_estimators_, R_
            As in ``CFEnsembleClassifier``.
        """

        def __init__(
            self,
            estimators=None,
            *,
            method="stacking",
            cv=5,
            columns=None,
            n_jobs=None,
            random_state=None,
        ):
            store_params(self, locals())

        def fit(self, X, y):
            check_option(self.method, "method", tuple(BASELINES))
            return super().fit(X, y)

        def _fit_final(self, R, labels) -> None:
            # Every baseline fits on the labeled columns only; keep those to score new columns.
            lab = ~np.isnan(labels)
            self._R_fit, self._labels_fit = R[:, lab], labels[lab]

        def _predict_final(self, R_new) -> np.ndarray:
            R = np.hstack([self._R_fit, R_new])
            labels = np.r_[self._labels_fit, np.full(R_new.shape[1], np.nan)]
            return BASELINES[self.method](R, labels)[self._R_fit.shape[1] :]

    # Picklable under its public name (pickle resolves it through the module __getattr__).
    PoolBaselineClassifier.__qualname__ = "PoolBaselineClassifier"
    PoolBaselineClassifier.__module__ = __name__
    return PoolBaselineClassifier


_LAZY: dict = {}


def __getattr__(name):
    if name == "PoolBaselineClassifier":
        if name not in _LAZY:
            _LAZY[name] = _pool_baseline_class()
        return _LAZY[name]
    raise AttributeError(f"module 'cfensemble.baselines' has no attribute {name!r}")
