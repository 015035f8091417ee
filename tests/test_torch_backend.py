"""backend='torch': the same operations and fits as the NumPy backend, on a torch device.

CPU torch here (every machine has it); the CUDA test runs only where a GPU is.
"""

import sys
import warnings

import numpy as np
import pytest

from cfensemble.distributed import InMemoryBackend
from cfensemble.exceptions import InvalidParameterError, MissingDependencyError
from cfensemble.objective import class_weights, n_aggregator_features
from cfensemble.optimization import CFEnsemblePyTorchTrainer, CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

torch = pytest.importorskip("torch")

from cfensemble.distributed._torch_backend import TorchBackend, block_size  # noqa: E402

M = 6


@pytest.fixture(scope="module")
def ens():
    """Missing cells (20%), half labeled: every branch of the projection and of L_sup."""
    return make_ensemble(
        n_classifiers=M, n_instances=300, missing_rate=0.2, labeled_fraction=0.5, random_state=2
    )


def _backends(ens, Ct=False, **torch_options):
    data = ens.data
    lab = data.labeled_idx
    s = class_weights(data.labels[lab])
    C = np.where(data.observed, 0.5 + np.random.RandomState(1).rand(*data.R.shape), 0.0)
    kw = dict(
        Ct=C * 1.5 if Ct else None,
        labels=data.labels,
        sample_weight=s,
        R_labeled=data.R[:, lab],
    )
    R0 = data.R_filled(0.0)
    return InMemoryBackend(R0, C, **kw), TorchBackend(R0, C, device="cpu", **kw, **torch_options)


def _cfg(data, rho, kind, gamma=0.0):
    return {
        "rho": rho,
        "lambda_reg": 0.05,
        "focal_gamma": gamma,
        "aggregator_l2": 1e-3,
        "aggregator_input": kind,
        "n_observed": int(data.observed.sum()),
        "n_labeled": int(data.labeled_idx.size),
    }


def _point(d, kind, seed=0):
    rng = np.random.RandomState(seed)
    w = rng.standard_normal(n_aggregator_features(M, kind))
    return rng.standard_normal((d, M)), w, 0.3


