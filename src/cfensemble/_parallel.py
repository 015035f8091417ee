"""Threads: the ``n_jobs`` convention and the limits on native thread pools.

``n_jobs`` follows scikit-learn: None means 1 unless the call runs inside a
``joblib.parallel_backend`` (``parallel_config``) context, -1 means every usable core,
-2 all but one, and so on (``joblib.effective_n_jobs``). It sets how many threads run the
compiled ALS/varpro kernels (a thread pool over column ranges, ``optimization._solve``).

While those threads run, the BLAS and OpenMP pools of the process are limited to one
thread (:func:`blas_limited`, threadpoolctl): the kernels call no BLAS, and a BLAS pool
left at every core would compete with them for the cores (and its threads spin after
each call). Outside the kernels' parallel regions the pools are left as the user set them.

torch (``CFEnsemblePyTorchTrainer``, ``backend='torch'``) runs its own intra-op pool:
``n_jobs`` given sets it for the fit (:func:`torch_threads`); None leaves it as torch has
it, as scikit-learn leaves BLAS pools alone.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import threading

from cfensemble.exceptions import InputTypeError, InvalidParameterError

_CONTROLLER: dict = {}
_LOCK = threading.Lock()


def check_n_jobs(n_jobs, name: str = "n_jobs"):
    """Check ``n_jobs``: None or a nonzero integer (negative counts back from the cores)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise InputTypeError(
            f"{name} must be None or a nonzero integer (-1: all cores), got "
            f"{n_jobs!r} of type {type(n_jobs).__name__}"
        )
    if n_jobs == 0:
        raise InvalidParameterError(
            f"{name} must be None or a nonzero integer (-1: all cores), got 0"
        )
    return int(n_jobs)


def effective_threads(n_jobs) -> int:
    """Threads that ``n_jobs`` means here and now (``joblib.effective_n_jobs``), >= 1."""
    from joblib import effective_n_jobs

    return max(1, int(effective_n_jobs(check_n_jobs(n_jobs))))


def _controller():
    """threadpoolctl's view of the loaded pools, rebuilt when modules were imported since.

    Building it scans the loaded libraries (~2 ms); ``limit`` on it is ~0.1 ms. A new
    native pool arrives with an import, so the count of imported modules tells when to look
    again.
    """
    with _LOCK:
        key = len(sys.modules)
        if _CONTROLLER.get("key") != key:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER["c"] = ThreadpoolController()
            _CONTROLLER["key"] = len(sys.modules)
        return _CONTROLLER["c"]


@contextlib.contextmanager
def blas_limited(n_threads: int = 1, user_api=None):
    """Limit every BLAS and OpenMP pool to ``n_threads`` inside the block, then restore.

    OpenMP's thread count is a per-thread setting: a worker thread that may reach OpenMP
    code limits it in that thread (``user_api='openmp'``, see :func:`run_limited`).
    """
    with _controller().limit(limits=int(n_threads), user_api=user_api):
        yield


def run_limited(fn):
    """``fn`` wrapped to run with OpenMP at one thread in whichever thread calls it."""

    def task(*args):
        with blas_limited(1, user_api="openmp"):
            return fn(*args)

    return task


@contextlib.contextmanager
def torch_threads(n_jobs):
    """torch's intra-op threads at ``effective_threads(n_jobs)`` inside the block, then
    restored; ``n_jobs=None`` leaves them as they are (``torch.get_num_threads()``).
    Called where torch is already imported (a torch fit)."""
    if n_jobs is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(effective_threads(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(before)
