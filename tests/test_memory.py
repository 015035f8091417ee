"""No full-size temporaries on the fit path: the passes over R work column chunk by chunk.

Sizes are in units of R as float64 (m n 8 bytes); tracemalloc counts NumPy's allocations.
The chunk is made small so that a small R shows what a large one does.
"""

import tracemalloc

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble import confidence, data
from cfensemble._validation import check_probability_matrix
from cfensemble.confidence import label_aware
from cfensemble.synthetic import make_ensemble


@pytest.fixture()
def ens(monkeypatch):
    monkeypatch.setattr(confidence, "CHUNK_CELLS", 4096)
    monkeypatch.setattr(data, "CHUNK_CELLS", 4096)
    return make_ensemble(n_classifiers=10, n_instances=20_000, missing_rate=0.1, random_state=0)


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return tracemalloc.get_traced_memory()[1], out
    finally:
        tracemalloc.stop()


def test_label_aware_allocates_its_output_only(ens):
    d = ens.data
    C = d.observed.astype(float)
    peak, Ct = _peak(lambda: label_aware(C, d.R, d.labels, 1.0))
    # The output and O(n) label vectors; formerly five (m, n) temporaries too.
    assert peak < d.R.nbytes + 4 * 8 * d.n_instances
    Rz = np.nan_to_num(d.R)
    pos = (d.labels == 1.0)[None, :]
    neg = (d.labels == 0.0)[None, :]
    np.testing.assert_array_equal(Ct, C * (1.0 + pos * Rz + neg * (1.0 - Rz)))


def test_r_filled_in_float32_makes_no_float64_copy(ens):
    d = ens.data
    peak, R0 = _peak(lambda: d.R_filled(0.0, np.float32))
    assert R0.dtype == np.float32
    assert peak < 0.6 * d.R.nbytes  # the float32 output; formerly a float64 R0 first
    np.testing.assert_array_equal(R0, np.where(d.observed, d.R, 0.0).astype(np.float32))


def test_checking_r_copies_it_once(ens):
    R32 = ens.R.astype(np.float32)
    peak, R = _peak(lambda: check_probability_matrix(R32))
    # The float64 copy and the isinf mask; formerly also a copy of the present cells.
    assert peak < 1.3 * R.nbytes
    with pytest.raises(ValueError, match=r"got values in \[0.0, 1.5\]"):
        check_probability_matrix(np.array([[0.0, np.nan, 1.5]]))


def test_label_aware_in_float32_makes_no_float64_copy(ens):
    d = ens.data
    C = d.observed.astype(float)
    peak, Ct = _peak(lambda: label_aware(C, d.R, d.labels, 1.0, dtype=np.float32))
    assert Ct.dtype == np.float32
    assert peak < 0.5 * d.R.nbytes + 4 * 8 * d.n_instances
    np.testing.assert_array_equal(Ct, label_aware(C, d.R, d.labels, 1.0).astype(np.float32))


def test_float32_fit_builds_its_uniform_confidence_in_float32(ens):
    # The default confidence of a float32 fit is written in float32: formerly a float64 C
    # (twice R's float32 size) that the half-steps then copied to float32 (big_fit.md).
    from cfensemble.confidence import Confidence
    from cfensemble.optimization import CFEnsembleTrainer

    d = ens.data
    peak, C = _peak(lambda: Confidence("uniform").transform(d.R, d.observed, dtype=np.float32))
    assert C.dtype == np.float32 and peak < 0.5 * d.R.nbytes + 4096  # the output only
    np.testing.assert_array_equal(C, d.observed)
    fits = {
        dt: CFEnsembleTrainer(latent_dim=2, max_iter=2, tol=0.0, dtype=dt, random_state=0)
        for dt in ("float32", "float64")
    }
    for dt, tr in fits.items():
        with pytest.warns(ConvergenceWarning):  # 2 sweeps at tol 0: a warning, as meant
            tr.fit(d)
        assert tr.C_.dtype == np.dtype(dt)
        np.testing.assert_array_equal(tr.C_, d.observed)
    # Strategies other than 'uniform' are cast to the dtype asked for, same values.
    conf = Confidence("certainty")
    np.testing.assert_array_equal(
        conf.transform(d.R, d.observed, dtype=np.float32),
        conf.transform(d.R, d.observed).astype(np.float32),
    )


def test_ensemble_data_in_float32_holds_no_float64_copy(ens):
    # EnsembleData(dtype='float32'): R's copy is float32 (formerly always float64, twice a
    # float32 R: the largest array of a big float32 fit).
    R32 = ens.R.astype(np.float32)
    peak, d = _peak(lambda: data.EnsembleData(R32, ens.labels, dtype="float32"))
    assert d.R.dtype == np.float32 and not np.shares_memory(d.R, R32)
    # the float32 copy (0.5), the isinf and observed masks (0.125 each), O(n) labels: under
    # 0.8 of a float64 R, where a float64 copy alone is 1.0
    assert peak < 0.8 * ens.R.nbytes
    np.testing.assert_array_equal(d.R, R32)
    assert data.EnsembleData(R32, ens.labels).R.dtype == np.float64  # the default
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]"):
        data.EnsembleData(R32, ens.labels, dtype="float16")


@pytest.mark.parametrize(
    "params", [{}, {"dtype": "float32"}, {"solver": "varpro"}, {"rho": 0.5, "dtype": "float32"}]
)
def test_float32_data_fits_like_float64_data(params):
    # The same fit on R held in float32: predictions within float32 rounding, transductive
    # and by fold-in.
    from cfensemble.optimization import CFEnsembleTrainer

    e = make_ensemble(n_classifiers=8, n_instances=600, missing_rate=0.3, random_state=0)
    R32 = e.R.astype(np.float32)
    d64, d32 = data.EnsembleData(R32, e.labels), data.EnsembleData(R32, e.labels, dtype="float32")
    fits = [
        CFEnsembleTrainer(latent_dim=3, max_iter=300, random_state=0, **params).fit(d)
        for d in (d64, d32)
    ]
    np.testing.assert_allclose(fits[1].predict(), fits[0].predict(), atol=5e-5)
    new = R32[:, :40]
    np.testing.assert_allclose(fits[1].predict(new), fits[0].predict(new), atol=5e-5)
