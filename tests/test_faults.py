"""The fault campaign of issue 10, kept as a table: files never lost, clear one-line errors.

Each case was run by hand as a hostile or clumsy user would; the ones that misbehaved
(data loss, tracebacks, silent wrong results) are here next to those that already behaved,
so that neither kind regresses. Model-file abuse lives in test_model_files.py, the
property-based fuzzers in test_fuzz.py.
"""

import errno
import os
import resource
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cfensemble import cli
from cfensemble.cli import main, read_labels, read_predictions
from cfensemble.data import EnsembleData
from cfensemble.exceptions import (
    CFEnsembleError,
    InputTypeError,
    InvalidInputError,
    InvalidParameterError,
    NonFiniteError,
)
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

M, N = 6, 120
NAMES = [f"c{u}" for u in range(M)]
SRC = str(Path(cli.__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """R.csv (20% blank cells), y.csv (header, blanks), a fitted model.cfe and p.csv."""
    d = tmp_path_factory.mktemp("faults")
    ens = make_ensemble(n_classifiers=M, n_instances=N, missing_rate=0.2, random_state=0)
    pd.DataFrame(ens.R.T, columns=NAMES).to_csv(d / "R.csv", index=False)
    # Half the cells blank: with lambda 0 some instances have fewer cells than latent_dim.
    holey = make_ensemble(n_classifiers=M, n_instances=N, missing_rate=0.5, random_state=0)
    pd.DataFrame(holey.R.T, columns=NAMES).to_csv(d / "R_holey.csv", index=False)
    lines = ["label"] + ["" if np.isnan(v) else str(int(v)) for v in ens.labels]
    (d / "y.csv").write_text("\n".join(lines) + "\n")
    assert run("fit", *FIT_ARGS(d), "--out", d / "model.cfe") == 0
    assert run("predict", "--model", d / "model.cfe", "--predictions", d / "R.csv",
               "--out", d / "p.csv") == 0  # fmt: skip
    return d, ens


def FIT_ARGS(d):
    return ["--predictions", d / "R.csv", "--labels", d / "y.csv", "--latent-dim", "2",
            "--max-iter", "5", "--solver", "als"]  # fmt: skip


def run(*argv):
    return main([str(a) for a in argv] + ["--no-progress"])


def snapshot(folder: Path) -> dict:
    """Every file in ``folder`` with its bytes (temporary files included)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_line_error(code, capsys, rc=1) -> str:
    err = capsys.readouterr().err
    assert code == rc, err
    assert "Traceback" not in err
    lines = [x for x in err.strip().splitlines() if not x.startswith("cfensemble: warning:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def work(files, tmp_path):
    """A private copy of the files, so that a case can try to damage them."""
    d, _ = files
    for p in d.iterdir():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    return tmp_path


# ---------------------------------------------------------------------- data loss
@pytest.mark.parametrize(
    "argv, clash",
    [
        (["predict", "--model", "{w}/model.cfe", "--predictions", "{w}/R.csv",
          "--out", "{w}/R.csv"], "--predictions"),
        (["predict", "--model", "{w}/model.cfe", "--predictions", "{w}/R.csv",
          "--out", "{w}/model.cfe"], "--model"),
        (["fit", "--predictions", "{w}/R.csv", "--labels", "{w}/y.csv", "--out", "{w}/R.csv"],
         "--predictions"),
        (["fit", "--predictions", "{w}/R.csv", "--labels", "{w}/y.csv", "--out", "{w}/y.csv"],
         "--labels"),
        (["fit", "--predictions", "{w}/R.csv", "--labels", "{w}/y.csv",
          "--out", "{w}/sub/../R.csv"], "--predictions"),
        (["fit", "--predictions", "{w}/R.csv", "--labels", "{w}/y.csv",
          "--out", "{w}/symlink.csv"], "--predictions"),
        (["fit", "--predictions", "{w}/R.csv", "--labels", "{w}/y.csv",
          "--out", "{w}/hardlink.csv"], "--predictions"),
        (["predict", "--model", "{w}/model.cfe", "--predictions", "{w}/R.csv",
          "--out", "{w}/model-link.cfe"], "--model"),
    ],
)  # fmt: skip
def test_output_that_is_an_input_is_refused(argv, clash, work, capsys):
    (work / "sub").mkdir()
    os.symlink(work / "R.csv", work / "symlink.csv")
    os.link(work / "R.csv", work / "hardlink.csv")
    os.symlink(work / "model.cfe", work / "model-link.cfe")
    before = snapshot(work)
    err = one_line_error(run(*[a.format(w=work) for a in argv]), capsys)
    assert "same file as " + clash in err and "refusing to overwrite an input" in err
    assert snapshot(work) == before


def _partial_then(exc_factory):
    """A DataFrame.to_csv stand-in that writes some bytes, then fails."""

    def to_csv(self, f, *args, **kwargs):
        f.write("instance,probability\n0,0.5\n")
        raise exc_factory()

    return to_csv


@pytest.mark.parametrize(
    "exc, rc, match",
    [
        (lambda: OSError(errno.EFBIG, "File too large"), 1, "cannot write .*p.csv: File too"),
        (lambda: OSError(errno.ENOSPC, "No space left on device"), 1, "No space left"),
        (KeyboardInterrupt, 130, "interrupted"),
    ],
)
def test_failed_predict_write_keeps_the_old_output(exc, rc, match, work, capsys, monkeypatch):
    before = snapshot(work)
    monkeypatch.setattr(pd.DataFrame, "to_csv", _partial_then(exc))
    code = run("predict", "--model", work / "model.cfe", "--predictions", work / "R.csv",
               "--out", work / "p.csv")  # fmt: skip
    err = one_line_error(code, capsys, rc)
    assert __import__("re").search(match, err), err
    assert snapshot(work) == before  # p.csv intact, no temporary file left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_predict_write_keeps_the_old_output(sig, work, capsys, monkeypatch):
    before = snapshot(work)
    original = pd.DataFrame.to_csv

    def to_csv(self, f, *args, **kwargs):
        f.write("partial,")
        os.kill(os.getpid(), sig)  # held back until the temporary file is complete
        return original(self, f, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    code = run("predict", "--model", work / "model.cfe", "--predictions", work / "R.csv",
               "--out", work / "p.csv")  # fmt: skip
    one_line_error(code, capsys, 130)
    assert snapshot(work) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_model_write_keeps_the_old_model(sig, work, capsys, monkeypatch):
    before = snapshot(work)
    original = np.savez_compressed

    def savez(f, **arrays):
        f.write(b"PK partial")
        os.kill(os.getpid(), sig)
        return original(f, **arrays)

    monkeypatch.setattr(np, "savez_compressed", savez)
    code = run("fit", *FIT_ARGS(work), "--out", work / "model.cfe")
    one_line_error(code, capsys, 130)
    assert snapshot(work) == before


@pytest.mark.parametrize("host_handler", [False, True], ids=["default", "host-handler"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_fit_keeps_the_old_model(sig, host_handler, work, capsys, monkeypatch):
    # host-handler: the process had its own SIGINT/SIGTERM handler (one that does not raise,
    # as a host application or an earlier library may install): the command still stops
    # with 130, and the host's handler is back afterwards.
    # (A process started in the background by a non-interactive shell inherits SIGINT
    # ignored; Ctrl-C arriving presupposes it is not, so the test starts from Python's own
    # handler, or from the host's.)
    before = snapshot(work)

    def host(signum, frame):
        pass

    start = host if host_handler else signal.default_int_handler
    saved = {signal.SIGINT: signal.signal(signal.SIGINT, start)}
    if host_handler:
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, host)

    monkeypatch.setattr(cli, "_progress_bar", lambda *a: _KillOnSecondUpdate(sig))
    try:
        code = run("fit", *FIT_ARGS(work), "--out", work / "model.cfe")
        if host_handler:
            assert signal.getsignal(signal.SIGINT) is host
            assert signal.getsignal(signal.SIGTERM) is host
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    err = one_line_error(code, capsys, 130)
    assert "interrupted" in err
    assert snapshot(work) == before


def test_an_ignored_sigint_stays_ignored(work, capsys, monkeypatch):
    # A process started with SIGINT ignored (a background job of a script) keeps it
    # ignored, as Python itself does: the fit completes, and the handler is still SIG_IGN.
    before = snapshot(work)
    saved = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        monkeypatch.setattr(cli, "_progress_bar", lambda *a: _KillOnSecondUpdate(signal.SIGINT))
        code = run("fit", *FIT_ARGS(work), "--out", work / "model.cfe")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)
    assert code == 0, capsys.readouterr().err
    assert snapshot(work) != before  # the new model was written


class _KillOnSecondUpdate:
    """A progress bar that sends ``sig`` to this process at its second update."""

    def __init__(self, sig):
        self.sig, self.calls = sig, 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, k):
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), self.sig)

    def set_postfix(self, **kw):
        pass


def test_sigterm_to_a_real_process_exits_130(work):
    """A separate process, SIGTERM while it fits: status 130, one line, the model intact."""
    before = snapshot(work)
    code = (
        "import os, signal, sys\n"
        "from cfensemble import cli\n"
        "class Bar:\n"
        "    def __enter__(self): return self\n"
        "    def __exit__(self, *a): return False\n"
        "    def update(self, k): os.kill(os.getpid(), signal.SIGTERM)\n"
        "    def set_postfix(self, **kw): pass\n"
        "cli._progress_bar = lambda *a: Bar()\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    argv = [str(a) for a in FIT_ARGS(work)] + ["--out", str(work / "model.cfe")]
    res = subprocess.run([sys.executable, "-c", code, "fit", *argv], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": SRC}, timeout=120)  # fmt: skip
    assert res.returncode == 130, res.stderr
    assert res.stderr.strip().splitlines() == ["cfensemble: interrupted; no file was changed"]
    assert snapshot(work) == before


def _limited(limit_bytes):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return preexec


def test_file_size_limit_during_predict_write(work):
    """A real EFBIG from the kernel (RLIMIT_FSIZE): the old output stays, the message names
    the file (it said only '[Errno 27] File too large')."""
    big = pd.concat([pd.read_csv(work / "R.csv")] * 20)
    big.to_csv(work / "R_big.csv", index=False)
    before = snapshot(work)
    res = subprocess.run(
        [sys.executable, "-m", "cfensemble.cli", "predict", "--model", str(work / "model.cfe"),
         "--predictions", str(work / "R_big.csv"), "--out", str(work / "p.csv"), "--no-progress"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC},
        preexec_fn=_limited(8000), timeout=120,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert f"cannot write {work / 'p.csv'}: File too large" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert snapshot(work) == before


def test_file_size_limit_during_model_write(work):
    before = snapshot(work)
    argv = [str(a) for a in FIT_ARGS(work)] + ["--out", str(work / "model.cfe")]
    res = subprocess.run(
        [sys.executable, "-m", "cfensemble.cli", "fit", *argv, "--no-progress"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC},
        preexec_fn=_limited(4000), timeout=120,
    )  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert f"cannot write {work / 'model.cfe'}: File too large" in res.stderr
    assert snapshot(work) == before


def test_nonfinite_fit_keeps_the_old_model(work, capsys):
    """varpro, --lambda 0, missing cells: the good model stays, one line, no IndexError."""
    before = snapshot(work)
    argv = ["--predictions", work / "R_holey.csv", "--labels", work / "y.csv", "--latent-dim",
            "2", "--max-iter", "20", "--solver", "varpro", "--lambda", "0"]  # fmt: skip
    err = one_line_error(run("fit", *argv, "--out", work / "model.cfe"), capsys)
    assert "non-finite" in err and "lambda_reg" in err
    assert snapshot(work) == before


def test_als_nonfinite_is_one_line(work, capsys):
    """FloatingPointError from ALS escaped the CLI as a traceback."""
    argv = ["--predictions", work / "R_holey.csv", "--labels", work / "y.csv", "--latent-dim",
            "2", "--max-iter", "5", "--solver", "als", "--lambda", "0"]  # fmt: skip
    err = one_line_error(run("fit", *argv, "--out", work / "new.cfe"), capsys)
    assert "ALS produced non-finite factors" in err
    assert not (work / "new.cfe").exists()


def test_debug_shows_the_traceback(work):
    with pytest.raises(NonFiniteError):
        main(["fit", "--predictions", str(work / "R_holey.csv"), "--labels", str(work / "y.csv"),
              "--solver", "als", "--lambda", "0", "--max-iter", "3", "--out",
              str(work / "n.cfe"), "--no-progress", "--debug"])  # fmt: skip


# ---------------------------------------------------------------------- CLI inputs
@pytest.mark.parametrize(
    "predictions, labels, extra, rc, match",
    [
        # first data row with one field more than the header: was parsed shifted, rc 0
        ("a,b,c\n0.1,0.2,0.3,0.4\n0.9,0.8,0.7\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "0\n1\n0\n1\n",
         [], 1, "line 2: 4 field"),
        ("a,b,c\n0.1,0.2,0.3\n0.9,0.8\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "0\n1\n0\n1\n",
         [], 1, "line 3: 2 field"),
        ("a,b,a\n0.1,0.2,0.3\n", "0\n", [], 1, r"column names repeat: \['a'\]"),
        ("a,b\n", "0\n", [], 1, "holds no instances"),  # said "no classifier columns"
        ("a,b,c\n,,\n,,\n,,\n,,\n", "0\n1\n0\n1\n", [], 1, "no prediction at all"),
        ("a,b,c\n0.1,,0.3\n0.9,,0.7\n0.2,,0.1\n0.7,,0.8\n", "0\n1\n0\n1\n", [], 1,
         r"classifier column\(s\) \['b'\] hold no prediction at all"),
        ("a,b,c\n1.000000000001,0.2,0.3\n", "0\n", [], 1, "holds 1.000000000001"),
        ("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "0\n1\n0\n1\n",
         ["--max-iter", "0"], 1, "--max-iter must be >= 1, got 0"),
        ("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "0\n1\n0\n1\n",
         ["--max-iter", "-3"], 1, "--max-iter must be >= 1, got -3"),
        ('a,b,c\n0.1,"0.2,0.3\n', "0\n", [], 1, "line"),  # unterminated quote
        ("a,b,c\n0.1,0.2,\x000.3\n", "0\n", [], 1, "line 2"),  # NUL byte
        ("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "-1\n1\n-1\n1\n", [], 1,
         "-1 is not 'unlabeled' here"),
        ("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,0.3,0.1\n0.7,0.9,0.8\n", "label\n0\n1\n2\n1\n", [],
         1, r"row 3 \(line 4\) holds '2'"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_errors(predictions, labels, extra, rc, match, tmp_path, capsys):
    (tmp_path / "R.csv").write_text(predictions)
    (tmp_path / "y.csv").write_text(labels)
    code = run("fit", "--predictions", tmp_path / "R.csv", "--labels", tmp_path / "y.csv",
               "--latent-dim", "1", "--out", tmp_path / "m.cfe", *extra)  # fmt: skip
    err = one_line_error(code, capsys, rc)
    assert __import__("re").search(match, err), err
    assert not (tmp_path / "m.cfe").exists()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\n1\n0\n1\n", [np.nan, 1, 0, 1]),  # a blank first line was "empty"
        ("1.00\n0\n1\n0\n", [1, 0, 1, 0]),  # "1.00" was taken for a header
        ("label\n1.00\n0\n1\n0\n", [1, 0, 1, 0]),
        ("0\n1\n\n1\n\n\n", [0, 1, np.nan, 1]),  # trailing blank lines
        ("\ufefflabel\n1\n0\n1\n0\n", [1, 0, 1, 0]),  # a byte-order mark
        ("1\n0\nnan\n0\n", [1, 0, np.nan, 0]),
    ],
)
def test_label_files_read_as_meant(text, expected, tmp_path):
    (tmp_path / "y.csv").write_text(text, encoding="utf-8")
    np.testing.assert_array_equal(read_labels(tmp_path / "y.csv", 4), expected)


def test_byte_order_mark_does_not_rename_the_first_column(tmp_path):
    (tmp_path / "R.csv").write_text("\ufeffa,b\n0.1,0.2\n0.3,\n", encoding="utf-8")
    R, names, _, _ = read_predictions(tmp_path / "R.csv")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(R, [[0.1, 0.3], [0.2, np.nan]])


def test_non_utf8_file_is_one_line(tmp_path, capsys):
    (tmp_path / "R.csv").write_bytes(b"a,b\n0.1,\xff\n")
    (tmp_path / "y.csv").write_text("0\n")
    code = run("fit", "--predictions", tmp_path / "R.csv", "--labels", tmp_path / "y.csv",
               "--out", tmp_path / "m.cfe")  # fmt: skip
    assert "not UTF-8" in one_line_error(code, capsys)


def test_blank_instance_row_and_trailing_blank_lines_still_work(files, tmp_path, capsys):
    d, _ = files
    (tmp_path / "new.csv").write_text(",".join(NAMES) + "\n0.1,0.2,,0.4,0.5,0.6\n,,,,,\n\n\n")
    code = run("predict", "--model", d / "model.cfe", "--predictions", tmp_path / "new.csv",
               "--out", tmp_path / "p.csv")  # fmt: skip
    assert code == 0, capsys.readouterr().err
    p = pd.read_csv(tmp_path / "p.csv")["probability"].to_numpy()
    assert p.shape == (2,) and np.isfinite(p).all()


# ---------------------------------------------------------------------- library
def _ens():
    return make_ensemble(n_classifiers=M, n_instances=N, missing_rate=0.3, random_state=0)


def test_no_observed_cell_is_an_error():
    """It fitted and predicted 0.5 everywhere without a word."""
    with pytest.raises(InvalidInputError, match="no prediction at all"):
        EnsembleData(np.full((3, 5), np.nan), [0, 1, 0, 1, np.nan])


def test_classifier_without_predictions_is_an_error():
    R = np.full((3, 4), 0.5)
    R[1] = np.nan
    with pytest.raises(InvalidInputError, match=r"row\(s\) \[1\]"):
        EnsembleData(R, [0, 1, 0, 1])


def test_instance_without_predictions_is_the_documented_fallback():
    e = _ens()
    R = e.R.copy()
    R[:, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = CFEnsembleTrainer(M, 2, max_iter=5, random_state=0).fit(EnsembleData(R, e.labels))
    with pytest.warns(UserWarning, match="predicted at the labeled base rate"):
        p = tr.predict()
    assert np.isfinite(p).all() and p[0] == pytest.approx(np.nanmean(e.labels))
    np.testing.assert_array_equal(tr.Y_[:, 0], 0.0)


def test_varpro_lambda_zero_with_missing_cells_raises():
    """It returned 224 of 300 predictions NaN without an error (ALS raised a clear one)."""
    e = _ens()
    for solver in ("varpro", "als"):
        with pytest.raises(NonFiniteError, match="non-finite factors; raise lambda_reg"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                CFEnsembleTrainer(M, 2, lambda_reg=0.0, solver=solver, max_iter=20).fit(e.data)


def test_masked_cells_are_missing():
    """A masked array's mask was ignored: masked cells read as observed."""
    R = np.ma.masked_array([[0.2, 0.9, 0.4], [0.7, 0.1, 0.5]], mask=[[0, 1, 0], [0, 0, 1]])
    y = np.ma.masked_array([1.0, 0.0, 1.0], mask=[0, 0, 1])
    data = EnsembleData(R, y)
    np.testing.assert_array_equal(data.observed, [[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(data.labels, [1.0, 0.0, np.nan])
    with pytest.raises(InvalidInputError, match="masked"):
        EnsembleData(R.filled(0.5), [1, 0, 1], C=np.ma.masked_array(np.ones((2, 3)), mask=True))


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32", np.float64])
def test_numpy_dtypes_are_accepted(dtype):
    """dtype=np.float32, which the README documents, was rejected."""
    e = _ens()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = CFEnsembleTrainer(M, 2, max_iter=3, dtype=dtype, random_state=0).fit(e.data)
    assert np.isfinite(tr.predict()).all()


def test_bad_dtype_names_the_argument():
    with pytest.raises(InvalidParameterError, match="dtype must be one of"):
        CFEnsembleTrainer(M, 2, dtype=np.int32)._validate_params()


def test_torch_divergence_is_a_library_error():
    """lr=1e6 surfaced as torch._C._LinAlgError."""
    pytest.importorskip("torch")
    from cfensemble.optimization import CFEnsemblePyTorchTrainer

    with pytest.raises(NonFiniteError, match="lower lr"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            CFEnsemblePyTorchTrainer(M, 2, lr=1e6, max_epochs=30, random_state=0).fit(_ens().data)


def test_minus_one_coded_labels_say_what_minus_one_means():
    from sklearn.linear_model import LogisticRegression

    from cfensemble.estimator import CFEnsembleClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, 1, -1)
    clf = CFEnsembleClassifier(estimators=[("lr", LogisticRegression())], cv=2)
    with pytest.raises(InvalidInputError, match="-1 .* 'unlabeled'.*recode y"):
        clf.fit(X, y)
    with pytest.raises(InvalidInputError, match="-1 is not 'unlabeled' here"):
        EnsembleData(np.full((2, 3), 0.5), [1, -1, 1])


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: EnsembleData([[0.5, 1 + 1e-12]]), InvalidInputError, "1.000000000001"),
        (lambda: EnsembleData("R"), InputTypeError, "R must be a 2-D array"),
        (lambda: EnsembleData([[0.5, np.inf]]), InvalidInputError, "infinite"),
        (lambda: EnsembleData([[0.5, 0.2j]]), InputTypeError, "real numbers"),
        (lambda: EnsembleData(np.zeros((0, 3))), InvalidInputError, "must not be empty"),
        (lambda: EnsembleData([[0.5]], [2]), InvalidInputError, "0, 1 or NaN"),
        (
            lambda: CFEnsembleTrainer(M, rho=5)._validate_params(),
            InvalidParameterError,
            "rho must be <= 1.0",
        ),
        (
            lambda: CFEnsembleTrainer(M, lambda_reg=-1)._validate_params(),
            InvalidParameterError,
            "lambda_reg",
        ),
        (
            lambda: CFEnsembleTrainer(M, max_iter=0)._validate_params(),
            InvalidParameterError,
            "max_iter must be",
        ),
        (
            lambda: CFEnsembleTrainer(M, latent_dim="2")._validate_params(),
            InvalidParameterError,
            "latent_dim must be",
        ),
        (
            lambda: CFEnsembleTrainer(M, solver="x")._validate_params(),
            InvalidParameterError,
            "solver must be",
        ),
    ],
)
def test_library_errors_are_one_family(call, exc, match):
    with pytest.raises(exc, match=match) as info:
        call()
    assert isinstance(info.value, CFEnsembleError)


def test_same_seed_same_predictions(files, tmp_path, capsys):
    d, _ = files
    for k in (1, 2):
        assert run("fit", *FIT_ARGS(d), "--out", tmp_path / f"m{k}.cfe", "--seed", "3") == 0
        assert run("predict", "--model", tmp_path / f"m{k}.cfe", "--predictions", d / "R.csv",
                   "--out", tmp_path / f"p{k}.csv") == 0  # fmt: skip
    assert (tmp_path / "p1.csv").read_bytes() == (tmp_path / "p2.csv").read_bytes()


@pytest.mark.parametrize("call", ["predict", "save"])
def test_unfitted_trainer_raises_the_family_not_fitted_error(call, tmp_path):
    """predict()/save() before fit raised scikit-learn's NotFittedError, outside the family."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    tr = CFEnsembleTrainer()
    with pytest.raises(CFEnsembleError, match="not fitted") as info:
        tr.predict() if call == "predict" else tr.save(tmp_path / "m.cfe")
    assert isinstance(info.value, SklearnNotFittedError)  # scikit-learn callers still catch it


def test_every_deliberate_error_is_in_the_family():
    """No plain ``raise ValueError/TypeError/ImportError/...`` left in the package.

    persistence.py and _validation.py raise plain errors inside their readers on purpose:
    each is caught a few lines up and re-raised as ModelFileError / InputTypeError with the
    argument's or the file's name (the fault tables above check those messages).
    """
    import re
    from pathlib import Path

    import cfensemble

    plain = re.compile(
        r"raise (ValueError|TypeError|ImportError|FloatingPointError|RuntimeError)\("
    )
    internal = {"persistence.py", "_validation.py"}
    found = [
        f"{path.name}:{i}"
        for path in Path(cfensemble.__file__).parent.rglob("*.py")
        if path.name not in internal
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if plain.search(line)
    ]
    assert found == []
