"""Aggregators: turn a column of (reconstructed) predictions into one probability."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from cfensemble.objective import (
    aggregator_logits,
    focal_bce_from_logits,
    focal_bce_grad_logits,
    mean_logits,
    sigmoid,
)


def fit_weighted_logistic(
    Z: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    *,
    l2: float = 1e-3,
    focal_gamma: float = 0.0,
    w0: np.ndarray | None = None,
    b0: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> tuple[np.ndarray, float]:
    """Class-weighted (focal) logistic regression fitted to convergence with L-BFGS.

    Minimizes sum_i s_i FL(y_i, sigmoid(w . z_i + b)) / sum_i s_i + (l2 / 2) |w|^2, the
    supervised part of the shared objective.

    Parameters
    ----------
    Z : ndarray of shape (m, n_L)    inputs, one column per labeled instance
    y : ndarray of shape (n_L,)      0/1 labels
    sample_weight : ndarray of shape (n_L,)

    Returns
    -------
    w : ndarray of shape (m,), b : float
    """
    m = Z.shape[0]
    s = sample_weight / sample_weight.sum()

    def fun(theta):
        w, b = theta[:m], theta[m]
        z = aggregator_logits(Z, w, b)
        loss = float(s @ focal_bce_from_logits(z, y, focal_gamma)) + 0.5 * l2 * float(w @ w)
        g = s * focal_bce_grad_logits(z, y, focal_gamma)
        return loss, np.concatenate([Z @ g + l2 * w, [g.sum()]])

    theta0 = np.concatenate([np.zeros(m) if w0 is None else w0, [b0]])
    res = minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": tol},
    )
    return res.x[:m].copy(), float(res.x[m])


def predict_weighted(Z: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """p_i = sigmoid(w . Z[:, i] + b); Z (m, k) -> (k,)."""
    return sigmoid(aggregator_logits(Z, w, b))


def predict_mean(Z: np.ndarray) -> np.ndarray:
    """Mean aggregation of (reconstructed) probabilities, clipped to (0, 1); (m, k) -> (k,)."""
    return sigmoid(mean_logits(Z))


def mean_of_observed(R: np.ndarray) -> np.ndarray:
    """Mean of each column's observed cells; a column with none gets 0.5. (m, n) -> (n,)."""
    obs = ~np.isnan(R)
    cnt = obs.sum(axis=0)
    total = np.where(obs, R, 0.0).sum(axis=0)
    return np.where(cnt > 0, total / np.maximum(cnt, 1), 0.5)
