"""Dask backend: the instance axis split into blocks that live on the workers.

Every heavy quantity of ALS and of variable projection is a sum over instances or a map
over them, so the data (R0, C, the label-aware C~, labels) is cut into column blocks once
and kept on the workers; X (d, m) and the aggregator (m + 1 numbers) travel:

* instance step: ``y_i = (X C_i X^T + lambda I)^-1 X C_i r_i`` maps over blocks with X
  broadcast; the new Y blocks stay where they are.
* classifier step: each block returns its partial normal equations
  (``sum_i c_ui y_i y_i^T``, ``sum_i c_ui r_ui y_i``); a tree reduction sums them and the
  client solves m small d x d systems.
* varpro: J and its gradient are sums over blocks of per-block terms (the projection and
  the adjoint solve run on the workers); the client only adds m d + m + 1 numbers and
  runs L-BFGS.
* the aggregator sees the labeled columns only: X^T Y_L, gathered (n_L d numbers).
"""

from __future__ import annotations

import atexit
import logging
import threading

import numpy as np

from cfensemble.optimization._als import (
    classifier_normal_equations,
    solve_normal_equations,
    update_instances,
)
from cfensemble.optimization._varpro import block_terms, combine_terms

logger = logging.getLogger("cfensemble")

_AUTO = {"cluster": None, "client": None}
_AUTO_LOCK = threading.Lock()


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ImportError(
            "backend='dask' needs dask and distributed: pip install cfensemble[dask]"
        ) from exc
    return distributed


def get_client(client=None):
    """The Dask client to run on.

    Parameters
    ----------
    client : distributed.Client, str or None
        A client; or a scheduler address such as ``'tcp://scheduler:8786'`` (a real
        cluster: start ``dask scheduler`` and ``dask worker tcp://scheduler:8786`` on the
        machines, with cfensemble installed on each); or None: the active client
        (``distributed.get_client()``), else a ``LocalCluster`` on 127.0.0.1 started once
        and closed at exit.
    """
    distributed = _import_distributed()
    if client is not None and not isinstance(client, str):
        return client
    if isinstance(client, str):
        return distributed.Client(client)
    try:
        return distributed.get_client()
    except ValueError:
        pass
    with _AUTO_LOCK:
        if _AUTO["client"] is None:
            # Threads in this process (the kernels release the GIL), TCP on loopback.
            cluster = distributed.LocalCluster(
                processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
            )
            _AUTO["cluster"] = cluster
            _AUTO["client"] = distributed.Client(cluster)
            atexit.register(_close_auto)
            logger.info("backend='dask': started a LocalCluster on 127.0.0.1")
        return _AUTO["client"]


def _close_auto() -> None:
    with _AUTO_LOCK:
        if _AUTO["client"] is not None:
            _AUTO["client"].close()
            _AUTO["cluster"].close()
            _AUTO["client"] = _AUTO["cluster"] = None


# ----------------------------------------------------------------------------- tasks
# Module-level functions: the workers import them by name. One thread each: Dask supplies
# the parallelism, and the compiled kernels must not start pools inside worker threads.
_OPTS = {"n_threads": 1}


def _y_block(block, X, lambda_reg, use_label_aware):
    C = block["Ct"] if use_label_aware else block["C"]
    return update_instances(X, block["R0"], C, lambda_reg, **_OPTS)


def _normal_block(block, Y, use_label_aware):
    C = block["Ct"] if use_label_aware else block["C"]
    return classifier_normal_equations(Y, block["R0"], C, **_OPTS)


def _labeled_block(block, Y):
    return Y[:, block["lab"]]


def _sq_block(block, X, Y):
    E = block["R0"] - X.T @ Y
    E2 = E * E
    return np.array(
        [float(np.sum(block["C"] * E2)), float(np.sum(block["Ct"] * E2)), float(np.sum(Y * Y))]
    )


