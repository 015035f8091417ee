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
