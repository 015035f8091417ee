"""Metrics via scikit-learn: PR-AUC (average precision, the headline), ROC-AUC, Brier, log-loss."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
)


def pr_auc(y_true, p, sample_weight=None) -> float:
    """Average precision: the area under the precision-recall curve.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        0/1 labels.
    p : array-like of shape (n,)
        Scores or probabilities of the positive class.
    sample_weight : array-like of shape (n,), optional
        Weights of the instances (a subsample weighted back to its population).

    Returns
    -------
    float

    Examples
    --------
    >>> from cfensemble.metrics import pr_auc
    >>> pr_auc([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    0.8333333333333333
    """
    return float(average_precision_score(y_true, p, sample_weight=sample_weight))


def roc_auc(y_true, p) -> float:
    return float(roc_auc_score(y_true, p))


def brier(y_true, p) -> float:
    return float(brier_score_loss(y_true, np.clip(p, 0.0, 1.0)))


def logloss(y_true, p) -> float:
    return float(log_loss(y_true, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))


def evaluate(y_true, p) -> dict:
    """All four metrics as a dict: pr_auc, roc_auc, brier, log_loss."""
    y_true = np.asarray(y_true)
    p = np.asarray(p, dtype=np.float64)
    return {
        "pr_auc": pr_auc(y_true, p),
        "roc_auc": roc_auc(y_true, p),
        "brier": brier(y_true, p),
        "log_loss": logloss(y_true, p),
    }
