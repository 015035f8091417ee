"""Fast ALS/varpro kernels against the per-row reference, chunked against unchunked."""

import tracemalloc

import numpy as np
import pytest

from cfensemble.optimization import CFEnsembleTrainer, _als, _solve
from cfensemble.optimization._als import (
    batched_solve,
    classifier_normal_equations,
    numba_available,
    solve_normal_equations,
    update_classifiers,
    update_instances,
)
from cfensemble.optimization._reference import (
    update_classifiers_reference,
    update_instances_reference,
)
from cfensemble.optimization._varpro import VarproProblem, varpro_value_and_grad
from cfensemble.synthetic import make_ensemble

KERNELS = ["numpy"] + (["numba"] if numba_available() else [])


def _problem(m=9, n=203, d=4, missing=0.3, seed=0):
    rng = np.random.RandomState(seed)
    R0 = rng.rand(m, n)
    C = rng.uniform(0.1, 2.0, (m, n))
    miss = rng.rand(m, n) < missing
    R0[miss] = 0.0
    C[miss] = 0.0
    X = rng.standard_normal((d, m))
    Y = rng.standard_normal((d, n))
    return R0, C, X, Y


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape", [(9, 203, 4), (5, 64, 7), (15, 130, 20), (3, 1, 2)])
def test_kernels_equal_reference(kernel, shape):
    m, n, d = shape
    R0, C, X, Y = _problem(m, n, d)
    for lam in (0.05, 1.0):
        np.testing.assert_allclose(
            update_instances(X, R0, C, lam, kernel=kernel),
            update_instances_reference(X, R0, C, lam),
            atol=1e-8,
            rtol=0,
        )
        np.testing.assert_allclose(
            update_classifiers(Y, R0, C, lam, kernel=kernel),
            update_classifiers_reference(Y, R0, C, lam),
            atol=1e-8,
            rtol=0,
        )


