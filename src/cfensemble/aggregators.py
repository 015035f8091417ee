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
    if focal_gamma == 0.0:
        return _newton_logistic(Z, y, s, l2, w0, b0, tol=tol, max_iter=max_iter)

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


def _newton_logistic(Z, y, s, l2, w0, b0, *, tol, max_iter):
    """Weighted L2 logistic regression by damped Newton steps (IRLS).

    With m + 1 parameters the exact Hessian H = Za diag(s p (1 - p)) Za^T + l2 I_w is a
    tiny matrix, and Newton converges in a handful of steps where quasi-Newton needs
    dozens (this fit runs once per ALS sweep).
    """
    m = Z.shape[0]
    Za = np.vstack([Z, np.ones((1, Z.shape[1]))])
    theta = np.concatenate([np.zeros(m) if w0 is None else w0, [b0]])
    reg = np.full(m + 1, l2)
    reg[-1] = 0.0

    def loss_at(t):
        return float(s @ focal_bce_from_logits(t @ Za, y)) + 0.5 * float(reg @ (t * t))

    loss = loss_at(theta)
    for _ in range(max_iter):
        p = sigmoid(theta @ Za)
        g = Za @ (s * (p - y)) + reg * theta
        if np.max(np.abs(g)) <= max(tol, 1e-12):
            break
        H = (Za * (s * p * (1.0 - p))) @ Za.T + np.diag(reg + 1e-12)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = g
        # Backtracking (Armijo) keeps every step a decrease, even on separable data.
        t, decrease = 1.0, float(g @ step)
        while t > 1e-10:
            trial = theta - t * step
            new = loss_at(trial)
            if new <= loss - 1e-4 * t * decrease:
                break
            t *= 0.5
        else:
            break
        theta, prev, loss = trial, loss, new
        if prev - loss <= 1e-15 * max(abs(prev), 1.0):
            break
    return theta[:m].copy(), float(theta[m])


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
