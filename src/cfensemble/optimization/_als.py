"""Batched weighted least-squares kernels: the half-steps of ALS and Y*(X) of varpro.

Both ALS half-steps are the same problem with the roles swapped. For each target column j
of a (k, s) target matrix T with weights W:

    solve  (F diag(W[:, j]) F^T + lambda I) z_j = F (W[:, j] * T[:, j])     F: (d, k)

Instance step: F = X (d, m), T = R (m, n), W = C        -> Y (d, n)    (k small, s large)
Classifier step: F = Y (d, n), T = R^T (n, m), W = C^T -> X (d, m)    (k large, s small)

Exact paths and one iterative one, chosen by shape and options:

* **fused** (k small, the instance step): per block of 64 systems, the packed lower
  triangles of the Grams are accumulated from G[(p, q), u] = F[p, u] F[q, u] (a GEMM-shaped
  loop), factorized by a Cholesky vectorized across the block (the systems are the
  innermost, contiguous axis, so every operation is a SIMD loop over 64 systems) and solved
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
  s systems in one compiled pass over k (blocks of 64 columns, threaded, partial sums
  added), then s tiny solves; without numba, one GEMM per system.
* **cg** (``method='cg'``): warm-started conjugate gradient, ``cg_steps`` steps (the
  ``implicit`` library's approach): no Gram is formed, each step is two skinny GEMMs
  F^T P and F (W o .). Approximate unless run to convergence; for ALS, not for varpro.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

logger = logging.getLogger("cfensemble")

DEFAULT_CHUNK = 4096
METHODS = ("cholesky", "cg")
KERNELS = ("auto", "numba", "numpy")
# Above this many G entries (k * d^2), the systems are formed by the stacked GEMM over the
# long axis (the classifier step has k = n) instead of the fused per-system kernel.
_KR_LIMIT = 4_000_000
_BLOCK = 64  # systems per SIMD block of the fused kernel


# ----------------------------------------------------------------------------- helpers
def _check_method(method: str, kernel: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got method={method!r}")
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got kernel={kernel!r}")


def _work_dtype(dtype, *arrays):
    if dtype is None:
        dt = np.result_type(*arrays)
        return np.float32 if dt == np.float32 else np.float64
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got dtype={dtype!r}")
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


# ----------------------------------------------------------------------------- numba
def _lanes_cholesky_solve(A, b, d):  # pragma: no cover - compiled
    """Solve BL systems at once, in place: A (d(d+1)/2, BL) packed lower triangles, b (d, BL).

    Right-looking Cholesky A = L L^T on the packed lower triangle, then L u = b and
    L^T z = u; the lane (system) index is innermost so the loops vectorize across systems.
    """
    BL = A.shape[1]
    for jj in range(d):
        djj = A[jj * (jj + 1) // 2 + jj]
        for l in range(BL):
            djj[l] = np.sqrt(djj[l])
        for p in range(jj + 1, d):
            apj = A[p * (p + 1) // 2 + jj]
            for l in range(BL):
                apj[l] /= djj[l]
        for p in range(jj + 1, d):
            apj = A[p * (p + 1) // 2 + jj]
            base = p * (p + 1) // 2
            for q in range(jj + 1, p + 1):
                apq = A[base + q]
                aqj = A[q * (q + 1) // 2 + jj]
                for l in range(BL):
                    apq[l] -= apj[l] * aqj[l]
    for p in range(d):
        bp = b[p]
        base = p * (p + 1) // 2
        for kk in range(p):
            apk = A[base + kk]
            bk = b[kk]
            for l in range(BL):
                bp[l] -= apk[l] * bk[l]
        dp = A[base + p]
        for l in range(BL):
            bp[l] /= dp[l]
    for p in range(d - 1, -1, -1):
        bp = b[p]
        for kk in range(p + 1, d):
            akp = A[kk * (kk + 1) // 2 + p]
            bk = b[kk]
            for l in range(BL):
                bp[l] -= akp[l] * bk[l]
        dp = A[p * (p + 1) // 2 + p]
        for l in range(BL):
            bp[l] /= dp[l]


def _fused_block_solve(G, W, B, Ft, T, lam, Z, start, stop):  # pragma: no cover - compiled
    """Systems start..stop-1: Gram from G and W[:, j], + lam I, Cholesky, two sweeps.

    G (ntri, k) packed lower products; W (k, s); Z (d, s) out. Right-hand sides: B (d, s)
    if B has s columns, else b_j = F (W[:, j] o T[:, j]) from Ft (k, d) and T (k, s), formed
    here (one pass over W and T instead of a separate GEMM and an (k, s) temporary).
    Works on blocks of _BLOCK systems with the system index innermost (SIMD across systems).
    """
    ntri, k = G.shape
    d = Z.shape[0]
    given = B.shape[1] == Z.shape[1]
    BL = 64
    A = np.empty((ntri, BL), dtype=G.dtype)
    b = np.empty((d, BL), dtype=G.dtype)
    wt = np.empty(BL, dtype=G.dtype)
    for j0 in range(start, stop, BL):
        nl = min(BL, stop - j0)
        # A[(p, q), l] = sum_u G[(p, q), u] W[u, j0 + l]
        for r in range(ntri):
            a = A[r]
            for l in range(BL):
                a[l] = 0.0
            for u in range(k):
                g = G[r, u]
                wu = W[u, j0 : j0 + nl]
                for l in range(nl):
                    a[l] += g * wu[l]
        for p in range(d):
            a = A[p * (p + 1) // 2 + p]
            bp = b[p]
            for l in range(nl):
                a[l] += lam
            for l in range(nl, BL):  # padding lanes: identity systems
                a[l] = 1.0
            if given:
                src = B[p, j0 : j0 + nl]
                for l in range(nl):
                    bp[l] = src[l]
            else:
                for l in range(nl):
                    bp[l] = 0.0
            for l in range(nl, BL):
                bp[l] = 0.0
        if not given:
            for u in range(k):
                wu = W[u, j0 : j0 + nl]
                tu = T[u, j0 : j0 + nl]
                for l in range(nl):
                    wt[l] = wu[l] * tu[l]
                for p in range(d):
                    f = Ft[u, p]
                    bp = b[p]
                    for l in range(nl):
                        bp[l] += f * wt[l]
        _lanes_cholesky_solve(A, b, d)
        for p in range(d):
            zp = Z[p, j0 : j0 + nl]
            bp = b[p]
            for l in range(nl):
                zp[l] = bp[l]


def _long_normal_partial(F, Wt, Tt, A, Bv, start, stop):  # pragma: no cover - compiled
    """Partial normal equations over columns start..stop-1 of F, for few systems j.

    A[j, (p, q)] += sum_i Wt[j, i] F[p, i] F[q, i]  (packed lower);
    Bv[j, p] += sum_i Wt[j, i] Tt[j, i] F[p, i].
    F (d, k); Wt, Tt (s, k); A (s, ntri); Bv (s, d). Blocks of 64 columns: the products
    F[p, i] F[q, i] of a block are formed once and reused by all s systems.
    """
    d = F.shape[0]
    s = Wt.shape[0]
    ntri = d * (d + 1) // 2
    BL = 64
    K = np.empty((ntri, BL), dtype=F.dtype)
    wt = np.empty(BL, dtype=F.dtype)
    for i0 in range(start, stop, BL):
        nl = min(BL, stop - i0)
        r = 0
        for p in range(d):
            fp = F[p, i0 : i0 + nl]
            for q in range(p + 1):
                fq = F[q, i0 : i0 + nl]
                kr = K[r]
                for l in range(nl):
                    kr[l] = fp[l] * fq[l]
                r += 1
        for j in range(s):
            wj = Wt[j, i0 : i0 + nl]
            tj = Tt[j, i0 : i0 + nl]
            aj = A[j]
            for r in range(ntri):
                kr = K[r]
                acc = 0.0
                for l in range(nl):
                    acc += kr[l] * wj[l]
                aj[r] += acc
            for l in range(nl):
                wt[l] = wj[l] * tj[l]
            bj = Bv[j]
            for p in range(d):
                fp = F[p, i0 : i0 + nl]
                acc = 0.0
                for l in range(nl):
                    acc += fp[l] * wt[l]
                bj[p] += acc


def _dual_block_solve(M, F, W, T, lam, Z, start, stop):  # pragma: no cover - compiled
    """Systems start..stop-1 in the dual (k x k) form, for k < d and lam > 0.

    With S_j = diag(sqrt(W[:, j])), the push-through identity gives
        (F S_j^2 F^T + lam I_d)^-1 F S_j (S_j t_j) = F S_j (S_j M S_j + lam I_k)^-1 S_j t_j,
    M = F^T F (k, k): a k x k system per column whose matrix is M scaled elementwise by
    s s^T (k(k+1)/2 products instead of the k d(d+1)/2 of the d x d Gram).
    M (k, k); F (d, k); W, T (k, s); Z (d, s) out. Lanes as in _fused_block_solve.
    """
    k = M.shape[0]
    d = F.shape[0]
    ntri = k * (k + 1) // 2
    BL = 64
    A = np.empty((ntri, BL), dtype=M.dtype)
    b = np.empty((k, BL), dtype=M.dtype)
    sq = np.empty((k, BL), dtype=M.dtype)
    for j0 in range(start, stop, BL):
        nl = min(BL, stop - j0)
        for u in range(k):
            su = sq[u]
            bu = b[u]
            wu = W[u, j0 : j0 + nl]
            tu = T[u, j0 : j0 + nl]
            for l in range(nl):
                su[l] = np.sqrt(wu[l])
                bu[l] = su[l] * tu[l]
            for l in range(nl, BL):
                su[l] = 0.0
                bu[l] = 0.0
        for p in range(k):
            sp = sq[p]
            for q in range(p + 1):
                a = A[p * (p + 1) // 2 + q]
                sqq = sq[q]
                mpq = M[p, q]
                for l in range(BL):
                    a[l] = mpq * sp[l] * sqq[l]
            a = A[p * (p + 1) // 2 + p]
            for l in range(BL):
                a[l] += lam
        _lanes_cholesky_solve(A, b, k)
        # y_j = F (s o t)
        for u in range(k):
            bu = b[u]
            su = sq[u]
            for l in range(BL):
                bu[l] *= su[l]
        for p in range(d):
            zp = Z[p, j0 : j0 + nl]
            for l in range(nl):
                zp[l] = 0.0
            for u in range(k):
                f = F[p, u]
                bu = b[u]
                for l in range(nl):
                    zp[l] += f * bu[l]


_NUMBA_LOCK = threading.Lock()
_NUMBA_STATE: dict = {}


def _numba_kernel(required: bool):
    """(fused solve, long-axis Gram) compiled, or None where numba is missing."""
    with _NUMBA_LOCK:
        if "fn" not in _NUMBA_STATE:
            try:
                import numba
            except ImportError:
                _NUMBA_STATE["fn"] = None
                logger.debug("numba not installed: ALS kernels use the NumPy/LAPACK path")
            else:
                jit = numba.njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
                # The kernels call this by its module-global name: it must be compiled
                # (and bound there) before they are.
                global _lanes_cholesky_solve
                if not hasattr(_lanes_cholesky_solve, "py_func"):
                    _lanes_cholesky_solve = jit(_lanes_cholesky_solve)
                # reassoc lets LLVM vectorize the long-axis dot products (3x here); no
                # nnan/ninf assumptions, so non-finite inputs still propagate.
                jit_sum = numba.njit(
                    nogil=True,
                    cache=True,
                    error_model="numpy",
                    boundscheck=False,
                    fastmath={"reassoc", "contract"},
                )
                _NUMBA_STATE["fn"] = (
                    jit(_fused_block_solve),
                    jit_sum(_long_normal_partial),
                    jit(_dual_block_solve),
                )
        fn = _NUMBA_STATE["fn"]
    if fn is None and required:
        raise ImportError(
            "kernel='numba' needs numba: pip install cfensemble[fast] (or pip install numba)"
        )
    return fn


def numba_available() -> bool:
    """Whether the compiled fused kernel can be used."""
    return _numba_kernel(False) is not None


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
    hold the rest; and the thread count to run them with."""
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    n_blocks = -(-s // _BLOCK)
    n_ranges = 1 if n_threads <= 1 else max(1, min(n_blocks, 4 * n_threads))
    per = -(-n_blocks // n_ranges) * _BLOCK
    return [(a, min(a + per, s)) for a in range(0, s, per)], n_threads


def _run_ranges(fn, bounds, n_threads):
    if n_threads <= 1 or len(bounds) == 1:
        for ab in bounds:
            fn(ab)
        return
    with ThreadPoolExecutor(max_workers=min(n_threads, len(bounds))) as ex:
        list(ex.map(fn, bounds))


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


def _direct_fused(fn, F, W, B, lam, n_threads, T=None):
    """The compiled kernel over column ranges; right-hand sides B, or F (W o T) if B is None."""
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
        Ft, T = np.empty((0, d), dtype=W.dtype), np.empty((0, 0), dtype=W.dtype)
    Z = np.empty((d, s), dtype=W.dtype)
    lam = W.dtype.type(lam)
    bounds, n_threads = _ranges(s, n_threads)
    _run_ranges(lambda ab: fn(G, W, B, Ft, T, lam, Z, ab[0], ab[1]), bounds, n_threads)
    return Z


def _direct_dual(fn, F, W, T, lam, n_threads):
    d, k = F.shape
    s = W.shape[1]
    M = np.ascontiguousarray(F.T @ F)
    F = np.ascontiguousarray(F)
    W = np.ascontiguousarray(W)
    T = np.ascontiguousarray(T)
    Z = np.empty((d, s), dtype=W.dtype)
    bounds, n_threads = _ranges(s, n_threads)
    _run_ranges(lambda ab: fn(M, F, W, T, W.dtype.type(lam), Z, ab[0], ab[1]), bounds, n_threads)
    return Z


def _direct(F, W, B, lam, chunk_size, kernel, n_threads):
    d, k = F.shape
    s = W.shape[1]
    fns = None if kernel == "numpy" else _numba_kernel(required=kernel == "numba")
    if k >= s:
        # Few systems over a long axis (the classifier step): Grams summed over k, s solves.
        if fns:
            Wt = np.ascontiguousarray(W.T)
            A, _ = _long_normal_eq(fns[1], F, Wt, Wt, n_threads)
        else:
            A = _stacked_grams(F, W)
        return solve_normal_equations(A, B, lam).astype(B.dtype, copy=False)
    if fns is None:
        return _direct_numpy(F, W, B, lam, chunk_size)
    return _direct_fused(fns[0], F, W, B, lam, n_threads)


# ----------------------------------------------------------------------------- cg
def _cg(F, W, B, lam, x0, cg_steps, chunk_size):
    """Warm-started CG on every system at once; each step: two skinny GEMMs."""
    d = F.shape[0]
    s = W.shape[1]
    Z = np.zeros((d, s), dtype=B.dtype) if x0 is None else np.array(x0, dtype=B.dtype)
    if Z.shape != (d, s):
        raise ValueError(f"x0 must have shape {(d, s)}, got {Z.shape}")
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


# ----------------------------------------------------------------------------- API
def batched_solve(
    F: np.ndarray,
    W: np.ndarray,
    B: np.ndarray,
    lambda_reg: float,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    method: str = "cholesky",
    kernel: str = "auto",
    x0: np.ndarray | None = None,
    cg_steps: int = 3,
    dtype=None,
    n_threads: int | None = None,
    dual: bool = True,
) -> np.ndarray:
    """Solve (F diag(W[:, j]) F^T + lambda I) z_j = B[:, j] for every j.

    Parameters
    ----------
    F : ndarray of shape (d, k)
    W : ndarray of shape (k, s), nonnegative weights
    B : ndarray of shape (d, s), right-hand sides
    lambda_reg : float
    chunk_size : int
        Systems per chunk of the NumPy path and of CG (memory O(chunk_size d^2) there).
    method : {'cholesky', 'cg'}
        'cholesky': exact. 'cg': ``cg_steps`` conjugate-gradient steps from ``x0``.
    kernel : {'auto', 'numba', 'numpy'}
        Implementation of the exact path: the compiled fused kernel ('auto' uses it when
        numba is installed) or GEMM + batched LAPACK.
    x0 : ndarray of shape (d, s), optional
        CG warm start (zeros if None).
    dtype : {None, np.float32, np.float64}
        Working precision (None: float32 if every input is float32, else float64).
    n_threads : int, optional
        Threads of the fused kernel (default: ``CFENSEMBLE_NUM_THREADS`` or the cores).
    dual : bool, default=True
        ``solve_factors`` only (right-hand sides F (w o t)): with k < d and lambda > 0, solve
        the k x k dual systems (push-through identity), the same solution for less work.

    Returns
    -------
    Z : ndarray of shape (d, s)
    """
    _check_method(method, kernel)
    dt = _work_dtype(dtype, F, W, B)
    F = np.asarray(F, dtype=dt)
    W = np.asarray(W, dtype=dt)
    B = np.asarray(B, dtype=dt)
    if method == "cg":
        # CG's memory per chunk is O(chunk (k + d)), not O(chunk d^2): d times the columns
        # for the same budget, and fewer BLAS calls.
        return _cg(F, W, B, dt(lambda_reg), x0, int(cg_steps), chunk_size * F.shape[0])
    return _direct(F, W, B, lambda_reg, chunk_size, kernel, n_threads)


def solve_factors(
    F: np.ndarray,
    T: np.ndarray,
    W: np.ndarray,
    lambda_reg: float,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    **options,
) -> np.ndarray:
    """Weighted ridge solution for every column of T given fixed factors F.

    z_j = (F diag(w_j) F^T + lambda I)^-1 F (w_j * t_j).

    F : ndarray of shape (d, k); T, W : ndarray of shape (k, s) (T zero where W is zero).
    ``options``: ``method``, ``kernel``, ``x0``, ``cg_steps``, ``dtype``, ``n_threads`` of
    :func:`batched_solve`. Returns ndarray of shape (d, s).
    """
    dt = _work_dtype(options.get("dtype"), F, T, W)
    F = np.asarray(F, dtype=dt)
    W = np.asarray(W, dtype=dt)
    T = np.asarray(T, dtype=dt)
    method = options.get("method", "cholesky")
    kernel = options.get("kernel", "auto")
    _check_method(method, kernel)
    if method == "cholesky" and kernel != "numpy":
        fns = _numba_kernel(required=kernel == "numba")
        if fns and F.shape[1] >= W.shape[1]:
            # The classifier step: Grams and right-hand sides in one pass over the long axis.
            A, B = _long_normal_eq(fns[1], F, W.T, T.T, options.get("n_threads"))
            return solve_normal_equations(A, B, lambda_reg)
        if fns and F.shape[1] < F.shape[0] and lambda_reg > 0 and options.get("dual", True):
            # k < d (fewer classifiers than latent dimensions): k x k systems, same solution.
            return _direct_dual(fns[2], F, W, T, lambda_reg, options.get("n_threads"))
        if fns:
            # The instance step: right-hand sides formed inside the fused kernel.
            return _direct_fused(fns[0], F, W, None, lambda_reg, options.get("n_threads"), T=T)
    B = F @ (W * T)
    return batched_solve(F, W, B, lambda_reg, chunk_size=chunk_size, **options)


def update_instances(X, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options):
    """Y-step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i; X (d, m), R0/C (m, n) -> (d, n).

    ``options`` as in :func:`batched_solve` (``x0`` is the previous Y for CG).
    """
    return solve_factors(X, R0, C, lambda_reg, chunk_size=chunk_size, **options)


def update_classifiers(Y, R0, C, lambda_reg, *, chunk_size=DEFAULT_CHUNK, **options):
    """X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u; Y (d, n), R0/C (m, n) -> (d, m).

    ``options`` as in :func:`batched_solve` (``x0`` is the previous X for CG).
    """
    return solve_factors(Y, R0.T, C.T, lambda_reg, chunk_size=chunk_size, **options)


def classifier_normal_equations(Y, R0, C, *, kernel="auto", n_threads=None, dtype=None):
    """Partial sums of the X-step over a block of instances.

    Y : ndarray of shape (d, n_block);  R0, C : ndarray of shape (m, n_block).
    Returns A : (m, d, d), A_u = Y diag(C[u]) Y^T, and B : (d, m), B[:, u] = Y (C[u] o R0[u]).
    Summing both over blocks and calling :func:`solve_normal_equations` is the X-step (the
    distributed backend's tree reduction).
    """
    _check_method("cholesky", kernel)
    dt = _work_dtype(dtype, Y, R0, C)
    Y = np.asarray(Y, dtype=dt)
    C = np.asarray(C, dtype=dt)
    R0 = np.asarray(R0, dtype=dt)
    fns = None if kernel == "numpy" else _numba_kernel(required=kernel == "numba")
    if fns:
        return _long_normal_eq(fns[1], Y, C, R0, n_threads)
    return _stacked_grams(Y, C.T), Y @ (C * R0).T


def solve_normal_equations(A, B, lambda_reg):
    """x_u = (A_u + lambda I)^-1 b_u; A (s, d, d), B (d, s) -> (d, s)."""
    d = A.shape[1]
    A = A + lambda_reg * np.eye(d, dtype=A.dtype)
    return np.linalg.solve(A, B.T[:, :, None])[:, :, 0].T


def weighted_sq_error(R0, C, X, Y, lambda_reg) -> float:
    """sum c (r - x^T y)^2 + lambda (|X|^2 + |Y|^2), the quantity each ALS half-step lowers."""
    E = R0 - X.T @ Y
    return float(np.sum(C * E * E)) + lambda_reg * (float(np.sum(X * X)) + float(np.sum(Y * Y)))


def init_factors(rng: np.random.RandomState, d: int, m: int, n: int, scale: float = 0.1):
    """Initial X (d, m) and Y (d, n): N(0, scale^2), X drawn first. Shared by every trainer."""
    X = scale * rng.standard_normal((d, m))
    Y = scale * rng.standard_normal((d, n))
    return X, Y
