"""Backends: where the instance axis of ``CFEnsembleTrainer`` lives while it fits.

``backend='numpy'`` (:class:`InMemoryBackend`): one block in this process. ``backend='dask'``
(:class:`DaskBackend`): for solver 'als' and 'varpro', blocks held on a Dask cluster.
Both run the same per-block tasks and the trainer's one loop per solver drives either
(``cfensemble.distributed._blocks``); Dask equals NumPy to float tolerance. A dask array
R goes through the trainer as :class:`DaskEnsembleData` (chunked over instances).

The instance axis is cut into blocks held on the workers; the instance step maps over
them with X broadcast, the classifier step sums per-block normal equations by a tree
reduction, varpro's J and gradient are sums over blocks, and the aggregator sees the
labeled columns only. See :class:`DaskBackend` and :func:`get_client`.

Which cluster: the active ``distributed.Client`` if there is one; otherwise pass
``dask_client=`` to the trainer (a Client, or a scheduler address like
``'tcp://scheduler:8786'`` for a real cluster: ``dask scheduler`` on one machine,
``dask worker tcp://scheduler:8786`` on each of the others, cfensemble installed
everywhere); with neither, a ``LocalCluster`` on 127.0.0.1 is started once and closed at exit.

The Dask backend requires ``pip install cfensemble[dask]``; this package imports dask lazily.
"""

from cfensemble.distributed._backend import DaskBackend, get_client
from cfensemble.distributed._data import DaskEnsembleData
from cfensemble.distributed._memory import InMemoryBackend

__all__ = ["DaskBackend", "DaskEnsembleData", "InMemoryBackend", "get_client"]
