"""Batched weighted least-squares kernels: the half-steps of ALS and Y*(X) of varpro.

Both ALS half-steps are the same problem with the roles swapped. For each target column j
of a (k, s) target matrix T with weights W:

    solve  (F diag(W[:, j]) F^T + lambda I) z_j = F (W[:, j] * T[:, j])     F: (d, k)

Instance step: F = X (d, m), T = R (m, n), W = C        -> Y (d, n)
Classifier step: F = Y (d, n), T = R^T (n, m), W = C^T -> X (d, m)

All s systems are formed with one GEMM (the Khatri-Rao trick: A_flat = W^T G with
G[k, (a, b)] = F[a, k] F[b, k]) and solved in one batched LAPACK call, chunked over the
systems so memory stays O(chunk d^2), never (s, d, d) at once.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CHUNK = 4096
# Above this many G entries (k * d^2), build each Gram from a GEMM per system instead of
# materializing the (k, d^2) Khatri-Rao matrix (the classifier step has k = n).
_KR_LIMIT = 4_000_000


def gram_matrices(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """A_j = F diag(W[:, j]) F^T for every column j.

    F : ndarray of shape (d, k); W : ndarray of shape (k, s). Returns (s, d, d).
    """
    d, k = F.shape
    s = W.shape[1]
    if k * d * d <= _KR_LIMIT:
        # G[k, a*d + b] = F[a, k] F[b, k]; A_flat = W^T G: one GEMM for all systems.
        G = (F.T[:, :, None] * F.T[:, None, :]).reshape(k, d * d)
        return (W.T @ G).reshape(s, d, d)
    A = np.empty((s, d, d), dtype=F.dtype)
    for j in range(s):  # s is small here (the classifier step: s = m)
        A[j] = (F * W[:, j]) @ F.T
    return A


def batched_solve(
    F: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    lambda_reg: float,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Solve (F diag(W[:, j]) F^T + lambda I) z_j = B[:, j] for every j.

    F : (d, k); W : (k, s); B : (d, s). Returns Z of shape (d, s).
    """
    d = F.shape[0]
    s = W.shape[1]
    Z = np.empty((d, s), dtype=np.result_type(F, B))
    eye = lambda_reg * np.eye(d, dtype=F.dtype)
    for start in range(0, s, chunk_size):
        stop = min(start + chunk_size, s)
        A = gram_matrices(F, W[:, start:stop])
        A += eye
        Z[:, start:stop] = np.linalg.solve(A, B[:, start:stop].T[:, :, None])[:, :, 0].T
    return Z


def solve_factors(
    F: np.ndarray,
    T: np.ndarray,
    W: np.ndarray,
    lambda_reg: float,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Weighted ridge solution for every column of T given fixed factors F.

    z_j = (F diag(w_j) F^T + lambda I)^-1 F (w_j * t_j).

    F : ndarray of shape (d, k); T, W : ndarray of shape (k, s) (T zero where W is zero).
    Returns ndarray of shape (d, s).
    """
    B = F @ (W * T)
    return batched_solve(F, W, B, lambda_reg, chunk_size=chunk_size)


def update_instances(X, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK):
    """Y-step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i; X (d, m), R0/C (m, n) -> (d, n)."""
    return solve_factors(X, R0, C, lambda_reg, chunk_size=chunk_size)


def update_classifiers(Y, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK):
    """X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u; Y (d, n), R0/C (m, n) -> (d, m)."""
    return solve_factors(Y, R0.T, C.T, lambda_reg, chunk_size=chunk_size)


def weighted_sq_error(R0, C, X, Y, lambda_reg) -> float:
    """sum c (r - x^T y)^2 + lambda (|X|^2 + |Y|^2), the quantity each ALS half-step lowers."""
    E = R0 - X.T @ Y
    return float(np.sum(C * E * E)) + lambda_reg * (float(np.sum(X * X)) + float(np.sum(Y * Y)))


def init_factors(rng: np.random.RandomState, d: int, m: int, n: int, scale: float = 0.1):
    """Initial X (d, m) and Y (d, n): N(0, scale^2), X drawn first. Shared by every trainer."""
    X = scale * rng.standard_normal((d, m))
    Y = scale * rng.standard_normal((d, n))
    return X, Y
