"""The in-memory backend: the whole instance axis as one block in this process.

The default of ``CFEnsembleTrainer(backend='numpy')``. It runs the same per-block tasks as
:class:`~cfensemble.distributed.DaskBackend` on a single block, and adds what only a local
backend offers: conjugate-gradient half-steps warm-started from the previous factors and
float32 factors (``linear_solver='cg'``, ``dtype='float32'`` of the trainer).
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from cfensemble.distributed._blocks import BlockBackend, add, y_block
from cfensemble.optimization._als import DEFAULT_CHUNK, update_classifiers
from cfensemble.optimization._solve import solve_factors_and_error


class InMemoryBackend(BlockBackend):
    """R0, C (and C~) held as NumPy arrays; one block covering every instance.

    Parameters
    ----------
    R0, C : ndarray of shape (m, n)
        Predictions (zero where missing) and base confidence (zero where missing).
    chunk_size : int, default=4096
        Instances per batched solve (memory O(chunk_size d^2)).
    linear_solver : {'cholesky', 'cg'}, default='cholesky'
        'cg': ``cg_steps`` conjugate-gradient steps per half-step, warm-started.
    cg_steps : int, default=3
    dtype : {'float64', 'float32'} or numpy dtype, default='float64'
        Precision of the ALS factors, and of R0, C and C~ as held here (float32 halves
        their memory).
    n_threads : int, default=1
        Threads of the compiled kernels (the trainer's ``n_jobs``).
    **data
        ``Ct``, ``labels``, ``sample_weight``, ``R_labeled`` of :class:`BlockBackend`.

    Notes
    -----
    R0, C and C~ are converted once, here, to C-contiguous arrays of the working dtype
    (no copy when they already are): every half-step then reads them as they are, with no
    per-sweep contiguity or dtype copies. The label-aware instance step also returns the
    squared-error sums of its solution (``solve_factors_and_error``), which
    :meth:`sq_error` hands back without another pass over R.
    """

    def __init__(
        self,
        R0,
        C,
        *,
        chunk_size=DEFAULT_CHUNK,
        linear_solver="cholesky",
        cg_steps=3,
        dtype="float64",
        n_threads=1,
        **data,
    ):
        self._dtype = np.dtype(dtype)
        super().__init__(R0, C, **data)
        self.options = {"chunk_size": chunk_size, "n_threads": n_threads}
        if self._dtype != np.float64:
            self.options["dtype"] = self._dtype
        self._cg = linear_solver == "cg"
        if self._cg:
            self.options.update(method="cg", cg_steps=cg_steps)
        self._err = None  # (X, sums) of the last label-aware instance step

    def _block_bounds(self, R0):
        return [(0, R0.shape[1])]

    def _place(self, meta, R0, C, Ct):
        (info,) = meta
        dt = self._dtype
        R0c, Cc = np.ascontiguousarray(R0, dtype=dt), np.ascontiguousarray(C, dtype=dt)
        Ctc = Cc if Ct is C else np.ascontiguousarray(Ct, dtype=dt)
        return [{**info, "R0": R0c, "C": Cc, "Ct": Ctc}]

    # -------------------------------------------------------------- primitives
    def _map(self, fn, *args, per_block=None):
        if per_block is None:
            return [fn(blk, *args) for blk in self._blocks]
        return [fn(blk, pb, *args) for blk, pb in zip(self._blocks, per_block, strict=True)]

    def _sum(self, parts):
        return reduce(add, parts)

    def _gather(self, parts):
        return list(parts)

    def _share(self, arr):
        return arr

    def _split(self, Y):
        return [Y]

    # -------------------------------------------------------------- ALS half-steps
    def update_instances(self, X, lambda_reg, *, label_aware=True) -> None:
        """Y-step (CG warm-started from the current Y when ``linear_solver='cg'``).

        The label-aware step (the ALS loop) keeps the squared-error sums of its solution
        for :meth:`sq_error`.
        """
        x0 = self._Y[0] if self._cg else None
        if not label_aware:
            self._err = None
            self._Y = [y_block(self._blocks[0], X, lambda_reg, label_aware, self.options, x0)]
            return
        blk = self._blocks[0]
        opts = {**self.options, "x0": x0} if self._cg else self.options
        Y, (fit_t, fit, ysq) = solve_factors_and_error(
            X, blk["R0"], blk["Ct"], blk["C"], lambda_reg, **opts
        )
        self._Y = [Y]
        self._err = (X, (float(fit), float(fit_t), float(ysq)))

    def sq_error(self, X):
        """As :meth:`BlockBackend.sq_error`; free after a label-aware instance step with X."""
        if self._err is not None and self._err[0] is X:
            return self._err[1]
        return super().sq_error(X)

    def labeled_Y(self) -> np.ndarray:
        """Y[:, labeled columns], shape (d, n_labeled): one gather, no concatenation."""
        return np.take(self._Y[0], self._blocks[0]["lab"], axis=1)

    def set_Y(self, Y: np.ndarray) -> None:
        """Hold Y (d, n) in the working dtype (the half-steps read it in that dtype)."""
        self._err = None
        super().set_Y(np.ascontiguousarray(Y, dtype=self._dtype))

    def update_classifiers(self, lambda_reg, *, label_aware=True, x0=None) -> np.ndarray:
        """X-step solved directly (not through summed normal equations): CG needs ``x0``."""
        blk = self._blocks[0]
        C = blk["Ct"] if label_aware else blk["C"]
        opts = {**self.options, "x0": x0} if self._cg else self.options
        return update_classifiers(self._Y[0], blk["R0"], C, lambda_reg, **opts)
