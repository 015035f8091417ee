"""The torch backend: the ALS half-steps and variable projection on a torch device.

``CFEnsembleTrainer(backend='torch', device='cuda' | 'cpu' | None)``. R0, C (and C~) and
Y live on the device as (m, n) and (d, n) tensors; X (d, m) and the aggregator (w, b)
travel to the device at every call and the results come back as NumPy float64 (a few KB:
X, the gradient, a handful of sums). The L-BFGS of varpro stays scipy's on the CPU
(``_varpro.minimize_projected``): the variables are m d + m + 1 numbers, so what crosses
per iteration is those numbers and their gradient, while every O(n) quantity is made and
reduced on the device.

Operations (math as in ``_blocks``/``_varpro``; here over tensors):

* instance step / projection, per block of columns: y_i = A_i^-1 X C_i r_i,
  A_i = X C_i X^T + lambda I, by a batched Cholesky factorization. Primal (d x d
  systems) in general; with m < d and lambda > 0 the dual of ``_solve`` instead (the
  push-through identity): y_i = X S_i K_i^-1 S_i r_i, K_i = S_i (X^T X) S_i + lambda I_m,
  S_i = diag(sqrt(c_i)): m x m systems, the same solution;
* classifier step: A_u = sum_i c_ui y_i y_i^T and b_u = sum_i c_ui r_ui y_i summed over
  blocks (A by one GEMM of C with the row-wise Kronecker products of Y), then m solves;
* squared errors, |Y|^2, the labeled columns of Y;
* varpro: J's per-block sums and its gradient (``_varpro.block_terms``): fit, |Y|^2,
  L_sup, -2 Y E^T and, below rho = 1, the adjoint q_i = A_i^-1 X u_i of the labeled
  columns (reusing the block's Cholesky factors on the primal path), finished on the CPU
  by ``_varpro.combine_terms``, the same code as the NumPy and Dask backends.

Memory: R0, C (C~ for ALS with labels), Y and one block's systems. The block size is
chosen from n and d: the largest block with block * d^2 <= ``BLOCK_ELEMENTS`` (2^24
entries, 128 MiB of float64 for one batch of d x d matrices; the Cholesky factors, the
dual's m x m systems and the classifier step's Kronecker products y_i (x) y_i are no
larger, so a few hundred MiB at most beyond R0, C and Y), i.e. O(block d^2), never
O(n d^2). At d = 20 that is 41,943 instances per block: n = 10^6 runs in 24 blocks.

Precision: the trainer's dtype. float64 (default) reproduces the NumPy backend to ~1e-10;
float32 halves memory and is faster on GPUs, but the gradient then carries float32
rounding, so L-BFGS may stop earlier (its line search sees noise near the optimum). Sums
(fit, |Y|^2) are accumulated in float64 either way.

torch is imported when the backend is built: ``import cfensemble`` does not import it, and
without torch ``fit`` raises :class:`~cfensemble.exceptions.MissingDependencyError`.
"""

from __future__ import annotations

import numpy as np

from cfensemble._optional import import_optional
from cfensemble._validation import resolve_device
from cfensemble.optimization._varpro import combine_terms

#: Largest block * d^2 (entries of one batch of d x d system matrices).
BLOCK_ELEMENTS = 2**24


def import_torch():
    """torch, or a MissingDependencyError naming the extra."""
    return import_optional(
        "torch",
        "backend='torch' needs PyTorch: pip install cfensemble[torch] (or pip install torch)",
    )