def _add(a, b):
    if isinstance(a, tuple):
        return tuple(x + y for x, y in zip(a, b, strict=True))
    return a + b


def _varpro_block(block, X, w, b, cfg, with_grad):
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
        **_OPTS,
    )


def _add_dicts(a, b):
    return {k: (None if a[k] is None else a[k] + b[k]) for k in a}


# ----------------------------------------------------------------------------- backend
class DaskBackend:
    """R0, C (and C~) cut into instance blocks held on a Dask cluster.

    Parameters
    ----------
    R0 : ndarray or dask array of shape (m, n)
        Predictions, zero where missing. A dask array is used block by block along its
        column chunks without being gathered on the client.
    C : ndarray or dask array of shape (m, n)
        Base confidence, zero where missing.
    Ct : ndarray or dask array of shape (m, n), optional
        Label-aware confidence for the ALS solves (default: C).
    labels : ndarray of shape (n,), optional
        0/1/NaN; needed by the aggregator and by varpro.
    sample_weight : ndarray of shape (n_labeled,), optional
        Class weights of the labeled columns in order (default: ones).
    R_labeled : ndarray of shape (m, n_labeled), optional
        Predictions of the labeled columns with NaN where missing (aggregator inputs other
        than 'reconstruction').
    client : distributed.Client, str or None
        See :func:`get_client`.
    block_size : int, optional
        Instances per block (default: n / (2 * workers), at least 1024; the chunks of a
        dask array when R0 is one).
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
        client=None,
        block_size=None,
    ):
        self.client = get_client(client)
        m, n = R0.shape
        self.shape = (m, n)
        labels = np.full(n, np.nan) if labels is None else np.asarray(labels, dtype=float)
        lab = np.flatnonzero(~np.isnan(labels))
        sw = np.ones(lab.size) if sample_weight is None else np.asarray(sample_weight, float)
        sw = sw / sw.sum() if sw.size else sw
        bounds = self._bounds(R0, n, block_size)
        self.bounds = bounds
        blocks = []
        R_lab_pos = 0
        for a, b in bounds:
            in_block = lab[(lab >= a) & (lab < b)]
            k = in_block.size
            blk = {
                "lab": in_block - a,
                "y": labels[in_block],
                "sw": sw[R_lab_pos : R_lab_pos + k],
                "R_lab": None if R_labeled is None else R_labeled[:, R_lab_pos : R_lab_pos + k],
            }
            R_lab_pos += k
            blocks.append(blk)
        self._blocks = self._place(blocks, R0, C, Ct if Ct is not None else C)
        self._Y = None

    # -------------------------------------------------------------- placement
    def _bounds(self, R0, n, block_size):
        if _is_dask(R0):
            cols = np.cumsum((0,) + R0.chunks[1])
            return list(zip(cols[:-1].tolist(), cols[1:].tolist(), strict=True))
        if block_size is None:
            n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
            block_size = max(1024, -(-n // (2 * n_workers)))
        return [(a, min(a + block_size, n)) for a in range(0, n, block_size)]

    def _place(self, meta, R0, C, Ct):
        """One future per block holding a dict of its arrays, created on the workers."""
        futures = []
        if _is_dask(R0):
            chunks = {0: -1, 1: R0.chunks[1]}
            delayed = [a.rechunk(chunks).to_delayed()[0] for a in (R0, C, Ct)]
            for i, info in enumerate(meta):
                parts = self.client.compute([dl[i] for dl in delayed])
                futures.append(self.client.submit(_make_block, info, *parts, pure=False))
            return futures
        for info, (a, b) in zip(meta, self.bounds, strict=True):
            arrays = {
                "R0": np.ascontiguousarray(R0[:, a:b]),
                "C": np.ascontiguousarray(C[:, a:b]),
            }
            arrays["Ct"] = arrays["C"] if Ct is C else np.ascontiguousarray(Ct[:, a:b])
            # A list of one dict: one future for the whole block (a bare dict would
            # scatter its values one by one).
            futures.append(self.client.scatter([{**info, **arrays}], hash=False)[0])
        return futures

    # -------------------------------------------------------------- reductions
    def _tree_sum(self, futures, add=_add):
        futures = list(futures)
        while len(futures) > 1:
            nxt = [
                self.client.submit(add, futures[i], futures[i + 1], pure=False)
                for i in range(0, len(futures) - 1, 2)
            ]
            if len(futures) % 2:
                nxt.append(futures[-1])
            futures = nxt
        return futures[0].result()

    def _broadcast(self, arr):
        return self.client.scatter(arr, broadcast=True, hash=False)

    # -------------------------------------------------------------- ALS
    def set_Y(self, Y: np.ndarray) -> None:
        """Place instance factors Y (d, n) block by block on the workers."""
        self._Y = [
            self.client.scatter(np.ascontiguousarray(Y[:, a:b]), hash=False) for a, b in self.bounds
        ]

    def update_instances(self, X, lambda_reg, *, label_aware=True) -> None:
        """Y-step on every block; the new Y stays on the workers."""
        Xf = self._broadcast(X)
        self._Y = [
            self.client.submit(_y_block, blk, Xf, lambda_reg, label_aware, pure=False)
            for blk in self._blocks
        ]

    def update_classifiers(self, lambda_reg, *, label_aware=True) -> np.ndarray:
        """X-step: partial normal equations summed by a tree reduction; X (d, m)."""
        parts = [
            self.client.submit(_normal_block, blk, Y, label_aware, pure=False)
            for blk, Y in zip(self._blocks, self._Y, strict=True)
        ]
        A, B = self._tree_sum(parts)
        return solve_normal_equations(A, B, lambda_reg)

    def labeled_Y(self) -> np.ndarray:
        """Y[:, labeled columns] in column order, (d, n_labeled)."""
        parts = [
            self.client.submit(_labeled_block, blk, Y, pure=False)
            for blk, Y in zip(self._blocks, self._Y, strict=True)
        ]
        return np.concatenate(self.client.gather(parts), axis=1)

    def gather_Y(self) -> np.ndarray:
        """The whole Y (d, n) on the client."""
        return np.concatenate(self.client.gather(self._Y), axis=1)

    def sq_error(self, X):
        """(sum c (r - x^T y)^2, the same with the label-aware C~, |Y|^2) over all blocks."""
        Xf = self._broadcast(X)
        parts = [
            self.client.submit(_sq_block, blk, Xf, Y, pure=False)
            for blk, Y in zip(self._blocks, self._Y, strict=True)
        ]
        fit, fit_t, ysq = self._tree_sum(parts)
        return float(fit), float(fit_t), float(ysq)

    # -------------------------------------------------------------- varpro
    def varpro_value_and_grad(self, X, w, b, cfg, *, with_grad=True):
        """J and its gradient as sums over blocks; same returns as ``_varpro``'s.

        cfg : dict with rho, lambda_reg, focal_gamma, aggregator_l2, aggregator_input,
        n_observed, n_labeled.
        """
        Xf = self._broadcast(X)
        parts = [
            self.client.submit(_varpro_block, blk, Xf, w, b, cfg, with_grad, pure=False)
            for blk in self._blocks
        ]
        t = self._tree_sum(parts, _add_dicts)
        return combine_terms(
            t,
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
        """Release the blocks held on the workers."""
        futures = list(self._blocks or []) + list(self._Y or [])
        if futures:
            self.client.cancel(futures)
        self._blocks, self._Y = [], None


def _make_block(info, R0, C, Ct):
    R0 = np.ascontiguousarray(R0, dtype=float)
    C = np.ascontiguousarray(C, dtype=float)
    Ct = C if Ct is C else np.ascontiguousarray(Ct, dtype=float)
    return {**info, "R0": R0, "C": C, "Ct": Ct}


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask")
