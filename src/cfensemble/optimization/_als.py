"""The ALS steps: the two half-steps, the quantity they lower, and the initial factors.

Both half-steps are weighted ridge regressions solved for every column at once by
:func:`cfensemble.optimization._solve.solve_factors`:

    Y-step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i      X (d, m), R0/C (m, n) -> Y (d, n)
    X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u      Y (d, n), R0/C (m, n) -> X (d, m)

with C_i = diag(C[:, i]), C_u = diag(C[u, :]) and R0 = R with zeros where missing.
"""

from __future__ import annotations

import numpy as np

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
    "init_factors",
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


def init_factors(rng: np.random.RandomState, d: int, m: int, n: int, scale: float = 0.1):
    """Initial X (d, m) and Y (d, n): N(0, scale^2), X drawn first. Shared by every trainer."""
    X = scale * rng.standard_normal((d, m))
    Y = scale * rng.standard_normal((d, n))
    return X, Y
