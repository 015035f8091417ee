"""What every backend shares: per-block tasks and the backend operations built from them.

A backend holds R0 (predictions, zero where missing), C (base confidence) and C~ (the
label-aware confidence of ALS) cut into column blocks; X (d, m) and the aggregator
travel. Every heavy quantity of ALS and varpro is a map over blocks or a sum over them:

* instance step: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i, block by block, X broadcast;
* classifier step: per-block normal equations (sum_i c_ui y_i y_i^T, sum_i c_ui r_ui y_i)
  summed, then m small d x d solves;
* squared error: sum c (r - x^T y)^2 (with C and with C~) and |Y|^2, summed;
* varpro: J's per-block terms (``_varpro.block_terms``) summed, then ``combine_terms``.

:class:`BlockBackend` writes these operations once over three primitives that a backend
supplies: where a task runs (``_map``), how partial results are added (``_sum``) and how
blocks are gathered (``_gather``). The tasks are module-level functions so that Dask
workers import them by name.
"""

from __future__ import annotations

import numpy as np

from cfensemble.optimization._als import update_instances
from cfensemble.optimization._solve import (
    classifier_normal_equations,
    residual_sums,
    solve_normal_equations,
)
from cfensemble.optimization._varpro import block_terms, combine_terms


def block_meta(bounds, labels, sample_weight, R_labeled) -> list[dict]:
    """Per block (a, b): labeled positions in the block, their labels, weights and R columns.

    Parameters
    ----------
    bounds : list of (start, stop) column ranges covering 0..n
    labels : ndarray of shape (n,), 0/1/NaN, or None (no labels)
    sample_weight : ndarray of shape (n_labeled,) or None
        Class weights of the labeled columns in order, divided here by their sum.
    R_labeled : ndarray of shape (m, n_labeled) or None
        Predictions of the labeled columns, NaN where missing.
    """
    n = bounds[-1][1] if bounds else 0
    labels = np.full(n, np.nan) if labels is None else np.asarray(labels, dtype=float)
    lab = np.flatnonzero(~np.isnan(labels))
    sw = np.ones(lab.size) if sample_weight is None else np.asarray(sample_weight, float)
    sw = sw / sw.sum() if sw.size else sw
    meta = []
    pos = 0
    for a, b in bounds:
        in_block = lab[(lab >= a) & (lab < b)]
        k = in_block.size
        meta.append(
            {
                "lab": in_block - a,
                "y": labels[in_block],
                "sw": sw[pos : pos + k],
                "R_lab": None if R_labeled is None else R_labeled[:, pos : pos + k],
            }
        )
        pos += k
    return meta


# ----------------------------------------------------------------------------- tasks
def y_block(block, X, lambda_reg, use_label_aware, options, x0=None):
    C = block["Ct"] if use_label_aware else block["C"]
    if x0 is not None:
        options = {**options, "x0": x0}
    return update_instances(X, block["R0"], C, lambda_reg, **options)


def normal_block(block, Y, use_label_aware, options):
    C = block["Ct"] if use_label_aware else block["C"]
    opts = {k: v for k, v in options.items() if k in ("kernel", "n_threads", "dtype")}
    return classifier_normal_equations(Y, block["R0"], C, **opts)


def labeled_block(block, Y):
    return Y[:, block["lab"]]


def sq_block(block, Y, X):
    """(sum c e^2, sum c~ e^2, |Y|^2) of the block, e = r - x^T y, chunk by chunk."""
    return residual_sums(X, block["R0"], block["C"], block["Ct"], Y)


def varpro_block(block, X, w, b, cfg, with_grad, options):
    """Unnormalized per-block terms of J and its gradient (``_varpro.block_terms``)."""
    return block_terms(
        X,
        w,
        b,
        block["R0"],
        block["C"],
        block["lab"],
        block["y"],
        block["sw"],
        block["R_lab"],
        lambda_reg=cfg["lambda_reg"],
        focal_gamma=cfg["focal_gamma"],
        aggregator_input=cfg["aggregator_input"],
        with_grad=with_grad,
        sup_grad=cfg["rho"] < 1.0,
        **options,
    )


def add(a, b):
    """Sum of two partial results: arrays, tuples of arrays or dicts of terms."""
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return {k: (None if a[k] is None else a[k] + b[k]) for k in a}
    return a + b