@pytest.mark.parametrize("kernel", KERNELS)
def test_chunked_and_threaded_equal_unchunked(kernel, monkeypatch):
    # Ranges of one block each, so that 517 columns are split over the threads.
    monkeypatch.setattr(_solve, "MIN_RANGE", _solve.BLOCK)
    R0, C, X, Y = _problem(m=7, n=517, d=5, seed=1)
    full = update_instances(X, R0, C, 0.1, kernel=kernel, chunk_size=10_000, n_threads=1)
    for chunk, threads in [(7, 1), (64, 3), (100, 2), (517, 4)]:
        np.testing.assert_allclose(
            update_instances(X, R0, C, 0.1, kernel=kernel, chunk_size=chunk, n_threads=threads),
            full,
            atol=1e-12,
        )
    Xf = update_classifiers(Y, R0, C, 0.1, kernel=kernel, n_threads=1)
    np.testing.assert_allclose(
        update_classifiers(Y, R0, C, 0.1, kernel=kernel, n_threads=3), Xf, atol=1e-12
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_block_normal_equations_sum_to_the_classifier_step(kernel):
    """What the Dask backend reduces: per-block partial sums, then one solve."""
    R0, C, X, Y = _problem(m=6, n=300, d=3, seed=2)
    parts = [
        classifier_normal_equations(Y[:, a:b], R0[:, a:b], C[:, a:b], kernel=kernel)
        for a, b in [(0, 70), (70, 71), (71, 300)]
    ]
    A = sum(p[0] for p in parts)
    B = sum(p[1] for p in parts)
    np.testing.assert_allclose(
        solve_normal_equations(A, B, 0.2), update_classifiers_reference(Y, R0, C, 0.2), atol=1e-10
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_float32_option(kernel):
    R0, C, X, Y = _problem(m=8, n=150, d=3, seed=3)
    ref = update_instances(X, R0, C, 0.1, kernel=kernel)
    Y32 = update_instances(X, R0, C, 0.1, kernel=kernel, dtype=np.float32)
    assert Y32.dtype == np.float32
    np.testing.assert_allclose(Y32, ref, rtol=1e-4, atol=1e-4)
    X32 = update_classifiers(Y, R0, C, 0.1, kernel=kernel, dtype=np.float32)
    assert X32.dtype == np.float32
    np.testing.assert_allclose(X32, update_classifiers(Y, R0, C, 0.1), rtol=1e-4, atol=1e-4)


def test_cg_converges_to_the_direct_solution():
    R0, C, X, Y = _problem(m=8, n=200, d=4, seed=4)
    exact = update_instances(X, R0, C, 0.1)
    warm = exact + 0.05 * np.random.RandomState(0).standard_normal(exact.shape)
    err = [
        np.abs(update_instances(X, R0, C, 0.1, method="cg", cg_steps=k, x0=warm) - exact).max()
        for k in (1, 2, 3)
    ]
    assert err[0] < np.abs(warm - exact).max() and err[2] < err[0]
    # d steps of CG are exact in exact arithmetic.
    np.testing.assert_allclose(
        update_instances(X, R0, C, 0.1, method="cg", cg_steps=12), exact, atol=1e-8
    )
    np.testing.assert_allclose(
        update_classifiers(Y, R0, C, 0.1, method="cg", cg_steps=12),
        update_classifiers_reference(Y, R0, C, 0.1),
        atol=1e-8,
    )


def test_instance_step_memory_is_not_n_d_d():
    """Never an (n, d, d) array at once: peak allocations far below n d^2 floats."""
    R0, C, X, _ = _problem(m=6, n=20_000, d=12, missing=0.0, seed=5)
    update_instances(X, R0, C, 0.1)  # compile / warm caches outside the trace
    tracemalloc.start()
    update_instances(X, R0, C, 0.1, chunk_size=1024)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20_000 * 12 * 12 * 8 / 4, peak


@pytest.mark.parametrize("kernel", KERNELS)
def test_varpro_kernels_agree(kernel, monkeypatch):
    s = make_ensemble(n_classifiers=6, n_instances=300, missing_rate=0.2, random_state=0)
    R0 = s.data.R_filled(0.0)
    C = np.where(s.data.observed, 0.5 + np.abs(R0 - 0.5), 0.0)
    lab = s.data.labeled_idx
    y = s.data.labels[lab]
    P = VarproProblem(R0, C, lab, y, np.ones(lab.size), int(s.data.observed.sum()), 0.5, 0.05)
    rng = np.random.RandomState(0)
    X, w = rng.standard_normal((3, 6)), rng.standard_normal(6)
    out_auto = varpro_value_and_grad(X, w, 0.1, P)
    monkeypatch.setitem(_als._NUMBA_STATE, "fn", None)  # force the NumPy/LAPACK path
    out_np = varpro_value_and_grad(X, w, 0.1, P)
    for a, b in zip(out_auto, out_np, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-10)


def test_option_errors(monkeypatch):
    R0, C, X, Y = _problem()
    with pytest.raises(ValueError, match="method must be one of"):
        update_instances(X, R0, C, 0.1, method="lu")
    with pytest.raises(ValueError, match="kernel must be one of"):
        update_instances(X, R0, C, 0.1, kernel="cuda")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        batched_solve(X, C, X @ C, 0.1, dtype=np.int32)
    with pytest.raises(ValueError, match="x0 must have shape"):
        update_instances(X, R0, C, 0.1, method="cg", x0=np.zeros((2, 2)))
    monkeypatch.setitem(_als._NUMBA_STATE, "fn", None)
    with pytest.raises(ImportError, match=r"cfensemble\[fast\]"):
        update_instances(X, R0, C, 0.1, kernel="numba")
    with pytest.raises(ValueError, match="needs exact float64 solves"):
        CFEnsembleTrainer(n_classifiers=3, solver="varpro", linear_solver="cg")._validate_params()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_trainer_cg_and_float32_track_cholesky():
    s = make_ensemble(n_classifiers=8, n_instances=600, random_state=1)
    base = dict(n_classifiers=8, latent_dim=3, max_iter=15, random_state=0)
    ref = CFEnsembleTrainer(**base).fit(s.data).predict()
    for kw in (dict(linear_solver="cg", cg_steps=3), dict(dtype="float32")):
        p = CFEnsembleTrainer(**base, **kw).fit(s.data).predict()
        assert np.corrcoef(p, ref)[0, 1] > 0.99, kw


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "opts", [{}, {"dual": False}, {"method": "cg"}], ids=["default", "primal", "cg"]
)
@pytest.mark.parametrize("shape", [(7, 300, 12), (9, 203, 4)], ids=["k<d", "k>d"])
def test_solve_factors_and_error_matches_a_separate_pass(kernel, dtype, opts, shape):
    """The residual sums that come out of the solve equal sum W e^2, sum V e^2, |Z|^2."""
    m, n, d = shape
    R0, W, X, _ = _problem(m=m, n=n, d=d, seed=3)
    V = W * np.random.RandomState(4).uniform(0.2, 1.0, W.shape)
    V[0, :5] = 0.7  # cells the solve does not weigh (w = 0) still count in sum V e^2
    R0[0, :5] = 0.3
    Z, err = _solve.solve_factors_and_error(X, R0, W, V, 0.1, kernel=kernel, dtype=dtype, **opts)
    np.testing.assert_array_equal(
        Z, _solve.solve_factors(X, R0, W, 0.1, kernel=kernel, dtype=dtype, **opts)
    )
    Xd = X.astype(dtype).astype(float)
    R0d, Wd, Vd = (a.astype(dtype).astype(float) for a in (R0, W, V))
    E = R0d - Xd.T @ Z.astype(float)
    ref = [np.sum(Wd * E * E), np.sum(Vd * E * E), np.sum(Z.astype(float) ** 2)]
    np.testing.assert_allclose(err, ref, rtol=1e-11 if dtype == np.float64 else 1e-5)


def test_varpro_terms_do_not_depend_on_the_residual_chunk(monkeypatch):
    from cfensemble.optimization import _varpro

    s = make_ensemble(n_classifiers=6, n_instances=300, missing_rate=0.2, random_state=0)
    R0 = s.data.R_filled(0.0)
    C = np.where(s.data.observed, 0.5 + np.abs(R0 - 0.5), 0.0)
    lab = s.data.labeled_idx
    y = s.data.labels[lab]
    R_L = s.data.R[:, lab]
    P = VarproProblem(R0, C, lab, y, np.ones(lab.size), int(s.data.observed.sum()), 0.5, 0.05)
    P = P._replace(aggregator_input="filled", R_labeled=R_L)
    rng = np.random.RandomState(0)
    X, w = rng.standard_normal((3, 6)), rng.standard_normal(6)
    whole = varpro_value_and_grad(X, w, 0.1, P)
    monkeypatch.setattr(_varpro, "RESIDUAL_CHUNK", 64)
    for a, b in zip(varpro_value_and_grad(X, w, 0.1, P), whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
