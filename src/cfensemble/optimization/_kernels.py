"""Compiled kernels of the batched weighted least-squares solves, and their compilation.

The functions here are plain Python source written for numba (``cfensemble[fast]``): loops
over blocks of ``BLOCK`` systems with the system ("lane") index innermost, so every
operation is a SIMD loop across systems. :func:`compiled_kernels` compiles them on first
use (``nogil``, cached on disk) and returns None where numba is missing; the dispatcher
(:mod:`cfensemble.optimization._solve`) then takes the NumPy/LAPACK path.

Kernels (math in each docstring):

* :func:`_fused_block_solve`: per system j, A_j = F diag(W[:, j]) F^T + lambda I from the
  packed products G[(p, q), u] = F[p, u] F[q, u], Cholesky, two triangular sweeps.
* :func:`_long_normal_partial`: the Grams and right-hand sides of few systems summed over a
  long axis (the classifier step).
* :func:`_dual_block_solve`: the k x k dual systems of the push-through identity (k < d).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from cfensemble.exceptions import MissingDependencyError

logger = logging.getLogger("cfensemble")

#: Systems per SIMD block of the compiled kernels, and columns per block of the
#: long-axis kernel; the dispatcher cuts thread ranges at multiples of it.
BLOCK = 64


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


def _fused_block_solve(G, W, B, Ft, T, V, lam, Z, S, start, stop):  # pragma: no cover
    """Systems start..stop-1: Gram from G and W[:, j], + lam I, Cholesky, two sweeps.

    G (ntri, k) packed lower products; W (k, s); Z (d, s) out. Right-hand sides: B (d, s)
    if B has s columns, else b_j = F (W[:, j] o T[:, j]) from Ft (k, d) and T (k, s), formed
    here (one pass over W and T instead of a separate GEMM and an (k, s) temporary).
    Works on blocks of BLOCK systems with the system index innermost (SIMD across systems).

    Residual sums (when S has 3 entries; right-hand sides formed here): with
    e_j = T[:, j] - F^T z_j, S += (sum W e^2, sum V e^2, sum z^2) over the systems, in
    float64 (V (k, s): a second weight matrix). They come out of the pass that solved
    z_j, so the caller needs no separate pass over T (the ALS objective).
    """
    ntri, k = G.shape
    d = Z.shape[0]
    given = B.shape[1] == Z.shape[1]
    stats = S.shape[0] == 3 and not given
    BL = BLOCK
    A = np.empty((ntri, BL), dtype=G.dtype)
    b = np.empty((d, BL), dtype=G.dtype)
    wt = np.empty(BL, dtype=G.dtype)
    acc = np.zeros((3, BL))
    e = np.empty(BL)
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
        if stats:
            # e_uj = t_uj - sum_p F[p, u] z_pj; float64 sums per lane, added up at the end.
            _residual_sums(Ft, T, W, V, b, j0, nl, acc, e)
    if stats:
        for r in range(3):
            S[r] += np.sum(acc[r])


def _residual_sums(Ft, T, W, V, z, j0, nl, acc, e):  # pragma: no cover - compiled
    """acc[:, l] += (sum_u W e_u^2, sum_u V e_u^2, |z_l|^2) for lanes l < nl, in float64.

    e_u = T[u, j0 + l] - Ft[u] . z[:, l]; Ft (k, d), z (d, BL) the block's solutions.
    """
    k, d = Ft.shape
    for p in range(d):
        zp = z[p]
        for l in range(nl):
            acc[2, l] += np.float64(zp[l]) * np.float64(zp[l])
    for u in range(k):
        tu = T[u, j0 : j0 + nl]
        wu = W[u, j0 : j0 + nl]
        vu = V[u, j0 : j0 + nl]
        for l in range(nl):
            e[l] = tu[l]
        for p in range(d):
            f = np.float64(Ft[u, p])
            zp = z[p]
            for l in range(nl):
                e[l] -= f * zp[l]
        for l in range(nl):
            e2 = e[l] * e[l]
            acc[0, l] += wu[l] * e2
            acc[1, l] += vu[l] * e2


def _long_normal_partial(F, Wt, Tt, A, Bv, start, stop):  # pragma: no cover - compiled
    """Partial normal equations over columns start..stop-1 of F, for few systems j.

    A[j, (p, q)] += sum_i Wt[j, i] F[p, i] F[q, i]  (packed lower);
    Bv[j, p] += sum_i Wt[j, i] Tt[j, i] F[p, i].
    F (d, k); Wt, Tt (s, k); A (s, ntri); Bv (s, d). Blocks of BLOCK columns: the products
    F[p, i] F[q, i] of a block are formed once and reused by all s systems.
    """
    d = F.shape[0]
    s = Wt.shape[0]
    ntri = d * (d + 1) // 2
    BL = BLOCK
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


def _dual_block_solve(M, F, W, T, V, lam, Z, S, start, stop, free):  # pragma: no cover
    """Systems start..stop-1 in the dual (k x k) form, for k < d and lam > 0.

    With S_j = diag(sqrt(W[:, j])), the push-through identity gives
        (F S_j^2 F^T + lam I_d)^-1 F S_j (S_j t_j) = F S_j (S_j M S_j + lam I_k)^-1 S_j t_j,
    M = F^T F (k, k): a k x k system per column whose matrix is M scaled elementwise by
    s s^T (k(k+1)/2 products instead of the k d(d+1)/2 of the d x d Gram).
    M (k, k); F (d, k); W, T (k, s); Z (d, s) out. Lanes as in _fused_block_solve.

    Residual sums S as in _fused_block_solve (V (k, s) the second weights). With ``free``
    they cost k operations per column: the dual system (S M S + lam I) a = S t gives
    S (t - M S a) = lam a, so where w_u > 0 the residual of z = F S a is
    e_u = t_u - (F^T z)_u = lam a_u / s_u, w_u e_u^2 = lam^2 a_u^2 and
    v_u e_u^2 = v_u lam^2 a_u^2 / w_u. Cells with w_u = 0 (and every cell without
    ``free``: float32, where a_u carries too few digits) get e_u = t_u - F[:, u] . z.
    """
    k = M.shape[0]
    d = F.shape[0]
    ntri = k * (k + 1) // 2
    stats = S.shape[0] == 3
    BL = BLOCK
    A = np.empty((ntri, BL), dtype=M.dtype)
    b = np.empty((k, BL), dtype=M.dtype)
    sq = np.empty((k, BL), dtype=M.dtype)
    acc = np.zeros((3, BL))
    e = np.empty(BL)
    zb = np.empty((d, BL), dtype=M.dtype)
    Ft = F.T
    lam2 = np.float64(lam) * np.float64(lam)
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
        if stats and free:
            for u in range(k):
                bu = b[u]
                wu = W[u, j0 : j0 + nl]
                vu = V[u, j0 : j0 + nl]
                for l in range(nl):
                    if wu[l] > 0.0:
                        a2 = lam2 * np.float64(bu[l]) * np.float64(bu[l])
                        acc[0, l] += a2
                        acc[1, l] += vu[l] * a2 / wu[l]
        # y_j = F (s o t)
        for u in range(k):
            bu = b[u]
            su = sq[u]
            for l in range(BL):
                bu[l] *= su[l]
        for p in range(d):
            zp = zb[p]
            for l in range(nl):
                zp[l] = 0.0
            for u in range(k):
                f = F[p, u]
                bu = b[u]
                for l in range(nl):
                    zp[l] += f * bu[l]
            out = Z[p, j0 : j0 + nl]
            for l in range(nl):
                out[l] = zp[l]
        if stats:
            if free:
                for p in range(d):
                    zp = zb[p]
                    for l in range(nl):
                        acc[2, l] += np.float64(zp[l]) * np.float64(zp[l])
                for u in range(k):  # cells outside the dual identity: w_u = 0
                    wu = W[u, j0 : j0 + nl]
                    vu = V[u, j0 : j0 + nl]
                    tu = T[u, j0 : j0 + nl]
                    for l in range(nl):
                        if wu[l] <= 0.0 and vu[l] != 0.0:
                            r = np.float64(tu[l])
                            for p in range(d):
                                r -= np.float64(Ft[u, p]) * zb[p, l]
                            acc[1, l] += vu[l] * r * r
            else:
                _residual_sums(Ft, T, W, V, zb, j0, nl, acc, e)
    if stats:
        for r in range(3):
            S[r] += np.sum(acc[r])


_NUMBA_LOCK = threading.Lock()
_NUMBA_STATE: dict = {}


def compiled_kernels(required: bool):
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
                global _lanes_cholesky_solve, _residual_sums
                if not hasattr(_lanes_cholesky_solve, "py_func"):
                    _lanes_cholesky_solve = jit(_lanes_cholesky_solve)
                if not hasattr(_residual_sums, "py_func"):
                    _residual_sums = jit(_residual_sums)
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
        raise MissingDependencyError(
            "kernel='numba' needs numba: pip install cfensemble[fast] (or pip install numba)"
        )
    return fn


def numba_available() -> bool:
    """Whether the compiled fused kernel can be used."""
    return compiled_kernels(False) is not None
