"""Variable projection: the instance factors eliminated in closed form.

For fixed classifier factors X every instance factor has the closed form

    y_i*(X) = A_i^-1 X C_i r_i,        A_i = X C_i X^T + lambda I,

the same for labeled and unlabeled columns (so nothing leaks). The projected objective

    J(X, w, b) = rho L_recon(X, Y*(X)) + (1 - rho) L_sup(X^T Y*(X), w, b)

depends on m d + m + 1 numbers. Its gradient (E = C o (R - X^T Y*), zero off Omega, N = |Omega|):

  * L_recon: by the envelope theorem (Y* minimizes L_recon's per-column part) only the
    explicit derivative remains: dL_recon/dX = (-2 Y* E^T + 2 lambda X) / N.
  * L_sup: z_i = (X w)^T y_i* + b, g_i = dL_sup/dz_i. With the adjoint q_i = A_i^-1 (X w),
    dz_i/dX = y_i w^T + q_i (c_i o (r_i - r_hat_i))^T - y_i (c_i o X^T q_i)^T, so
    dL_sup/dX = (Y_L g) w^T + Q_g E_L^T - Y_L (C_L o X^T Q_g)^T,   Q_g = Q diag(g),
    dL_sup/dw = R_hat_L g + l2 w,   dL_sup/db = sum g.

When the aggregator sees other features Z_i (observed cells with missing ones filled from
R_hat, or both), z_i = w . Z_i + b depends on R_hat_i through u_i = dz_i/dR_hat_i
(``objective.aggregator_input_jacobian``) instead of w, and the same derivation holds
column by column with w -> u_i: dL_sup/dX = (Y_L diag(g)) U^T + Q_g E_L^T - Y_L (C_L o X^T Q_g)^T,
q_i = A_i^-1 X u_i, dL_sup/dw = Z_L g + l2 w.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from cfensemble.objective import (
    ObjectiveValue,
    aggregator_features,
    aggregator_input_jacobian,
    aggregator_logits,
    cf_value,
    focal_bce_from_logits,
    focal_bce_grad_logits,
)
from cfensemble.optimization._als import DEFAULT_CHUNK, batched_solve, update_instances


class VarproProblem(NamedTuple):
    """Everything J needs besides (X, w, b).

    R0 : (m, n) predictions, zero where missing;  C : (m, n) confidence, zero where missing
    labeled_idx : (n_L,) column indices;  y : (n_L,) labels;  s : (n_L,) class weights
    n_observed : |Omega|
    """

    R0: np.ndarray
    C: np.ndarray
    labeled_idx: np.ndarray
    y: np.ndarray
    s: np.ndarray
    n_observed: int
    rho: float
    lambda_reg: float
    focal_gamma: float = 0.0
    aggregator_l2: float = 0.0
    chunk_size: int = DEFAULT_CHUNK
    aggregator_input: str = "reconstruction"
    R_labeled: np.ndarray | None = None  # (m, n_L) with NaN, needed unless 'reconstruction'


#: Columns per chunk of the residual pass of :func:`block_terms`.
RESIDUAL_CHUNK = 65536


def project(X: np.ndarray, problem: VarproProblem) -> np.ndarray:
    """Y*(X), shape (d, n)."""
    return update_instances(
        X, problem.R0, problem.C, problem.lambda_reg, chunk_size=problem.chunk_size
    )


def block_terms(
    X: np.ndarray,
    w: np.ndarray,
    b: float,
    R0: np.ndarray,
    C: np.ndarray,
    labeled: np.ndarray,
    y: np.ndarray,
    sw: np.ndarray,
    R_labeled: np.ndarray | None,
    *,
    lambda_reg: float,
    focal_gamma: float,
    aggregator_input: str,
    with_grad: bool,
    sup_grad: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    **solver_options,
) -> dict:
    """Unnormalized sums of J's parts over a block of columns (all of them, or one chunk).

    J and its gradient are sums over columns, so a block's terms can be computed where its
    columns live and added (the Dask backend does this); :func:`combine_terms` finishes.

    R0, C : (m, k) block;  labeled : (k_L,) indices into the block;  y, sw : (k_L,) labels
    and class weights already divided by the sum over *all* labeled columns.

    Returns dict: fit = sum c (r - r_hat)^2, ysq = |Y|^2, sup = sum sw FL, and with the
    gradient gXr = -2 Y E^T (d, m), gXs = dL_sup/dX, gw = Z_L g, gb = sum g (left at zero
    when ``sup_grad`` is False: at rho = 1 the supervised gradient is not needed).
    """
    Y = update_instances(X, R0, C, lambda_reg, chunk_size=chunk_size, **solver_options)
    # fit and gXr = -2 Y E^T, E = C o (R0 - X^T Y), column chunk by column chunk: no
    # (m, k) temporaries of the whole block (R_hat, the residual, E).
    fit = 0.0
    gXr = np.zeros_like(X) if with_grad else None
    for a in range(0, R0.shape[1], RESIDUAL_CHUNK):
        b_ = a + RESIDUAL_CHUNK
        Yc = Y[:, a:b_]
        resid = R0[:, a:b_] - X.T @ Yc
        E = C[:, a:b_] * resid  # zero off Omega since C is
        fit += float(np.sum(E * resid))
        if with_grad:
            gXr -= 2.0 * Yc @ E.T
    out = {
        "fit": fit,
        "ysq": float(np.sum(Y * Y)),
        "sup": 0.0,
        "gXr": gXr,
        "gXs": np.zeros_like(X),
        "gw": np.zeros_like(w),
        "gb": 0.0,
    }
    L = labeled
    if L.size == 0:
        return out
    R_hat_L = X.T @ Y[:, L]
    Z_L = aggregator_features(R_hat_L, R_labeled, aggregator_input)
    z = aggregator_logits(Z_L, w, b)
    out["sup"] = float(sw @ focal_bce_from_logits(z, y, focal_gamma))
    if not (with_grad and sup_grad):
        return out
    g = sw * focal_bce_grad_logits(z, y, focal_gamma)
    Y_L = Y[:, L]
    C_L = C[:, L]
    if aggregator_input == "reconstruction":
        # u_i = w for every column: one right-hand side, broadcast.
        U = None
        rhs = np.repeat((X @ w)[:, None], L.size, axis=1)
    else:
        U = aggregator_input_jacobian(w, R_labeled, aggregator_input)
        rhs = X @ U
    # Adjoint: q_i = A_i^-1 X u_i for the labeled columns (A_i symmetric).
    Q = batched_solve(X, C_L, rhs, lambda_reg, chunk_size=chunk_size, **solver_options)
    Qg = Q * g
    direct = np.outer(Y_L @ g, w) if U is None else (Y_L * g) @ U.T
    E_L = C_L * (R0[:, L] - R_hat_L)
    out["gXs"] = direct + Qg @ E_L.T - Y_L @ (C_L * (X.T @ Qg)).T
    out["gw"] = Z_L @ g
    out["gb"] = float(g.sum())
    return out


def combine_terms(
    t: dict,
    X: np.ndarray,
    w: np.ndarray,
    *,
    rho: float,
    lambda_reg: float,
    aggregator_l2: float,
    n_observed: int,
    has_labels: bool,
    with_grad: bool,
):
    """J, its parts and its gradient from the summed :func:`block_terms`."""
    N = max(n_observed, 1)
    sup = t["sup"] + 0.5 * aggregator_l2 * float(w @ w) if has_labels else 0.0
    sq_norms = float(np.sum(X * X)) + t["ysq"]
    J, recon, sup = cf_value(t["fit"], sq_norms, N, sup, rho=rho, lambda_reg=lambda_reg)
    if not with_grad:
        return J, recon, sup
    gX = rho * (t["gXr"] + 2.0 * lambda_reg * X) / N
    gw = np.zeros_like(w)
    gb = 0.0
    if has_labels and rho < 1.0:
        gX = gX + (1.0 - rho) * t["gXs"]
        gw = (1.0 - rho) * (t["gw"] + aggregator_l2 * w)
        gb = (1.0 - rho) * t["gb"]
    return J, recon, sup, gX, gw, gb


def varpro_value_and_grad(
    X: np.ndarray, w: np.ndarray, b: float, problem: VarproProblem, *, with_grad: bool = True
):
    """J(X, w, b) and its gradient.

    Returns (J, recon, sup, gX (d, m), gw, gb) or (J, recon, sup) without the gradient.
    """
    P = problem
    has_labels = P.labeled_idx.size > 0
    t = block_terms(
        X,
        w,
        b,
        P.R0,
        P.C,
        P.labeled_idx,
        P.y,
        P.s / P.s.sum() if has_labels else P.s,
        P.R_labeled,
        lambda_reg=P.lambda_reg,
        focal_gamma=P.focal_gamma,
        aggregator_input=P.aggregator_input,
        with_grad=with_grad,
        sup_grad=P.rho < 1.0,
        chunk_size=P.chunk_size,
    )
    return combine_terms(
        t,
        X,
        w,
        rho=P.rho,
        lambda_reg=P.lambda_reg,
        aggregator_l2=P.aggregator_l2,
        n_observed=P.n_observed,
        has_labels=has_labels,
        with_grad=with_grad,
    )


def pack(X, w, b) -> np.ndarray:
    return np.concatenate([X.ravel(), w, [b]])


def unpack(theta, d, m):
    X = theta[: d * m].reshape(d, m)
    w = theta[d * m : -1]  # m weights, or 2m when the aggregator sees both inputs
    return X, w, float(theta[-1])


def minimize_projected(value_and_grad, X, w, b, *, max_iter, ftol, gtol, record):
    """L-BFGS over (X, w, b) on a projected objective; shared by every varpro backend.

    Parameters
    ----------
    value_and_grad : callable (X, w, b, with_grad) -> (J, recon, sup[, gX, gw, gb])
    X : ndarray of shape (d, m);  w : ndarray;  b : float, the starting point
    max_iter, ftol, gtol : L-BFGS-B's maxiter, ftol (relative change of J), gtol
    record : callable (iteration, ObjectiveValue), called after every iteration (once, with
        iteration 0 and the starting point, when L-BFGS stops without an iteration)

    Returns
    -------
    X, w, b at the end, and scipy's OptimizeResult
    """
    d, m = X.shape
    cache: dict = {}

    def fun(theta):
        Xt, wt, bt = unpack(theta, d, m)
        J, recon, sup, gX, gw, gb = value_and_grad(Xt, wt, bt, True)
        cache["last"] = (theta.copy(), ObjectiveValue(J, recon, sup))
        return J, pack(gX, gw, gb)

    iteration = [0]

    def callback(intermediate_result):
        iteration[0] += 1
        theta = intermediate_result.x
        last = cache.get("last")
        if last is not None and np.array_equal(last[0], theta):
            value = last[1]  # L-BFGS accepted the point it evaluated last
        else:
            value = ObjectiveValue(*value_and_grad(*unpack(theta, d, m), False))
        record(iteration[0], value)

    res = minimize(
        fun,
        pack(X, w, b),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": max_iter, "ftol": ftol, "gtol": gtol, "maxcor": 20},
    )
    if iteration[0] == 0:
        # L-BFGS stopped where it started (from the SVD start on complete R the gradient can
        # be below gtol already): record that point as iteration 0, so that every fit has
        # a history.
        last = cache.get("last")
        if last is not None and np.array_equal(last[0], res.x):
            record(0, last[1])
        else:
            record(0, ObjectiveValue(*value_and_grad(*unpack(res.x, d, m), False)))
    X, w, b = unpack(res.x, d, m)
    return X.copy(), w.copy(), b, res
