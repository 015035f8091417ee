"""The one dispatcher of the batched weighted least-squares solves (ALS half-steps, Y*(X)).

Both ALS half-steps are the same problem with the roles swapped. For each target column j
of a (k, s) target matrix T with weights W:

    solve  (F diag(W[:, j]) F^T + lambda I) z_j = F (W[:, j] * T[:, j])     F: (d, k)

Instance step: F = X (d, m), T = R (m, n), W = C        -> Y (d, n)    (k small, s large)
Classifier step: F = Y (d, n), T = R^T (n, m), W = C^T -> X (d, m)    (k large, s small)

Exact paths and one iterative one, chosen by shape and options:

* **fused** (k small, the instance step): per block of ``BLOCK`` systems, the packed lower
  triangles of the Grams are accumulated from G[(p, q), u] = F[p, u] F[q, u] (a GEMM-shaped
  loop), factorized by a Cholesky vectorized across the block (the systems are the
  innermost, contiguous axis, so every operation is a SIMD loop over the block) and solved
  by two triangular sweeps. Compiled with numba when it is installed (``cfensemble[fast]``),
  ``nogil`` and threaded over column ranges; without numba the same path falls back to one
  GEMM per chunk for the Grams and a batched LAPACK solve. Memory is O(block d^2) per
  thread, never (s, d, d).
* **dual** (k < d, lambda > 0, right-hand sides F (w o t): the instance step with fewer
  classifiers than latent dimensions): the push-through identity
  (F S^2 F^T + lambda I_d)^-1 F S = F S (S F^T F S + lambda I_k)^-1 with S = diag(sqrt(w))
  turns each d x d system into a k x k one whose matrix is F^T F scaled by s s^T. Same
  solution, less work; ``dual=False`` forces the primal kernel.
* **long axis** (k large, s small, the classifier step): Grams and right-hand sides of the
  s systems in one compiled pass over k (blocks of ``BLOCK`` columns, threaded, partial sums
  added), then s tiny solves; without numba, one GEMM per system.
* **cg** (``method='cg'``): warm-started conjugate gradient, ``cg_steps`` steps (the
  ``implicit`` library's approach): no Gram is formed, each step is two skinny GEMMs
  F^T P and F (W o .). Approximate unless run to convergence; for ALS, not for varpro.

:func:`solve_factors_and_error` also returns the weighted squared residuals of the
solution (the ALS objective's sums), from the same compiled pass where there is one.
Threads: ``n_threads`` ranges of at least ``MIN_RANGE`` columns on a thread pool, with
BLAS/OpenMP held at one thread meanwhile (``cfensemble._parallel``).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cfensemble._parallel import blas_limited, run_limited
from cfensemble.exceptions import InputTypeError, InvalidInputError, InvalidParameterError
from cfensemble.optimization._kernels import BLOCK, compiled_kernels

logger = logging.getLogger("cfensemble")

DEFAULT_CHUNK = 4096
METHODS = ("cholesky", "cg")
KERNELS = ("auto", "numba", "numpy")
# Above this many G entries (k * d^2), the systems are formed by the stacked GEMM over the
# long axis (the classifier step has k = n) instead of the fused per-system kernel.
_KR_LIMIT = 4_000_000
#: Fewest columns per thread range: at m = 15, d = 20 a range of 2048 columns is ~1 ms of
#: kernel work, against ~0.05 ms to hand it to a thread.
MIN_RANGE = 2048


# ----------------------------------------------------------------------------- helpers
def _check_method(method: str, kernel: str) -> None:
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got method={method!r}")
    if kernel not in KERNELS:
        raise InvalidParameterError(f"kernel must be one of {KERNELS}, got kernel={kernel!r}")


def _work_dtype(dtype, *arrays):
    if dtype is None:
        dt = np.result_type(*arrays)
        return np.float32 if dt == np.float32 else np.float64
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise InvalidParameterError(f"dtype must be float32 or float64, got dtype={dtype!r}")
    return dt.type


def default_threads() -> int:
    """Threads for the fused kernel: ``CFENSEMBLE_NUM_THREADS`` or the usable cores."""
    env = os.environ.get("CFENSEMBLE_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _tri_products(F: np.ndarray) -> np.ndarray:
    """G[(p, q), u] = F[p, u] F[q, u] for p >= q, rows packed p(p+1)/2 + q; (d(d+1)/2, k)."""
    d = F.shape[0]
    p, q = np.tril_indices(d)
    return np.ascontiguousarray(F[p] * F[q])


# ----------------------------------------------------------------------------- Grams
def gram_matrices(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """A_j = F diag(W[:, j]) F^T for every column j (a reference-sized helper).

    F : ndarray of shape (d, k); W : ndarray of shape (k, s). Returns (s, d, d).
    Memory O(s d^2): for chunks, not for the whole of a large s.
    """
    d, k = F.shape
    s = W.shape[1]
    if k * d * d <= _KR_LIMIT:
        # G[k, a*d + b] = F[a, k] F[b, k]; A_flat = W^T G: one GEMM for all systems.
        G = (F.T[:, :, None] * F.T[:, None, :]).reshape(k, d * d)
        return (W.T @ G).reshape(s, d, d)
    return _stacked_grams(F, W)


def _stacked_grams(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """All s Grams over the long axis k, one GEMM each: (s, d, d). For small s (NumPy path)."""
    d = F.shape[0]
    s = W.shape[1]
    A = np.empty((s, d, d), dtype=np.result_type(F, W))
    for j in range(s):
        A[j] = (F * W[:, j]) @ F.T
    return A


# ----------------------------------------------------------------------------- direct
def _direct_numpy(F, W, B, lam, chunk_size):
    d = F.shape[0]
    s = W.shape[1]
    Z = np.empty((d, s), dtype=B.dtype)
    eye = lam * np.eye(d, dtype=B.dtype)
    for start in range(0, s, chunk_size):
        stop = min(start + chunk_size, s)
        A = gram_matrices(F, W[:, start:stop])
        A += eye
        Z[:, start:stop] = np.linalg.solve(A, B[:, start:stop].T[:, :, None])[:, :, 0].T
    return Z


def _ranges(s: int, n_threads: int | None):
    """Column ranges of whole blocks, a few per thread so that one slow thread does not
    hold the rest, none under ``MIN_RANGE`` columns (a range must outweigh the cost of
    dispatching it); and the thread count to run them with."""
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    n_blocks = -(-s // BLOCK)
    max_ranges = max(1, s // MIN_RANGE)
    n_ranges = 1 if n_threads <= 1 else max(1, min(n_blocks, 4 * n_threads, max_ranges))
    per = -(-n_blocks // n_ranges) * BLOCK
    return [(a, min(a + per, s)) for a in range(0, s, per)], n_threads


def _run_ranges(fn, bounds, n_threads):
    """fn(b) for every b; on a pool of n_threads threads when there are several ranges.

    Inside the parallel region BLAS and OpenMP pools are held at one thread
    (``cfensemble._parallel.blas_limited``): the kernels call no BLAS, and a pool at every
    core would compete with them.
    """
    if n_threads <= 1 or len(bounds) == 1:
        for ab in bounds:
            fn(ab)
        return
    with blas_limited(1), ThreadPoolExecutor(max_workers=min(n_threads, len(bounds))) as ex:
        list(ex.map(run_limited(fn), bounds))


def _unpack_lower(P: np.ndarray, d: int) -> np.ndarray:
    """(s, d(d+1)/2) packed lower triangles -> (s, d, d) symmetric matrices."""
    p, q = np.tril_indices(d)
    A = np.empty((P.shape[0], d, d), dtype=P.dtype)
    A[:, p, q] = P
    A[:, q, p] = P
    return A


def _long_normal_eq(fn, F, Wt, Tt, n_threads):
    """Normal equations of few systems over a long axis k, by the compiled kernel.

    F (d, k); Wt, Tt (s, k). Returns A (s, d, d) and B (d, s), threads over ranges of k.
    """
    d, k = F.shape
    s = Wt.shape[0]
    F = np.ascontiguousarray(F)
    Wt = np.ascontiguousarray(Wt)
    Tt = np.ascontiguousarray(Tt)
    bounds, n_threads = _ranges(k, n_threads)
    parts = [
        (np.zeros((s, d * (d + 1) // 2), dtype=F.dtype), np.zeros((s, d), dtype=F.dtype))
        for _ in bounds
    ]

    def work(i):
        fn(F, Wt, Tt, parts[i][0], parts[i][1], bounds[i][0], bounds[i][1])

    _run_ranges(work, list(range(len(bounds))), n_threads)
    A = _unpack_lower(sum(a for a, _ in parts), d)
    return A, sum(b for _, b in parts).T


def _stats_out(n_ranges: int, V):
    """Per-range residual sums (n_ranges, 3) float64, or (n_ranges, 0) when V is None."""
    return np.zeros((n_ranges, 3 if V is not None else 0))


def _direct_fused(fn, F, W, B, lam, n_threads, T=None, V=None):
    """The compiled kernel over column ranges; right-hand sides B, or F (W o T) if B is None.

    Returns Z and, with second weights V (and B None), the residual sums of
    :func:`solve_factors_and_error` (else None).
    """
    d = F.shape[0]
    s = W.shape[1]
    G = _tri_products(F)
    W = np.ascontiguousarray(W)
    if B is None:
        B = np.empty((d, 0), dtype=W.dtype)
        Ft = np.ascontiguousarray(F.T)
        T = np.ascontiguousarray(T)
    else:
        B = np.ascontiguousarray(B)
        Ft, T, V = np.empty((0, d), dtype=W.dtype), np.empty((0, 0), dtype=W.dtype), None
    Vk = np.empty((0, 0), dtype=W.dtype) if V is None else np.ascontiguousarray(V)
    Z = np.empty((d, s), dtype=W.dtype)
    lam = W.dtype.type(lam)
    bounds, n_threads = _ranges(s, n_threads)
    S = _stats_out(len(bounds), V)

    def work(i):
        fn(G, W, B, Ft, T, Vk, lam, Z, S[i], bounds[i][0], bounds[i][1])

    _run_ranges(work, list(range(len(bounds))), n_threads)
    return Z, (S.sum(axis=0) if V is not None else None)


def _direct_dual(fn, F, W, T, lam, n_threads, V=None):
    d, k = F.shape
    s = W.shape[1]
    M = np.ascontiguousarray(F.T @ F)
    F = np.ascontiguousarray(F)
    W = np.ascontiguousarray(W)
    T = np.ascontiguousarray(T)
    Vk = np.empty((0, 0), dtype=W.dtype) if V is None else np.ascontiguousarray(V)
    Z = np.empty((d, s), dtype=W.dtype)
    bounds, n_threads = _ranges(s, n_threads)
    S = _stats_out(len(bounds), V)
    lam = W.dtype.type(lam)
    # The residual from the dual solution (k operations per column) in float64 only.
    free = W.dtype == np.float64

    def work(i):
        fn(M, F, W, T, Vk, lam, Z, S[i], bounds[i][0], bounds[i][1], free)

    _run_ranges(work, list(range(len(bounds))), n_threads)
    return Z, (S.sum(axis=0) if V is not None else None)


def residual_sums(F, T, W, V, Z, *, chunk_size=65536) -> np.ndarray:
    """(sum W e^2, sum V e^2, sum Z^2) with e = T - F^T Z, in float64, chunk by chunk.

    F (d, k); T, W, V (k, s); Z (d, s). The NumPy counterpart of the compiled kernels'
    residual sums; memory O(k chunk_size), never a second (k, s) array.
    """
    out = np.zeros(3)
    s = T.shape[1]
    Ft = np.asarray(F.T, dtype=np.float64)
    for a in range(0, s, chunk_size):
        b = min(a + chunk_size, s)
        Zc = np.asarray(Z[:, a:b], dtype=np.float64)
        E = np.asarray(T[:, a:b], dtype=np.float64) - Ft @ Zc
        E *= E
        fit_w = float(np.sum(W[:, a:b] * E))
        out[0] += fit_w
        out[1] += fit_w if V is W else float(np.sum(V[:, a:b] * E))
        out[2] += float(np.sum(Zc * Zc))
    return out


# ----------------------------------------------------------------------------- cg
def _cg(F, W, B, lam, x0, cg_steps, chunk_size):
    """Warm-started CG on every system at once; each step: two skinny GEMMs."""
    d = F.shape[0]
    s = W.shape[1]
    Z = np.zeros((d, s), dtype=B.dtype) if x0 is None else np.array(x0, dtype=B.dtype)
    if Z.shape != (d, s):
        raise InvalidInputError(f"x0 must have shape {(d, s)}, got {Z.shape}")
    Ft = F.T
    tiny = np.finfo(B.dtype).tiny
    for a in range(0, s, chunk_size):
        b = min(a + chunk_size, s)
        Wc = W[:, a:b]
        x = Z[:, a:b]

        def matvec(P, Wc=Wc):  # A_j p_j = F (w_j o F^T p_j) + lambda p_j, all j
            return F @ (Wc * (Ft @ P)) + lam * P

        r = B[:, a:b] - matvec(x)
        p = r.copy()
        rs = np.einsum("ij,ij->j", r, r)
        for _ in range(cg_steps):
            Ap = matvec(p)
            pAp = np.einsum("ij,ij->j", p, Ap)
            alpha = np.where(pAp > tiny, rs / np.maximum(pAp, tiny), 0.0)
            x += alpha * p
            r -= alpha * Ap
            rs_new = np.einsum("ij,ij->j", r, r)
            beta = np.where(rs > tiny, rs_new / np.maximum(rs, tiny), 0.0)
            p = r + beta * p
            rs = rs_new
        Z[:, a:b] = x
    return Z


# ----------------------------------------------------------------------------- dispatch
def _solve(F, W, lam, *, B, T, chunk_size, method, kernel, x0, cg_steps, n_threads, dual, V=None):
    """The one dispatcher: right-hand sides B (d, s), or F (W o T) when B is None.

    Picks the path by shape and options (module docstring); F, W, T/B (and V) already in
    the working dtype. Returns (Z, residual sums): the sums (:func:`residual_sums`) when
    second weights V are given (B None), from the compiled pass that solved Z where there
    is one; else None.
    """
    d, k = F.shape
    s = W.shape[1]
    if method == "cg":
        # CG's memory per chunk is O(chunk (k + d)), not O(chunk d^2): d times the columns
        # for the same budget, and fewer BLAS calls.
        Z = _cg(
            F,
            W,
            F @ (W * T) if B is None else B,
            F.dtype.type(lam),
            x0,
            int(cg_steps),
            chunk_size * d,
        )
        return Z, (None if V is None else residual_sums(F, T, W, V, Z))
    fns = None if kernel == "numpy" else compiled_kernels(required=kernel == "numba")
    if k >= s:
        # Few systems over a long axis (the classifier step): Grams summed over k, s solves.
        if fns:
            Wt = np.ascontiguousarray(W.T)
            A, B_k = _long_normal_eq(fns[1], F, Wt, Wt if B is not None else T.T, n_threads)
            B = B_k if B is None else B
        else:
            B = F @ (W * T) if B is None else B
            A = _stacked_grams(F, W)
        Z = solve_normal_equations(A, B, lam).astype(F.dtype, copy=False)
        return Z, (None if V is None else residual_sums(F, T, W, V, Z))
    if fns and B is None and k < d and lam > 0 and dual:
        # k < d (fewer classifiers than latent dimensions): k x k systems, same solution.
        return _direct_dual(fns[2], F, W, T, lam, n_threads, V=V)
    if fns:
        # Right-hand sides formed inside the fused kernel when not given.
        return _direct_fused(fns[0], F, W, B, lam, n_threads, T=T, V=None if B is not None else V)
    Z = _direct_numpy(F, W, F @ (W * T) if B is None else B, lam, chunk_size)
    return Z, (None if V is None else residual_sums(F, T, W, V, Z))


def _prepare(options: dict, *arrays):
    """Check the options and cast the arrays to the working dtype (see batched_solve)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise InputTypeError(
            f"unknown solver option(s) {sorted(unknown)}; known: {sorted(_OPTIONS)}"
        )
    method = options.get("method", "cholesky")
    kernel = options.get("kernel", "auto")
    _check_method(method, kernel)
    dt = _work_dtype(options.get("dtype"), *arrays)
    opts = {
        "method": method,
        "kernel": kernel,
        "x0": options.get("x0"),
        "cg_steps": options.get("cg_steps", 3),
        "n_threads": options.get("n_threads"),
        "dual": options.get("dual", True),
    }
    return [np.asarray(a, dtype=dt) for a in arrays], opts