def block_size(n: int, d: int, elements: int = BLOCK_ELEMENTS) -> int:
    """Columns per block: the largest with block * d^2 <= elements (at least 1, at most n)."""
    return int(max(1, min(max(n, 1), elements // max(d * d, 1))))


# ----------------------------------------------------------------------------- kernels
def gram64(torch, X):
    """M = X^T X (m, m) in float64 whatever X's dtype (see :func:`project_block`)."""
    X64 = X.to(torch.float64)
    return X64.T @ X64


def primal_factor(torch, X, C, lambda_reg):
    """Cholesky factors of A_i = X C_i X^T + lambda I for the k columns of C, in float64.

    X : (d, m);  C : (m, k). Returns L (k, d, d) float64 and info (k,), nonzero where A_i
    is not positive definite. A_flat = C^T G with G[u, (a, b)] = X[a, u] X[b, u]: one GEMM.
    """
    d, m = X.shape
    X64 = X.to(torch.float64)
    G = (X64.T[:, :, None] * X64.T[:, None, :]).reshape(m, d * d)
    A = (C.to(torch.float64).T @ G).reshape(-1, d, d)
    A.diagonal(dim1=1, dim2=2).add_(lambda_reg)
    return torch.linalg.cholesky_ex(A)[:2]


def project_block(torch, X, M, R0, C, lambda_reg, dual):
    """Y*(X) of one block: y_i = A_i^-1 X C_i r_i; returns (Y (d, k), primal factors or None).

    dual (m < d, lambda > 0): y_i = X S_i K_i^-1 S_i r_i with K_i = S_i M S_i + lambda I_m,
    M = X^T X (float64, :func:`gram64`), S_i = diag(sqrt(c_i)) (the push-through identity
    of ``_solve``). Columns whose system is not positive definite (lambda = 0 and too few
    observed cells) are NaN, as the NumPy kernels leave them.

    The small systems (K_i or A_i) are formed, factored and solved in float64 whatever the
    working dtype, and Y returns in X's dtype: in float32, X^T X at an L-BFGS trial point
    far from the solution can have a negative eigenvalue larger than lambda (-0.36 against
    8.3e7 in an H200 run at n = 10^6, benchmarks/results/gpu.md), which made every K_i
    indefinite and the whole projection NaN. So is the dual's X (S_i v_i), which cancels
    along near-dependent columns of X; the other (d, k) and (m, k) products of the callers
    stay in the working dtype.
    """
    f64 = torch.float64
    if dual:
        s = torch.sqrt(C.to(f64))  # (m, k)
        st = s.T
        K = M.to(f64)[None, :, :] * (st[:, :, None] * st[:, None, :])
        K.diagonal(dim1=1, dim2=2).add_(lambda_reg)
        L, info = torch.linalg.cholesky_ex(K)
        v = torch.cholesky_solve((st * R0.T.to(f64))[:, :, None], L)[:, :, 0]  # (k, m)
        # In float64 too: v is large along near-dependent columns of X, and X (s v)
        # cancels there.
        Y = (X.to(f64) @ (s * v.T)).to(X.dtype)
        L = None
    else:
        L, info = primal_factor(torch, X, C, lambda_reg)
        B = X @ (C * R0)  # (d, k)
        Y = torch.cholesky_solve(B.T.to(f64)[:, :, None], L)[:, :, 0].T.to(X.dtype)
    return torch.where(info[None, :] == 0, Y, torch.full_like(Y, float("nan"))), L


def focal_bce(torch, z, y, gamma):
    """``objective.focal_bce_from_logits`` in torch: log(1 + e^z) - y z, times (1 - p_t)^gamma."""
    bce = torch.nn.functional.softplus(z) - y * z
    if gamma == 0.0:
        return bce
    return (1.0 - torch.exp(-bce)) ** gamma * bce


def focal_bce_grad(torch, z, y, gamma):
    """``objective.focal_bce_grad_logits`` in torch: d FL / dz (p - y at gamma = 0)."""
    if gamma == 0.0:
        return torch.sigmoid(z) - y
    bce = torch.nn.functional.softplus(z) - y * z
    p_t = torch.exp(-bce)
    sgn = 2.0 * y - 1.0
    return sgn * (gamma * (1.0 - p_t) ** gamma * p_t * (-bce) - (1.0 - p_t) ** (gamma + 1.0))


def features(torch, R_hat, R, missing, kind):
    """``objective.aggregator_features`` in torch (``missing`` = isnan(R))."""
    if kind == "reconstruction":
        return R_hat
    filled = torch.where(missing, R_hat, R)
    return filled if kind == "filled" else torch.cat([filled, R_hat], dim=0)


def input_jacobian(w, missing, kind):
    """``objective.aggregator_input_jacobian`` for 'filled' and 'both': (m, k)."""
    m = missing.shape[0]
    if kind == "filled":
        return w[:, None] * missing
    return w[:m, None] * missing + w[m:, None]


# ----------------------------------------------------------------------------- backend
class TorchBackend:
    """R0, C (and C~) and Y as tensors on one torch device; the interface of ``BlockBackend``.

    Parameters
    ----------
    R0, C : ndarray of shape (m, n)
        Predictions (zero where missing) and base confidence (zero where missing).
    Ct : ndarray of shape (m, n), optional
        Label-aware confidence of the ALS half-steps (default: C).
    labels : ndarray of shape (n,), optional
        0/1/NaN.
    sample_weight : ndarray of shape (n_labeled,), optional
        Class weights of the labeled columns in order (default: ones).
    R_labeled : ndarray of shape (m, n_labeled), optional
        Predictions of the labeled columns, NaN where missing.
    device : None, 'cpu', 'cuda' or 'cuda:<index>', default=None
        None: CUDA when available, else the CPU. ``device`` (attribute): the one used.
    dtype : {'float64', 'float32'} or numpy dtype, default='float64'
        Working precision on the device (results come back as float64).
    block_size : int, optional
        Columns per block (default: :func:`block_size` from n and d).
    dual : bool, default=True
        With m < d and lambda > 0, solve the m x m dual systems of the projection.
    """

    def __init__(
        self,
        R0,
        C,
        *,
        Ct=None,
        labels=None,
        sample_weight=None,
        R_labeled=None,
        device=None,
        dtype="float64",
        block_size=None,
        dual=True,
    ):
        torch = import_torch()
        self._torch = torch
        self.device = resolve_device(torch, device)
        self.dtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
        self.shape = tuple(R0.shape)
        m, n = self.shape
        self._block = block_size
        self._dual = bool(dual)
        self._R0 = self._tensor(R0)
        self._C = self._tensor(C)
        self._Ct = self._C if Ct is None or Ct is C else self._tensor(Ct)
        labels = np.full(n, np.nan) if labels is None else np.asarray(labels, dtype=float)
        lab = np.flatnonzero(~np.isnan(labels))
        sw = np.ones(lab.size) if sample_weight is None else np.asarray(sample_weight, float)
        sw = sw / sw.sum() if sw.size else sw  # J's L_sup is the weighted mean over labeled
        R_L = np.full((m, lab.size), np.nan) if R_labeled is None else np.asarray(R_labeled)
        self._lab_np = lab
        self._lab = torch.as_tensor(lab, dtype=torch.long, device=self.device)
        self._y = self._tensor(labels[lab])
        self._sw = self._tensor(sw)
        self._R_L = self._tensor(np.nan_to_num(R_L, nan=0.0))
        self._missing_L = torch.as_tensor(np.isnan(R_L), device=self.device)
        self._Y = None
        self.bounds: list[tuple[int, int]] = []

    # -------------------------------------------------------------- helpers
    def _tensor(self, a):
        return self._torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device)

    def _numpy(self, t) -> np.ndarray:
        return t.detach().to("cpu", self._torch.float64).numpy()

    def _use_dual(self, d, lambda_reg) -> bool:
        return self._dual and self.shape[0] < d and lambda_reg > 0

    def _blocks(self, d):
        """Column ranges (a, b) and, per range, the slice of the labeled list inside it."""
        n = self.shape[1]
        k = max(int(self._block or block_size(n, d)), 1)
        out = []
        for a in range(0, n, k):
            b = min(a + k, n)
            p0, p1 = np.searchsorted(self._lab_np, [a, b])
            out.append((a, b, int(p0), int(p1)))
        return out

    def _sum64(self, t):
        return t.sum(dtype=self._torch.float64)

    # -------------------------------------------------------------- state
    def set_Y(self, Y: np.ndarray) -> None:
        """Place instance factors Y (d, n) on the device."""
        self._Y = self._tensor(Y)

    def gather_Y(self) -> np.ndarray:
        """The whole Y, shape (d, n), float64."""
        return self._numpy(self._Y)

    def labeled_Y(self) -> np.ndarray:
        """Y[:, labeled columns] in column order, shape (d, n_labeled)."""
        return self._numpy(self._Y[:, self._lab])

    def close(self) -> None:
        """Drop the tensors (the device memory is returned to torch's allocator)."""
        self._R0 = self._C = self._Ct = self._Y = None

    # -------------------------------------------------------------- ALS half-steps
    def update_instances(self, X, lambda_reg, *, label_aware=True) -> None:
        """Y-step on every block: y_i = A_i^-1 X C_i r_i (C~ when label_aware)."""
        torch = self._torch
        with torch.inference_mode():
            Xt = self._tensor(X)
            d = Xt.shape[0]
            C = self._Ct if label_aware else self._C
            dual = self._use_dual(d, lambda_reg)
            M = gram64(torch, Xt)
            Y = torch.empty((d, self.shape[1]), dtype=self.dtype, device=self.device)
            for a, b, _, _ in self._blocks(d):
                Y[:, a:b] = project_block(
                    torch, Xt, M, self._R0[:, a:b], C[:, a:b], lambda_reg, dual
                )[0]
            self._Y = Y

    def update_classifiers(self, lambda_reg, *, label_aware=True, x0=None) -> np.ndarray:
        """X-step: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u from normal equations summed over
        blocks; X of shape (d, m). ``x0`` is unused (exact solves)."""
        torch = self._torch
        with torch.inference_mode():
            Y = self._Y
            d = Y.shape[0]
            m = self.shape[0]
            C = self._Ct if label_aware else self._C
            A = torch.zeros((m, d * d), dtype=self.dtype, device=self.device)
            B = torch.zeros((d, m), dtype=self.dtype, device=self.device)
            for a, b, _, _ in self._blocks(d):
                Yb = Y[:, a:b]
                Cb = C[:, a:b]
                # A_u = sum_i c_ui y_i y_i^T: C (m, k) times the rows y_i (x) y_i (k, d^2).
                A += Cb @ (Yb.T[:, :, None] * Yb.T[:, None, :]).reshape(-1, d * d)
                B += Yb @ (Cb * self._R0[:, a:b]).T
            A = A.reshape(m, d, d)
            A.diagonal(dim1=1, dim2=2).add_(lambda_reg)
            X = torch.linalg.solve(A, B.T[:, :, None])[:, :, 0].T
            return self._numpy(X)

    def sq_error(self, X):
        """(sum c (r - x^T y)^2, the same with C~, |Y|^2) over all columns."""
        torch = self._torch
        with torch.inference_mode():
            Xt = self._tensor(X)
            fit = fit_t = ysq = torch.zeros((), dtype=torch.float64, device=self.device)
            for a, b, _, _ in self._blocks(Xt.shape[0]):
                Yb = self._Y[:, a:b]
                E = self._R0[:, a:b] - Xt.T @ Yb
                E2 = E * E
                fit = fit + self._sum64(self._C[:, a:b] * E2)
                fit_t = fit_t + self._sum64(self._Ct[:, a:b] * E2)
                ysq = ysq + self._sum64(Yb * Yb)
            out = torch.stack([fit, fit_t, ysq]).cpu().numpy()
        return float(out[0]), float(out[1]), float(out[2])

    # -------------------------------------------------------------- varpro
    def varpro_value_and_grad(self, X, w, b, cfg, *, with_grad=True):
        """J, its parts and its gradient (returns as ``_varpro.varpro_value_and_grad``).

        cfg : dict with rho, lambda_reg, focal_gamma, aggregator_l2, aggregator_input,
        n_observed, n_labeled. The per-block sums of ``_varpro.block_terms`` are formed on
        the device, copied back once and finished by ``_varpro.combine_terms``.
        """
        torch = self._torch
        lam = cfg["lambda_reg"]
        gamma = cfg["focal_gamma"]
        kind = cfg["aggregator_input"]
        sup_grad = with_grad and cfg["rho"] < 1.0
        with torch.inference_mode():
            Xt = self._tensor(X)
            wt = self._tensor(w)
            d, m = Xt.shape
            dual = self._use_dual(d, lam)
            M = gram64(torch, Xt)
            Xw = Xt @ wt if kind == "reconstruction" else None
            zero = torch.zeros((), dtype=torch.float64, device=self.device)
            fit, ysq, sup, gb = zero, zero, zero, zero
            gXr = torch.zeros((d, m), dtype=self.dtype, device=self.device)
            gXs = torch.zeros_like(gXr)
            gw = torch.zeros_like(wt)
            for a, bb, p0, p1 in self._blocks(d):
                R0 = self._R0[:, a:bb]
                C = self._C[:, a:bb]
                Y, L = project_block(torch, Xt, M, R0, C, lam, dual)
                R_hat = Xt.T @ Y
                resid = R0 - R_hat
                E = C * resid  # zero off Omega since C is
                fit = fit + self._sum64(E * resid)
                ysq = ysq + self._sum64(Y * Y)
                if with_grad:
                    gXr -= 2.0 * (Y @ E.T)
                if p1 == p0:
                    continue
                lab = self._lab[p0:p1] - a
                y, sw = self._y[p0:p1], self._sw[p0:p1]
                miss = self._missing_L[:, p0:p1]
                Z_L = features(torch, R_hat[:, lab], self._R_L[:, p0:p1], miss, kind)
                z = wt @ Z_L + float(b)
                sup = sup + self._sum64(sw * focal_bce(torch, z, y, gamma))
                if not sup_grad:
                    continue
                g = sw * focal_bce_grad(torch, z, y, gamma)
                Y_L = Y[:, lab]
                C_L = C[:, lab]
                if kind == "reconstruction":
                    U = None
                    rhs = Xw[:, None].expand(d, lab.numel())
                else:
                    U = input_jacobian(wt, miss, kind)
                    rhs = Xt @ U
                # Adjoint q_i = A_i^-1 X u_i: the block's primal factors, or new ones (dual).
                L_L = L[lab] if L is not None else primal_factor(torch, Xt, C_L, lam)[0]
                Q = torch.cholesky_solve(rhs.T.to(L_L.dtype)[:, :, None], L_L)[:, :, 0]
                Q = Q.T.to(self.dtype)
                Qg = Q * g
                direct = torch.outer(Y_L @ g, wt) if U is None else (Y_L * g) @ U.T
                gXs += direct + Qg @ E[:, lab].T - Y_L @ (C_L * (Xt.T @ Qg)).T
                gw += Z_L @ g
                gb = gb + self._sum64(g)
            scalars = torch.stack([fit, ysq, sup, gb]).cpu().numpy()
            terms = {
                "fit": float(scalars[0]),
                "ysq": float(scalars[1]),
                "sup": float(scalars[2]),
                "gb": float(scalars[3]),
                "gXr": self._numpy(gXr) if with_grad else None,
                "gXs": self._numpy(gXs),
                "gw": self._numpy(gw),
            }
        return combine_terms(
            terms,
            np.asarray(X, dtype=np.float64),
            np.asarray(w, dtype=np.float64),
            rho=cfg["rho"],
            lambda_reg=lam,
            aggregator_l2=cfg["aggregator_l2"],
            n_observed=cfg["n_observed"],
            has_labels=cfg["n_labeled"] > 0,
            with_grad=with_grad,
        )
