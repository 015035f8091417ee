"""Threads: the ``n_jobs`` convention and the limits on native thread pools.

``n_jobs`` follows scikit-learn: None means 1 unless the call runs inside a
``joblib.parallel_backend`` (``parallel_config``) context, -1 means every usable core,
-2 all but one, and so on (``joblib.effective_n_jobs``). It sets how many threads run the
compiled ALS/varpro kernels (a thread pool over column ranges, ``optimization._solve``).

While those threads run, the BLAS and OpenMP pools of the process are limited to one
thread (:func:`blas_limited`, threadpoolctl): the kernels call no BLAS, and a BLAS pool
left at every core would compete with them for the cores (and its threads spin after
each call). Outside the kernels' parallel regions the pools are left as the user set them.
"""

from __future__ import annotations

import contextlib
import numbers
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
    with _LOCK:
        if "c" not in _CONTROLLER:
            from threadpoolctl import ThreadpoolController

            # Built once (it scans the loaded libraries, ~2 ms); limit() is then ~0.1 ms.
            _CONTROLLER["c"] = ThreadpoolController()
        return _CONTROLLER["c"]


@contextlib.contextmanager
def blas_limited(n_threads: int = 1):
    """Limit every BLAS and OpenMP pool to ``n_threads`` inside the block, then restore.

    The pools known are those loaded when this is first used (threadpoolctl).
    """
    with _controller().limit(limits=int(n_threads)):
        yield