_OPTIONS = {"method", "kernel", "x0", "cg_steps", "dtype", "n_threads", "dual"}


def batched_solve(F, W, B, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options) -> np.ndarray:
    """Solve (F diag(W[:, j]) F^T + lambda I) z_j = B[:, j] for every j.

    Parameters
    ----------
    F : ndarray of shape (d, k)
    W : ndarray of shape (k, s)
        Nonnegative weights.
    B : ndarray of shape (d, s)
        Right-hand sides.
    lambda_reg : float
    chunk_size : int
        Systems per chunk of the NumPy path and of CG (memory O(chunk_size d^2) there).
    **options
        method : {'cholesky', 'cg'}
            'cholesky': exact. 'cg': ``cg_steps`` conjugate-gradient steps from ``x0``.
        kernel : {'auto', 'numba', 'numpy'}
            Implementation of the exact path: the compiled kernels ('auto' uses them when
            numba is installed) or GEMM + batched LAPACK.
        x0 : ndarray of shape (d, s), optional
            CG warm start (zeros if None).
        cg_steps : int, default=3
        dtype : {None, np.float32, np.float64}
            Working precision (None: float32 if every input is float32, else float64).
        n_threads : int, optional
            Threads of the compiled kernels (default: ``CFENSEMBLE_NUM_THREADS`` or the cores).
        dual : bool, default=True
            ``solve_factors`` only (right-hand sides F (w o t)): with k < d and lambda > 0,
            solve the k x k dual systems (push-through identity): same solution, less work.

    Returns
    -------
    Z : ndarray of shape (d, s)
    """
    (F, W, B), opts = _prepare(options, F, W, B)
    return _solve(F, W, lambda_reg, B=B, T=None, chunk_size=chunk_size, **opts)[0]


