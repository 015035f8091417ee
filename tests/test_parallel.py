"""n_jobs: validation, the joblib convention, equal results at any thread count, and the
BLAS/OpenMP pools held at one thread while the kernels' threads run."""

import warnings

import numpy as np
import pytest
from joblib import cpu_count, parallel_backend
from threadpoolctl import threadpool_info

from cfensemble import _parallel
from cfensemble.cli import main
from cfensemble.estimator import CFEnsembleClassifier
from cfensemble.exceptions import CFEnsembleError
from cfensemble.optimization import CFEnsembleTrainer, _solve
from cfensemble.optimization._als import numba_available
from cfensemble.persistence import load, save
from cfensemble.synthetic import make_ensemble


def _fit(data, **kw):
    params = dict(latent_dim=3, max_iter=6, tol=0.0, random_state=0, aggregator="weighted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleTrainer(**{**params, **kw}).fit(data)


def _blas_threads():
    return sorted({p["num_threads"] for p in threadpool_info()})


@pytest.mark.parametrize("bad", [0, 1.5, "x", True])
def test_bad_n_jobs_is_refused_naming_it(small_ensemble, bad):
    with pytest.raises(CFEnsembleError, match="n_jobs") as exc:
        CFEnsembleTrainer(latent_dim=2, n_jobs=bad).fit(small_ensemble.data)
    assert isinstance(exc.value, ValueError | TypeError)
    assert repr(bad) in str(exc.value)


def test_n_jobs_follows_the_joblib_convention():
    assert _parallel.effective_threads(None) == 1
    assert _parallel.effective_threads(3) == 3
    assert _parallel.effective_threads(-1) == cpu_count()
    assert _parallel.effective_threads(-2) == max(1, cpu_count() - 1)
    with parallel_backend("threading", n_jobs=4):
        assert _parallel.effective_threads(None) == 4


@pytest.mark.parametrize(
    "params",
    [{}, {"latent_dim": 12}, {"solver": "varpro", "max_iter": 8}, {"dtype": "float32"}],
    ids=["als", "als-dual", "varpro", "float32"],
)
def test_results_do_not_depend_on_n_jobs(missing_ensemble, monkeypatch, params):
    # Ranges of one block, so that the 600 columns are split over the threads.
    monkeypatch.setattr(_solve, "MIN_RANGE", _solve.BLOCK)
    one = _fit(missing_ensemble.data, n_jobs=1, **params)
    two = _fit(missing_ensemble.data, n_jobs=2, **params)
    tol = 1e-4 if params.get("dtype") == "float32" else 1e-10
    for a, b in [(one.X_, two.X_), (one.Y_, two.Y_), (one.w_, two.w_)]:
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(a).max()))
    np.testing.assert_allclose(one.history_["combined"], two.history_["combined"], rtol=tol)


def test_kernel_threads_run_with_blas_at_one_thread():
    seen = []
    _solve._run_ranges(lambda ab: seen.append(_blas_threads()), [(0, 1), (1, 2)], 2)
    assert seen == [[1], [1]]


def test_blas_limited_restores_the_pools():
    before = _blas_threads()
    with _parallel.blas_limited(1):
        assert _blas_threads() == [1]
    assert _blas_threads() == before


@pytest.mark.skipif(not numba_available(), reason="the limit applies on the compiled kernels")
def test_als_loop_runs_with_blas_at_one_thread(small_ensemble):
    """The callback runs inside the loop: BLAS must be at one thread there (see
    CFEnsembleTrainer._loop_blas_threads), and back to its setting after fit."""
    before = _blas_threads()
    seen = []
    _fit(small_ensemble.data, n_jobs=2, callback=lambda it, loss: seen.append(_blas_threads()))
    assert seen and all(s == [1] for s in seen)
    assert _blas_threads() == before


def test_n_jobs_round_trips_through_a_model_file(small_ensemble, tmp_path):
    tr = _fit(small_ensemble.data, n_jobs=2)
    save(tr, tmp_path / "m.cfe")
    back = load(tmp_path / "m.cfe")
    assert back.n_jobs == 2 and back.get_params()["n_jobs"] == 2


def test_estimator_passes_n_jobs_to_the_trainer():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB

    X, y = make_classification(n_samples=200, random_state=0)
    clf = CFEnsembleClassifier(
        [("lr", LogisticRegression()), ("nb", GaussianNB())],
        latent_dim=1,
        max_iter=3,
        cv=3,
        n_jobs=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert clf.trainer_.n_jobs == 2


def test_estimator_passes_n_jobs_to_the_pytorch_trainer():
    pytest.importorskip("torch")
    pt = CFEnsembleClassifier(solver="pytorch", n_jobs=2)._make_trainer(2)
    assert type(pt).__name__ == "CFEnsemblePyTorchTrainer" and pt.n_jobs == 2


def _cli_base(tmp_path, solver):
    ens = make_ensemble(n_classifiers=4, n_instances=200, random_state=0)
    np.savetxt(tmp_path / "R.csv", ens.R.T, delimiter=",", header="a,b,c,d", comments="")
    lines = ["label"] + ["" if np.isnan(v) else str(int(v)) for v in ens.labels]
    (tmp_path / "y.csv").write_text("\n".join(lines) + "\n")
    base = ["fit", "--predictions", tmp_path / "R.csv", "--labels", tmp_path / "y.csv"]
    return base + ["--solver", solver, "--latent-dim", "2", "--max-iter", "3", "--no-progress"]


def test_cli_n_jobs(tmp_path, capsys):
    base = _cli_base(tmp_path, "als")
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in base + ["--n-jobs", "0", "--out", tmp_path / "m0.cfe"]])
    assert exc.value.code == 2 and "--n-jobs" in capsys.readouterr().err
    code = main([str(a) for a in base + ["--n-jobs", "2", "--out", tmp_path / "m.cfe"]])
    assert code == 0, capsys.readouterr().err
    assert load(tmp_path / "m.cfe").n_jobs == 2


def test_cli_n_jobs_sets_torch_threads_with_pytorch(tmp_path, capsys):
    # It used to refuse the option for --solver pytorch.
    pytest.importorskip("torch")
    pt = _cli_base(tmp_path, "pytorch")
    code = main([str(a) for a in pt + ["--n-jobs", "2", "--out", tmp_path / "p.cfe"]])
    assert code == 0, capsys.readouterr().err
    assert load(tmp_path / "p.cfe").n_jobs == 2
    # Without --n-jobs: one thread, as for als/varpro (torch's every-core default made a
    # small fit 10x slower on a loaded machine).
    code = main([str(a) for a in pt + ["--out", tmp_path / "p1.cfe"]])
    assert code == 0, capsys.readouterr().err
    assert load(tmp_path / "p1.cfe").n_jobs == 1
    assert "epochs" in capsys.readouterr().out
