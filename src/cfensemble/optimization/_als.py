"""The ALS steps: the two half-steps, the quantity they lower, and the initial factors.

Both half-steps are weighted ridge regressions solved for every column at once by
:func:`cfensemble.optimization._solve.solve_factors`:

    Y-step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i      X (d, m), R0/C (m, n) -> Y (d, n)
    X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u      Y (d, n), R0/C (m, n) -> X (d, m)

with C_i = diag(C[:, i]), C_u = diag(C[u, :]) and R0 = R with zeros where missing.
"""

from __future__ import annotations

import numpy as np

from cfensemble.confidence import CHUNK_CELLS
from cfensemble.optimization._kernels import _NUMBA_STATE, numba_available
from cfensemble.optimization._solve import (
    DEFAULT_CHUNK,
    batched_solve,
    classifier_normal_equations,
    gram_matrices,
    solve_factors,
    solve_normal_equations,
)

__all__ = [
    "DEFAULT_CHUNK",
    "_NUMBA_STATE",
    "EXTRAPOLATION",
    "batched_solve",
    "classifier_normal_equations",
    "gram_matrices",
    "INITS",
    "init_factors",
    "start_factors",
    "svd_factors",
    "numba_available",
    "solve_factors",
    "solve_normal_equations",
    "next_extrapolation",
    "update_classifiers",
    "update_instances",
    "weighted_sq_error",
]

#: The extrapolation of the ALS loop (Ang and Gillis, Neural Computation 2019, section 3):
#: initial beta, its first cap, growth of beta and of the cap on an accepted step, and the
#: divisor of beta on a rejected one, and the cap's ceiling (1: a step at most doubled;
#: larger ceilings met the stopping rule further from the optimum, als_extrapolation.md).
EXTRAPOLATION = {
    "beta0": 0.5,
    "cap0": 1.0,
    "gamma": 1.05,
    "gamma_cap": 1.01,
    "eta": 1.5,
    "max": 1.0,
}


def next_extrapolation(beta: float, cap: float, accepted: bool) -> tuple[float, float]:
    """The extrapolation weight and its cap after a sweep; -> (beta, cap).

    The ALS loop tries X_e = X_hat + beta (X_hat - X_prev) after each classifier step X_hat
    and keeps it when the instance step from X_e lowers the objective below the previous
    sweep's; else it falls back to X_hat. Accepted: beta <- min(cap, gamma beta),
    cap <- min(max, gamma_cap cap); rejected: cap <- beta, beta <- beta / eta (the cap
    remembers the weight that failed). The constants are :data:`EXTRAPOLATION`'s.
    """
    e = EXTRAPOLATION
    if accepted:
        return min(cap, e["gamma"] * beta), min(e["max"], e["gamma_cap"] * cap)
    return beta / e["eta"], beta


def update_instances(X, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options):
    """Y-step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i; X (d, m), R0/C (m, n) -> (d, n).

    ``options`` as in :func:`~cfensemble.optimization._solve.batched_solve` (``x0`` is the
    previous Y for CG).
    """
    return solve_factors(X, R0, C, lambda_reg, chunk_size=chunk_size, **options)


def update_classifiers(Y, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options):
    """X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u; Y (d, n), R0/C (m, n) -> (d, m).

    ``options`` as in :func:`~cfensemble.optimization._solve.batched_solve` (``x0`` is the
    previous X for CG).
    """
    return solve_factors(Y, R0.T, C.T, lambda_reg, chunk_size=chunk_size, **options)


def weighted_sq_error(R0, C, X, Y, lambda_reg) -> float:
    """sum c (r - x^T y)^2 + lambda (|X|^2 + |Y|^2), the quantity each ALS half-step lowers."""
    E = R0 - X.T @ Y
    return float(np.sum(C * E * E)) + lambda_reg * (float(np.sum(X * X)) + float(np.sum(Y * Y)))


#: The starts of a fit: ``svd_factors`` (the default) or ``init_factors``.
INITS = ("svd", "random")


def init_factors(rng: np.random.RandomState, d: int, m: int, n: int, scale: float = 0.1):
    """Initial X (d, m) and Y (d, n): N(0, scale^2), X drawn first. Shared by every trainer."""
    X = scale * rng.standard_normal((d, m))
    Y = scale * rng.standard_normal((d, n))
    return X, Y


