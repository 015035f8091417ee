"""Dask backend == in-memory backend (float64: 1e-8 absolute, 1e-7 relative) on a
LocalCluster on loopback. The blocks' partial sums add in another order; with factors of
size 1-5 from the SVD start, four L-BFGS steps left them 6e-8 apart (relative)."""

import numpy as np
import pytest

from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.optimization._als import update_classifiers, update_instances
from cfensemble.synthetic import make_ensemble

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def data():
    ens = make_ensemble(
        n_classifiers=8, n_instances=600, missing_rate=0.2, labeled_fraction=0.5, random_state=3
    )
    return ens.data


def _pair(data, dask_client, **kw):
    params = dict(n_classifiers=data.n_classifiers, latent_dim=3, random_state=0, **kw)
    ref = CFEnsembleTrainer(**params).fit(data)
    dist = CFEnsembleTrainer(
        **params, backend="dask", dask_client=dask_client, dask_block_size=200
    ).fit(data)
    return ref, dist


def _assert_same(ref, dist):
    assert dist.n_iter_ == ref.n_iter_
    for a, b in ((dist.X_, ref.X_), (dist.Y_, ref.Y_), (dist.w_, ref.w_), (dist.b_, ref.b_)):
        np.testing.assert_allclose(a, b, atol=1e-8, rtol=1e-7)
    for key in ("combined", "recon", "sup"):
        np.testing.assert_allclose(dist.history_[key], ref.history_[key], atol=1e-8, rtol=1e-7)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_als_dask_equals_numpy(data, dask_client):
    ref, dist = _pair(data, dask_client, max_iter=4, tol=0.0)
    _assert_same(ref, dist)
    np.testing.assert_allclose(dist.predict(), ref.predict(), atol=1e-8)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_varpro_dask_equals_numpy(data, dask_client):
    # rho=0.5: L-BFGS moves (X, w, b) together, so every fitted array is the loop's.
    ref, dist = _pair(data, dask_client, solver="varpro", max_iter=6, n_init_sweeps=1, rho=0.5)
    _assert_same(ref, dist)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_varpro_dask_equals_numpy_at_the_default_rho(data, dask_client):
    """rho=None is 1.0 for varpro: J ignores (w, b), which are refit on the final factors.

    The factors agree to 1e-8; the logistic refit on them amplifies the last digits of
    Dask's summation order (measured up to 4e-8 in w_), so the aggregator is held to 1e-6.
    """
    ref, dist = _pair(data, dask_client, solver="varpro", max_iter=6, n_init_sweeps=1)
    assert ref.rho_ == dist.rho_ == 1.0
    np.testing.assert_allclose(dist.X_, ref.X_, atol=1e-8, rtol=0)
    np.testing.assert_allclose(dist.Y_, ref.Y_, atol=1e-8, rtol=0)
    np.testing.assert_allclose(dist.w_, ref.w_, atol=1e-6, rtol=0)
    np.testing.assert_allclose(dist.predict(), ref.predict(), atol=1e-6, rtol=0)


def test_backend_accepts_dask_arrays(data, dask_client):
    """R0 and C as dask arrays chunked over instances, blocks built on the workers."""
    from cfensemble.distributed import DaskBackend

    rng = np.random.RandomState(0)
    R0 = data.R_filled(0.0)
    C = np.where(data.observed, rng.uniform(0.2, 1.0, R0.shape), 0.0)
    X = 0.3 * rng.standard_normal((3, data.n_classifiers))
    be = DaskBackend(
        da.from_array(R0, chunks=(-1, 250)), da.from_array(C, chunks=(-1, 250)), client=dask_client
    )
    try:
        assert be.bounds == [(0, 250), (250, 500), (500, 600)]
        be.update_instances(X, 0.1)
        Y = update_instances(X, R0, C, 0.1)
        np.testing.assert_allclose(be.gather_Y(), Y, atol=1e-10)
        np.testing.assert_allclose(
            be.update_classifiers(0.1), update_classifiers(Y, R0, C, 0.1), atol=1e-10
        )
    finally:
        be.close()


def test_dask_option_errors():
    with pytest.raises(ValueError, match="backend"):
        CFEnsembleTrainer(n_classifiers=3, backend="spark")._validate_params()
    with pytest.raises(ValueError, match="backend='dask' supports"):
        CFEnsembleTrainer(n_classifiers=3, backend="dask", linear_solver="cg")._validate_params()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["als", "varpro"])
@pytest.mark.parametrize("confidence", ["certainty", "calibration"])
def test_dask_array_through_the_trainer(data, dask_client, solver, confidence):
    """R as a dask array chunked over instances fits through the same loop, == NumPy."""
    from cfensemble.distributed import DaskEnsembleData

    params = dict(
        n_classifiers=data.n_classifiers,
        latent_dim=3,
        random_state=0,
        solver=solver,
        max_iter=4,
        confidence=confidence,
    )
    ref = CFEnsembleTrainer(**params).fit(data)
    lazy = DaskEnsembleData(da.from_array(data.R, chunks=(4, 250)), data.labels)
    assert lazy.n_classifiers == data.n_classifiers and lazy.n_instances == data.n_instances
    dist = CFEnsembleTrainer(**params, backend="dask", dask_client=dask_client).fit(lazy)
    _assert_same(ref, dist)
    np.testing.assert_allclose(dist.predict(), ref.predict(), atol=1e-8)
    np.testing.assert_allclose(dist.C_, ref.C_, atol=1e-12)


def test_dask_data_checks_its_values():
    from cfensemble.distributed import DaskEnsembleData

    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        DaskEnsembleData(da.from_array(np.full((3, 10), 2.0), chunks=(3, 5)))