def solve_factors(F, T, W, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options) -> np.ndarray:
    """Weighted ridge solution for every column of T given fixed factors F.

    z_j = (F diag(w_j) F^T + lambda I)^-1 F (w_j * t_j).

    Parameters
    ----------
    F : ndarray of shape (d, k)
    T : ndarray of shape (k, s)
        Targets, zero where W is zero.
    W : ndarray of shape (k, s)
    lambda_reg : float
    chunk_size : int
    **options
        As in :func:`batched_solve`.

    Returns
    -------
    ndarray of shape (d, s)
    """
    (F, T, W), opts = _prepare(options, F, T, W)
    return _solve(F, W, lambda_reg, B=None, T=T, chunk_size=chunk_size, **opts)[0]


def solve_factors_and_error(
    F, T, W, V, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`solve_factors`, and the weighted squared residuals of its solution.

    z_j = (F diag(w_j) F^T + lambda I)^-1 F (w_j * t_j), e_j = t_j - F^T z_j, and

        err = (sum_j w_j . e_j^2,  sum_j v_j . e_j^2,  sum_j |z_j|^2)    (float64)

    from the same compiled pass that solves z_j (no second pass over T, no (k, s)
    temporary); the NumPy, CG and long-axis paths compute them chunk by chunk
    (:func:`residual_sums`). This is the ALS instance step with the objective's sums.

    Parameters
    ----------
    F : ndarray of shape (d, k)
    T, W : ndarray of shape (k, s)
        Targets (zero where W is zero) and the weights of the solve.
    V : ndarray of shape (k, s)
        Second weights of the residual sums (may be W itself).
    lambda_reg : float
    chunk_size : int
    **options
        As in :func:`batched_solve`.

    Returns
    -------
    Z : ndarray of shape (d, s)
    err : ndarray of shape (3,)
    """
    (F, T, W, V), opts = _prepare(options, F, T, W, V)
    return _solve(F, W, lambda_reg, B=None, T=T, chunk_size=chunk_size, V=V, **opts)


def classifier_normal_equations(Y, R0, C, *, kernel="auto", n_threads=None, dtype=None):
    """Partial sums of the X-step over a block of instances.

    Parameters
    ----------
    Y : ndarray of shape (d, n_block)
    R0, C : ndarray of shape (m, n_block)

    Returns
    -------
    A : ndarray of shape (m, d, d)
        A_u = Y diag(C[u]) Y^T.
    B : ndarray of shape (d, m)
        B[:, u] = Y (C[u] o R0[u]).

    Summing both over blocks and calling :func:`solve_normal_equations` is the X-step (the
    distributed backend's tree reduction).
    """
    (Y, R0, C), _ = _prepare({"kernel": kernel, "dtype": dtype}, Y, R0, C)
    fns = None if kernel == "numpy" else compiled_kernels(required=kernel == "numba")
    if fns:
        return _long_normal_eq(fns[1], Y, C, R0, n_threads)
    return _stacked_grams(Y, C.T), Y @ (C * R0).T


def solve_normal_equations(A, B, lambda_reg):
    """x_u = (A_u + lambda I)^-1 b_u; A (s, d, d), B (d, s) -> (d, s)."""
    d = A.shape[1]
    A = A + lambda_reg * np.eye(d, dtype=A.dtype)
    return np.linalg.solve(A, B.T[:, :, None])[:, :, 0].T
