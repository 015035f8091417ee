"""Baselines over the same prediction matrix R: mean, stacking, best single classifier.

Each function takes R of shape (m, n) (NaN = missing) and labels of shape (n,) (NaN =
unlabeled) and returns probabilities for every instance, shape (n,).
"""

from __future__ import annotations

import numpy as np

from cfensemble.aggregators import fit_weighted_logistic, mean_of_observed, predict_weighted
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights


def mean_aggregation(R: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Mean of each instance's observed predictions (labels unused)."""
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
    """Class-weighted logistic regression on the labeled columns of R (mean-imputed)."""
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


BASELINES = {
    "mean": mean_aggregation,
    "stacking": stacking,
    "best_single": best_single,
}
