import subprocess
import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cfensemble.synthetic import make_ensemble


@pytest.fixture(scope="session", autouse=True)
def _single_threaded_blas():
    """Every test problem is tiny: BLAS/OpenMP threads only add contention.

    Measured on the shared 2-core machine: small fits ran 2-30x slower with the default
    thread pools (HistGradientBoosting 4.6 s against 0.17 s).
    """
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def small_ensemble():
    """m=8 classifiers, n=600 instances, half labeled, 10% positives."""
    return make_ensemble(n_classifiers=8, n_instances=600, random_state=0)


@pytest.fixture(scope="session")
def missing_ensemble():
    return make_ensemble(n_classifiers=8, n_instances=600, missing_rate=0.3, random_state=1)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture(scope="module")
def dask_client():
    """A LocalCluster on 127.0.0.1: 2 in-process workers of 1 thread, no dashboard."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


_NO_TORCH = (
    "import sys\n"
    "class NoTorch:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'torch' or name.startswith('torch.'):\n"
    "            raise ImportError('No module named torch')\n"
    "sys.meta_path.insert(0, NoTorch())\n"
)


@pytest.fixture
def run_without_torch():
    """Run Python ``code`` in a fresh interpreter where importing torch fails, as if it were
    not installed (a finder that refuses it); returns its stripped stdout, asserts rc 0."""

    def run(code: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", _NO_TORCH + code], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    return run