# ----------------------------------------------------------------------------- backend
class BlockBackend:
    """The backend operations, written once over ``_map``, ``_sum`` and ``_gather``.

    Subclasses set ``self._blocks`` (one handle per block), ``self._Y`` (one per block
    after :meth:`set_Y`), ``self.options`` (keyword options of the kernels run in the
    tasks) and implement:

    * ``_map(fn, *args, per_block=None)``: ``fn(block, *args)`` for every block, or
      ``fn(block, per_block[i], *args)`` when per-block arguments are given (the block's
      Y); returns one handle per block;
    * ``_sum(handles)``: the sum of the results (:func:`add`);
    * ``_gather(handles)``: the results as a list;
    * ``_share(arr)``: a handle of an array every task reads (X);
    * ``_split(Y)``: Y (d, n) cut into one handle per block.
    """

    options: dict = {}

    def __init__(self, R0, C, *, Ct=None, labels=None, sample_weight=None, R_labeled=None):
        """Cut the data into blocks (``_block_bounds``) and place them (``_place``).

        Parameters
        ----------
        R0 : ndarray (or dask array, for a backend that takes one) of shape (m, n)
            Predictions, zero where missing.
        C : same type and shape as R0
            Base confidence, zero where missing.
        Ct : same type and shape as R0, optional
            Label-aware confidence for the ALS solves (default: C).
        labels : ndarray of shape (n,), optional
            0/1/NaN; needed by the aggregator and by varpro.
        sample_weight : ndarray of shape (n_labeled,), optional
            Class weights of the labeled columns in order (default: ones).
        R_labeled : ndarray of shape (m, n_labeled), optional
            Predictions of the labeled columns with NaN where missing (aggregator inputs
            other than 'reconstruction').
        """
        self.shape = tuple(R0.shape)
        self.bounds = self._block_bounds(R0)
        meta = block_meta(self.bounds, labels, sample_weight, R_labeled)
        self._blocks = self._place(meta, R0, C, C if Ct is None else Ct)
        self._Y = None

    def set_Y(self, Y: np.ndarray) -> None:
        """Place instance factors Y (d, n) block by block."""
        self._Y = self._split(Y)

    def update_instances(self, X, lambda_reg, *, label_aware=True) -> None:
        """Y-step on every block; the new Y stays where its block is."""
        self._Y = self._map(y_block, self._share(X), lambda_reg, label_aware, self.options)

    def update_classifiers(self, lambda_reg, *, label_aware=True, x0=None) -> np.ndarray:
        """X-step from the summed per-block normal equations; X of shape (d, m).

        ``x0`` (the previous X) is used by backends with an iterative X-step only.
        """
        parts = self._map(normal_block, label_aware, self.options, per_block=self._Y)
        A, B = self._sum(parts)
        return solve_normal_equations(A, B, lambda_reg)

    def labeled_Y(self) -> np.ndarray:
        """Y[:, labeled columns] in column order, shape (d, n_labeled)."""
        return np.concatenate(self._gather(self._map(labeled_block, per_block=self._Y)), axis=1)

    def gather_Y(self) -> np.ndarray:
        """The whole Y, shape (d, n)."""
        return np.concatenate(self._gather(self._Y), axis=1)

    def sq_error(self, X):
        """(sum c (r - x^T y)^2, the same with the label-aware C~, |Y|^2) over all blocks."""
        fit, fit_t, ysq = self._sum(self._map(sq_block, self._share(X), per_block=self._Y))
        return float(fit), float(fit_t), float(ysq)

    def varpro_value_and_grad(self, X, w, b, cfg, *, with_grad=True):
        """J, its parts and its gradient as sums over blocks (returns as ``_varpro``'s).

        cfg : dict with rho, lambda_reg, focal_gamma, aggregator_l2, aggregator_input,
        n_observed, n_labeled.
        """
        parts = self._map(varpro_block, self._share(X), w, b, cfg, with_grad, self.options)
        return combine_terms(
            self._sum(parts),
            X,
            w,
            rho=cfg["rho"],
            lambda_reg=cfg["lambda_reg"],
            aggregator_l2=cfg["aggregator_l2"],
            n_observed=cfg["n_observed"],
            has_labels=cfg["n_labeled"] > 0,
            with_grad=with_grad,
        )

    def close(self) -> None:
        """Release the blocks."""
        self._blocks, self._Y = [], None
