"""The names a user can pass for solvers, confidence strategies and backends, in one place.

Every layer that checks or lists these names (the trainers, the factory, the estimator, the
CLI, the benchmark) reads them here. Backends are plug-ins named by ``"module:Class"`` and
imported when first used, so the trainers (``cfensemble.optimization``) never import the
backends' package (``cfensemble.distributed``), which itself imports the optimization kernels.
"""

from __future__ import annotations

import importlib

from cfensemble.confidence import STRATEGIES

#: solver name -> the trainer class that runs it (classes live in cfensemble.optimization).
SOLVERS: dict[str, str] = {
    "als": "CFEnsembleTrainer",
    "varpro": "CFEnsembleTrainer",
    "pytorch": "CFEnsemblePyTorchTrainer",
}
#: the solvers of ``CFEnsembleTrainer(solver=...)``.
NUMPY_SOLVERS = tuple(k for k, v in SOLVERS.items() if v == "CFEnsembleTrainer")
#: base confidence strategies (``cfensemble.confidence.Confidence``).
CONFIDENCES: tuple[str, ...] = STRATEGIES
#: backend name -> "module:Class"; every class has the interface of
#: ``cfensemble.distributed._blocks.BlockBackend``.
BACKENDS: dict[str, str] = {
    "numpy": "cfensemble.distributed._memory:InMemoryBackend",
    "dask": "cfensemble.distributed._backend:DaskBackend",
    "torch": "cfensemble.distributed._torch_backend:TorchBackend",
}


def backend_class(name: str):
    """The backend class registered under ``name`` (imported on first use)."""
    module, _, cls = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
