"""The contract every trainer and backend keeps, and the trainers as scikit-learn estimators."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from cfensemble.factory import make_trainer
from cfensemble.optimization import BaseCFTrainer, CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

M = 6


@pytest.fixture(scope="module")
def ens():
    return make_ensemble(
        n_classifiers=M, n_instances=300, missing_rate=0.2, labeled_fraction=0.5, random_state=2
    )


# (solver, extra trainer parameters, needs a Dask client)
CASES = {
    "als-numpy": ("als", {}, False),
    "als-numpy-cg-float32": ("als", {"linear_solver": "cg", "dtype": "float32"}, False),
    "varpro-numpy": ("varpro", {}, False),
    "als-dask": ("als", {"backend": "dask", "dask_block_size": 100}, True),
    "varpro-dask": ("varpro", {"backend": "dask", "dask_block_size": 100}, True),
    "pytorch": ("pytorch", {"device": "cpu", "dtype": "float64", "lr": 0.05}, False),
    "als-torch": ("als", {"backend": "torch", "device": "cpu"}, False),
    "varpro-torch": ("varpro", {"backend": "torch", "device": "cpu"}, False),
}


@pytest.fixture(params=list(CASES))
def make(request):
    solver, extra, needs_dask = CASES[request.param]
    if solver == "pytorch" or extra.get("backend") == "torch":
        pytest.importorskip("torch")
    if needs_dask:
        request.getfixturevalue("dask_client")  # the active client: dask_client=None finds it

    def build(**kw):
        params = {"latent_dim": 2, "max_iter": 4, "random_state": 0, **extra, **kw}
        return make_trainer(M, solver=solver, **params)

    return build


def _fit(trainer, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return trainer.fit(data)


def test_contract(make, ens, tmp_path):
    tr = _fit(make(), ens.data)
    n = ens.R.shape[1]
    # fit / predict shapes
    assert tr.X_.shape == (2, M) and tr.Y_.shape == (2, n)
    assert tr.predict().shape == (n,)
    assert tr.predict(ens.R[:, :7]).shape == (7,)
    assert tr.n_classifiers_ == M and tr.n_instances_ == n
    # history: one entry per iteration, every series as long
    assert 1 <= tr.n_iter_ <= 4
    lengths = {k: len(v) for k, v in tr.history_.items()}
    assert set(lengths) == {"combined", "recon", "sup", "time"}
    assert set(lengths.values()) == {tr.n_iter_}
    assert np.isfinite(tr.history_["combined"]).all()
    # determinism under random_state
    again = _fit(make(), ens.data)
    np.testing.assert_array_equal(again.X_, tr.X_)
    np.testing.assert_array_equal(again.predict(), tr.predict())
    # save / load round trip
    back = type(tr).load(tr.save(tmp_path / "model.cfe"))
    np.testing.assert_array_equal(back.predict(), tr.predict())
    np.testing.assert_array_equal(back.predict(ens.R[:, :7]), tr.predict(ens.R[:, :7]))
    # clone: same parameters, not fitted
    twin = clone(tr)
    assert twin.get_params() == tr.get_params()
    assert not hasattr(twin, "X_")
    np.testing.assert_array_equal(_fit(twin, ens.data).X_, tr.X_)


def test_n_classifiers_is_optional_and_checked(make, ens):
    tr = make()
    tr.set_params(n_classifiers=None)
    assert _fit(tr, ens.data).n_classifiers_ == M
    with pytest.raises(ValueError, match=f"n_classifiers={M + 1} but R has {M} rows"):
        clone(tr).set_params(n_classifiers=M + 1).fit(ens.data)


def test_sklearn_parameter_protocol(make):
    tr = make()
    assert isinstance(tr, BaseCFTrainer)
    params = tr.get_params(deep=True)
    assert params == tr.get_params(deep=False)  # no nested estimators
    assert tr.set_params(rho=0.25, lambda_reg=0.5) is tr
    assert tr.get_params()["rho"] == 0.25 and tr.lambda_reg == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'no_such'"):
        tr.set_params(no_such=1)
    assert "rho=0.25" in repr(tr)


def test_constructor_stores_and_fit_validates(ens):
    tr = CFEnsembleTrainer(M, latent_dim=2, rho=7.0)  # scikit-learn: no checks in __init__
    assert tr.rho == 7.0
    with pytest.raises(ValueError, match="rho must be <= 1.0"):
        tr.fit(ens.data)


def test_everything_after_latent_dim_is_keyword_only():
    with pytest.raises(TypeError):
        CFEnsembleTrainer(M, 2, 0.5)
    CFEnsembleTrainer(M, 2, rho=0.5)
    CFEnsembleTrainer(n_classifiers=M, latent_dim=2, rho=0.5, lambda_reg=0.01, max_iter=5)