@pytest.mark.parametrize("d", [3, 8])  # 3: primal d x d systems; 8 > m: the m x m dual
@pytest.mark.parametrize("kind", ["filled", "reconstruction", "both"])
@pytest.mark.parametrize("rho,gamma", [(1.0, 0.0), (0.5, 0.0), (0.5, 2.0)])
def test_value_and_grad_equal_numpy(ens, d, kind, rho, gamma):
    numpy_be, torch_be = _backends(ens, block_size=70)  # several blocks, ragged last
    X, w, b = _point(d, kind)
    cfg = _cfg(ens.data, rho, kind, gamma)
    ref = numpy_be.varpro_value_and_grad(X, w, b, cfg)
    got = torch_be.varpro_value_and_grad(X, w, b, cfg)
    for r, g in zip(ref, got, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    assert np.abs(ref[3]).max() > 1e-5  # a gradient that means something (1e4 x atol)
    if rho < 1.0:
        assert np.abs(ref[4]).max() > 1e-4  # and the aggregator's part of it
    no_grad = torch_be.varpro_value_and_grad(X, w, b, cfg, with_grad=False)
    np.testing.assert_allclose(no_grad, ref[:3], rtol=1e-10)


@pytest.mark.parametrize("d", [3, 8])
@pytest.mark.parametrize("label_aware", [True, False])
def test_half_steps_equal_numpy(ens, d, label_aware):
    numpy_be, torch_be = _backends(ens, Ct=True, block_size=70)
    Y0 = 0.1 * np.random.RandomState(3).standard_normal((d, ens.R.shape[1]))
    for be in (numpy_be, torch_be):
        be.set_Y(Y0)
    X = [be.update_classifiers(0.05, label_aware=label_aware) for be in (numpy_be, torch_be)]
    np.testing.assert_allclose(X[1], X[0], rtol=1e-10, atol=1e-13)
    for be in (numpy_be, torch_be):
        be.update_instances(X[0], 0.05, label_aware=label_aware)
    np.testing.assert_allclose(torch_be.gather_Y(), numpy_be.gather_Y(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(torch_be.labeled_Y(), numpy_be.labeled_Y(), rtol=1e-10)
    np.testing.assert_allclose(torch_be.sq_error(X[0]), numpy_be.sq_error(X[0]), rtol=1e-10)
    assert torch_be.sq_error(X[0])[0] != torch_be.sq_error(X[0])[1]  # C and C~ both used


def _fit(data, **params):
    """A fitted CFEnsembleTrainer (rank 3, 25 iterations unless given; warnings silenced)."""
    base = {"latent_dim": 3, "random_state": 0, "max_iter": 25}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleTrainer(**{**base, **params}).fit(data)


def _assert_same_fit(a, b, ens, atol):
    np.testing.assert_allclose(b.X_, a.X_, atol=atol)
    np.testing.assert_allclose(b.Y_, a.Y_, atol=atol)
    np.testing.assert_allclose(b.w_, a.w_, atol=atol)
    assert abs(b.b_ - a.b_) <= atol
    np.testing.assert_allclose(b.predict(), a.predict(), atol=atol)
    np.testing.assert_allclose(b.predict(ens.R[:, :9]), a.predict(ens.R[:, :9]), atol=atol)
    assert b.n_iter_ == a.n_iter_
    for key in ("combined", "recon", "sup"):
        np.testing.assert_allclose(b.history_[key], a.history_[key], atol=atol)


@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_varpro_fit_equals_numpy(ens, rho):
    fits = {}
    for backend, extra in (("numpy", {}), ("torch", {"device": "cpu"})):
        fits[backend] = _fit(ens.data, solver="varpro", rho=rho, backend=backend, **extra)
    _assert_same_fit(fits["numpy"], fits["torch"], ens, atol=1e-6)
    assert fits["torch"].device_ == "cpu"
    assert fits["torch"].X_.dtype == np.float64 and fits["torch"].Y_.dtype == np.float64


def test_als_fit_equals_numpy(ens):
    fits = {}
    for backend, extra in (("numpy", {}), ("torch", {"device": "cpu"})):
        fits[backend] = _fit(ens.data, solver="als", backend=backend, max_iter=8, **extra)
    _assert_same_fit(fits["numpy"], fits["torch"], ens, atol=1e-8)


def test_float32(ens):
    """float32 on the device: J and its gradient to float32 accuracy, a fit close to float64."""
    _, be64 = _backends(ens)
    _, be32 = _backends(ens, dtype="float32")
    X, w, b = _point(3, "filled")
    cfg = _cfg(ens.data, 0.5, "filled")
    ref = be64.varpro_value_and_grad(X, w, b, cfg)
    got = be32.varpro_value_and_grad(X, w, b, cfg)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5)
    np.testing.assert_allclose(got[3], ref[3], rtol=1e-3, atol=1e-5 * np.abs(ref[3]).max())
    f64 = _fit(ens.data, solver="varpro", backend="torch", device="cpu")
    f32 = _fit(ens.data, solver="varpro", backend="torch", device="cpu", dtype="float32")
    assert f32.history_["combined"][-1] == pytest.approx(f64.history_["combined"][-1], rel=1e-4)
    np.testing.assert_allclose(f32.predict(), f64.predict(), atol=1e-3)
    assert f32.X_.dtype == np.float64


def test_block_size_bounds_memory():
    assert block_size(10**6, 20) == 2**24 // 400
    assert block_size(100, 20) == 100
    assert block_size(10**9, 10**4) == 1


@pytest.mark.parametrize(
    "params,match",
    [
        ({"backend": "torch", "device": "gpu"}, "device must be 'auto' \\(or None\\), 'cpu'"),
        ({"backend": "torch", "device": "cuda:x"}, "device must be 'auto'"),
        ({"device": "cpu"}, "device='cpu' needs backend='torch', got backend='numpy'"),
        ({"backend": "torch", "linear_solver": "cg"}, "backend='torch' supports"),
        ({"solver": "varpro", "dtype": "float32"}, "solver='varpro' needs exact float64"),
    ],
)
def test_bad_parameters(ens, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        CFEnsembleTrainer(latent_dim=2, **params).fit(ens.data)


def test_cuda_requested_without_gpu_is_a_clear_error(ens):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    tr = CFEnsembleTrainer(latent_dim=2, solver="varpro", backend="torch", device="cuda")
    with pytest.raises(InvalidParameterError, match=r"device='cuda' needs CUDA.*is False"):
        tr.fit(ens.data)


def test_auto_and_none_are_one_device_rule_in_both_torch_paths(ens):
    # device='auto' (the PyTorch trainer's default) and None (backend='torch''s) mean the
    # same in both classes: CUDA when available, else the CPU, by one resolver.
    want = "cuda" if torch.cuda.is_available() else "cpu"
    for device in (None, "auto"):
        tr = _fit(ens.data, solver="varpro", backend="torch", device=device, max_iter=3)
        assert tr.device_ == want
        pt = CFEnsemblePyTorchTrainer(latent_dim=2, device=device, max_iter=3, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert pt.fit(ens.data).device_ == want


def test_n_jobs_sets_torch_threads_for_the_fit_then_restores_them(ens):
    seen = []

    def record(*_):
        seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        _fit(ens.data, solver="varpro", backend="torch", n_jobs=1, max_iter=3, callback=record)
        assert seen and set(seen) == {1} and torch.get_num_threads() == 3
        seen.clear()
        _fit(ens.data, solver="als", backend="torch", max_iter=3, callback=record)
        assert set(seen) == {3}  # None: torch's own setting, untouched
    finally:
        torch.set_num_threads(before)


def test_missing_torch_is_a_clear_error(ens, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"backend='torch' needs PyTorch"):
        CFEnsembleTrainer(latent_dim=2, backend="torch").fit(ens.data)


def test_saved_model_loads_without_cuda_and_predicts(ens, tmp_path):
    tr = _fit(ens.data, solver="varpro", backend="torch", device="cpu", max_iter=5)
    # A model fitted on a GPU names device='cuda': loading must not need one.
    tr.set_params(device="cuda")
    back = CFEnsembleTrainer.load(tr.save(tmp_path / "m.cfe"))
    assert back.device == "cuda" and back.backend == "torch" and back.device_ == "cpu"
    np.testing.assert_array_equal(back.predict(ens.R[:, :5]), tr.predict(ens.R[:, :5]))


def test_import_and_load_need_no_torch(ens, tmp_path, run_without_torch):
    tr = _fit(ens.data, solver="varpro", backend="torch", device="cpu", max_iter=3)
    path = tr.save(tmp_path / "m.cfe")
    code = (
        "import numpy as np\n"
        "from cfensemble.optimization import CFEnsembleTrainer\n"
        f"tr = CFEnsembleTrainer.load({str(path)!r})\n"
        "assert tr.predict().shape == (300,)\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    assert run_without_torch(code) == "ok"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("solver", ["varpro", "als"])
def test_cuda_matches_cpu(ens, solver):
    fits = {}
    for device in ("cpu", "cuda"):
        fits[device] = _fit(ens.data, solver=solver, backend="torch", device=device)
    assert fits["cuda"].device_ == "cuda"
    _assert_same_fit(fits["cpu"], fits["cuda"], ens, atol=1e-6)
    assert _fit(ens.data, solver=solver, backend="torch").device_ == "cuda"


def _factors_with_indefinite_float32_gram():
    """(d, m) factors whose Gram, formed in float32 by this machine's torch, is indefinite.

    Two nearly equal classifier factors of norm 3e3: the smallest eigenvalue of X^T X is
    about 6e-3 in float64, and float32 rounding of the product (about 6e-8 * 9e6) decides
    its sign. The H200 machine's torch 2.11 did not set the trap at the seed this test once
    fixed (2), which is why the seed is searched.
    Seeds are tried in order until the smallest eigenvalue is below -0.4 (far below the
    -lambda = -0.05 that makes every dual system K_i indefinite).
    """
    for seed in range(2, 202):
        rng = np.random.RandomState(seed)
        X = rng.normal(size=(M + 2, M))  # m < d: the dual systems
        X[:, 1] = X[:, 0] + 1e-4 * rng.normal(size=M + 2)
        X *= 3e3 / np.linalg.norm(X[:, 0])
        X32 = torch.as_tensor(X, dtype=torch.float32)
        if torch.linalg.eigvalsh((X32.T @ X32).double()).min() < -0.4:  # the trap is set
            return X
    pytest.fail("no seed in 2..201 gives an indefinite float32 Gram on this machine")


def test_float32_survives_an_indefinite_float32_gram(ens):
    # What ended a float32 varpro fit at n = 10^6 on an H200 (gpu.md): an L-BFGS trial step
    # far from the solution, where X^T X formed in float32 has a negative eigenvalue larger
    # than lambda, so every K_i of the m x m dual was indefinite and the projection NaN.
    # Two nearly equal classifier factors of norm 3e3 make such a Gram here (seed found by
    # search: float32 rounding decides the sign, and it depends on the BLAS and its thread
    # count, so the search runs on the machine under test; about a third of seeds set it).
    X = _factors_with_indefinite_float32_gram()
    ref = _backends(ens, dtype="float64")[1]
    t32 = _backends(ens, dtype="float32")[1]
    for be in (ref, t32):
        be.update_instances(X, 0.05, label_aware=False)
    Y32, Y64 = t32.gather_Y(), ref.gather_Y()
    assert np.isfinite(Y32).all()
    # float32 rounding, amplified by K_i^-1 near the dependent direction (entries up to 3e3):
    # measured up to 1.0% here and 1.7% (2 of 1,800 entries) on the H200 machine's torch
    # 2.11, where another seed set the trap; the old code gave NaN columns.
    np.testing.assert_allclose(X.T @ Y32, X.T @ Y64, rtol=5e-2, atol=1e-3)
    # ... and J and its gradient at that point (the adjoint solves reuse the factors).
    cfg = _cfg(ens.data, 0.5, "filled")
    w = np.full(M, 0.1)
    J32 = t32.varpro_value_and_grad(X, w, 0.0, cfg)
    J64 = ref.varpro_value_and_grad(X, w, 0.0, cfg)
    assert np.isfinite(J32[0]) and np.all(np.isfinite(J32[3]))
    np.testing.assert_allclose(J32[0], J64[0], rtol=1e-3)
