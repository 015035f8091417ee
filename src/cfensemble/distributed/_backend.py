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

from cfensemble._optional import import_optional
from cfensemble.distributed._blocks import BlockBackend, add

logger = logging.getLogger("cfensemble")

_AUTO = {"cluster": None, "client": None}
_AUTO_LOCK = threading.Lock()


def _import_distributed():
    return import_optional(
        "distributed",
        "backend='dask' needs dask and distributed: pip install cfensemble[dask]",
    )


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


# ----------------------------------------------------------------------------- backend
class DaskBackend(BlockBackend):
    """R0, C (and C~) cut into instance blocks held on a Dask cluster.

    Parameters
    ----------
    R0, C : ndarray or dask array of shape (m, n)
        Predictions and base confidence, zero where missing. A dask array is used block by
        block along its column chunks without being gathered on the client.
    client : distributed.Client, str or None
        See :func:`get_client`.
    block_size : int, optional
        Instances per block (default: n / (2 * workers), at least 1024; the chunks of a
        dask array when R0 is one).
    **data
        ``Ct``, ``labels``, ``sample_weight``, ``R_labeled`` of
        :class:`~cfensemble.distributed._blocks.BlockBackend`.
    """

    # One thread per task: Dask supplies the parallelism, and the compiled kernels must not
    # start thread pools inside worker threads.
    options = {"n_threads": 1}

    def __init__(self, R0, C, *, client=None, block_size=None, **data):
        self.client = get_client(client)
        self._block_size = block_size
        super().__init__(R0, C, **data)

    # -------------------------------------------------------------- placement
    def _block_bounds(self, R0):
        n = R0.shape[1]
        block_size = self._block_size
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

    # -------------------------------------------------------------- primitives
    def _map(self, fn, *args, per_block=None):
        if per_block is None:
            return [self.client.submit(fn, blk, *args, pure=False) for blk in self._blocks]
        return [
            self.client.submit(fn, blk, pb, *args, pure=False)
            for blk, pb in zip(self._blocks, per_block, strict=True)
        ]

    def _sum(self, futures):
        """Tree reduction of the partial results on the workers."""
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

    def _gather(self, futures):
        return self.client.gather(list(futures))

    def _share(self, arr):
        return self.client.scatter(arr, broadcast=True, hash=False)

    def _split(self, Y):
        return [
            self.client.scatter(np.ascontiguousarray(Y[:, a:b]), hash=False) for a, b in self.bounds
        ]

    def close(self) -> None:
        """Release the blocks held on the workers."""
        futures = list(self._blocks or []) + list(self._Y or [])
        if futures:
            self.client.cancel(futures)
        super().close()


def _make_block(info, R0, C, Ct):
    R0 = np.ascontiguousarray(R0, dtype=float)
    C = np.ascontiguousarray(C, dtype=float)
    Ct = C if Ct is C else np.ascontiguousarray(Ct, dtype=float)
    return {**info, "R0": R0, "C": C, "Ct": Ct}


def _is_dask(a) -> bool:
    return type(a).__module__.startswith("dask")