def svd_factors(R: np.ndarray, observed: np.ndarray, d: int, rng: np.random.RandomState):
    """Balanced rank-d SVD factors of R, missing cells at the instance's observed mean.

    F = R with each missing r_ui replaced by the mean of instance i's observed cells (every
    classifier estimates the same P(y = 1 | x_i); an instance no classifier scored takes
    each classifier's own mean). With F's truncated SVD F ~ U_d S_d V_d^T:

        X = S_d^(1/2) U_d^T   (d, m),      Y = S_d^(1/2) V_d^T = S_d^(-1/2) U_d^T F   (d, n),

    from the eigenpairs of the m x m Gram matrix F F^T = U S^2 U^T (passes over R in
    column chunks: no (m, n) temporary). The pair is balanced (X X^T = Y Y^T = S_d), as a
    stationary point of the ridge-penalized factorization is; from small random factors
    ALS spends most of its sweeps moving scale between X and Y and stops on its
    relative-change rule far from the optimum (benchmarks/results/als_init.md). Filling
    with the instance's mean rather than the classifier's started nearest the best
    optimum found on real data, informative missingness included (the classifier's mean
    is biased there: it is the mean of the cells a classifier was sure of). Components
    with no energy (s_k below 1e-8 s_1, e.g. d beyond F's rank) get small random rows
    of ``rng`` instead, so that no factor starts at zero and stays there.

    Parameters
    ----------
    R : array of shape (m, n), NaN where missing (only observed cells are read); a NumPy
        or dask array (read in column chunks)
    observed : bool array of shape (m, n)
    d : int >= 1
    rng : RandomState

    Returns
    -------
    X : ndarray of shape (d, m), Y : ndarray of shape (d, n), float64
    """
    m, n = R.shape
    step = max(1, CHUNK_CELLS // max(1, m))
    chunks = [slice(a, a + step) for a in range(0, n, step)]

    def block(c):  # (observed, R with zeros where missing) of a column chunk, in memory
        obs = np.asarray(observed[:, c], dtype=bool)  # (a dask R: computed chunk by chunk)
        return obs, np.where(obs, np.asarray(R[:, c], dtype=np.float64), 0.0)

    row_sum, row_count = np.zeros(m), np.zeros(m)
    for c in chunks:
        obs, R0 = block(c)
        row_sum += R0.sum(axis=1)
        row_count += obs.sum(axis=1)
    row_mean = row_sum / np.maximum(row_count, 1)

    def filled(c):
        obs, R0 = block(c)
        k = obs.sum(axis=0)
        col_mean = R0.sum(axis=0) / np.maximum(k, 1)
        fill = np.where(k > 0, col_mean[None, :], row_mean[:, None])
        return np.where(obs, R0, fill)

    G = np.zeros((m, m))
    for c in chunks:
        F = filled(c)
        G += F @ F.T
    ev, U = np.linalg.eigh(G)  # ascending
    k = min(d, m)
    s = np.sqrt(np.maximum(ev[::-1][:k], 0.0))
    U = U[:, ::-1][:, :k]
    live = s > 1e-8 * max(s[0], 1e-300)
    rows, dead = np.flatnonzero(live), np.r_[np.flatnonzero(~live), np.arange(k, d)]
    X, Y = np.empty((d, m)), np.empty((d, n))
    X[rows] = np.sqrt(s[rows])[:, None] * U[:, rows].T
    W = U[:, rows].T / np.sqrt(s[rows])[:, None]  # S^(-1/2) U^T
    for c in chunks:
        Y[rows, c] = W @ filled(c)
    X[dead] = 0.1 * rng.standard_normal((dead.size, m))
    Y[dead] = 0.1 * rng.standard_normal((dead.size, n))
    return X, Y


def start_factors(init: str, R, observed, d: int, rng: np.random.RandomState):
    """The start of every fit (trainers and rank search): ``svd_factors`` for 'svd',
    ``init_factors`` for 'random'. X (d, m), Y (d, n); only R's observed cells are read."""
    if init == "svd":
        return svd_factors(R, observed, d, rng)
    m, n = R.shape
    return init_factors(rng, d, m, n)
