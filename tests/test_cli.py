"""The cfensemble command: fit -> predict round trips, layouts, blanks, user errors, demo."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cfensemble.cli import main
from cfensemble.persistence import load
from cfensemble.synthetic import make_ensemble

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
M, N = 6, 300
NAMES = [f"model_{u}" for u in range(M)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """R (with blank cells), labels (with blanks), a new R with columns reordered."""
    d = tmp_path_factory.mktemp("cli")
    ens = make_ensemble(n_classifiers=M, n_instances=N, missing_rate=0.2, random_state=0)
    df = pd.DataFrame(ens.R.T, columns=NAMES)
    df.insert(0, "sample", [f"s{i}" for i in range(N)])
    df.to_csv(d / "R.csv", index=False)
    # Labels with blanks for unlabeled rows: one value per line, a header.
    lines = ["label"] + ["" if np.isnan(v) else str(int(v)) for v in ens.labels]
    (d / "y.csv").write_text("\n".join(lines) + "\n")
    new = df.iloc[:40]
    new[["sample"] + NAMES[::-1]].to_csv(d / "R_new.csv", index=False)
    if HAS_PYARROW:
        df.to_parquet(d / "R.parquet", index=False)
        new.to_parquet(d / "R_new.parquet", index=False)
    return d, ens


def run(*argv, capsys=None):
    code = main([str(a) for a in argv] + ["--no-progress"])
    return code


def test_fit_predict_round_trip_csv(files, tmp_path, capsys):
    d, ens = files
    model = tmp_path / "model.cfe"
    code = run(
        "fit",
        "--predictions",
        d / "R.csv",
        "--labels",
        d / "y.csv",
        "--id-column",
        "sample",
        "--solver",
        "varpro",
        "--latent-dim",
        "2",
        "--max-iter",
        "30",
        "--out",
        model,
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "model saved to" in out.out
    assert f"{M} classifiers x {N} instances ({ens.labeled_idx.size} labeled" in out.out
    tr = load(model)
    assert tr.classifier_names_ == NAMES and tr.latent_dim == 2 and tr.solver == "varpro"

    code = run(
        "predict",
        "--model",
        model,
        "--predictions",
        d / "R_new.csv",
        "--id-column",
        "sample",
        "--out",
        tmp_path / "p.csv",
    )
    assert code == 0, capsys.readouterr().err
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p.columns) == ["sample", "probability"]
    assert p["sample"].tolist() == [f"s{i}" for i in range(40)]
    # Reordered columns are matched by name: same as predicting the original order.
    expected = tr.predict(ens.R[:, :40])
    np.testing.assert_allclose(p["probability"].to_numpy(), expected, rtol=1e-9)


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow not installed")
def test_fit_predict_round_trip_parquet(files, tmp_path, capsys):
    d, ens = files
    model = tmp_path / "m.cfe"
    assert (
        run(
            "fit",
            "--predictions",
            d / "R.parquet",
            "--labels",
            d / "y.csv",
            "--id-column",
            "sample",
            "--solver",
            "als",
            "--latent-dim",
            "2",
            "--max-iter",
            "10",
            "--out",
            model,
        )
        == 0
    ), capsys.readouterr().err
    assert (
        run(
            "predict",
            "--model",
            model,
            "--predictions",
            d / "R_new.parquet",
            "--id-column",
            "sample",
            "--out",
            tmp_path / "p.parquet",
        )
        == 0
    ), capsys.readouterr().err
    p = pd.read_parquet(tmp_path / "p.parquet")
    np.testing.assert_allclose(p["probability"].to_numpy(), load(model).predict(ens.R[:, :40]))


def test_transposed_layout_and_labels_in_predictions(files, tmp_path, capsys):
    d, ens = files
    # Classifiers as rows, their name first; instances as columns.
    t = pd.DataFrame(ens.R, index=NAMES, columns=[f"s{i}" for i in range(N)])
    t.to_csv(tmp_path / "Rt.csv", index_label="classifier")
    model = tmp_path / "m.cfe"
    assert (
        run(
            "fit",
            "--predictions",
            tmp_path / "Rt.csv",
            "--transposed",
            "--labels",
            d / "y.csv",
            "--latent-dim",
            "2",
            "--max-iter",
            "10",
            "--out",
            model,
        )
        == 0
    ), capsys.readouterr().err
    assert (
        run(
            "predict",
            "--model",
            model,
            "--predictions",
            tmp_path / "Rt.csv",
            "--transposed",
            "--out",
            tmp_path / "p.csv",
        )
        == 0
    ), capsys.readouterr().err
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p.columns) == ["instance", "probability"] and len(p) == N

    # The same data in one table, labels as a column (blank = unlabeled).
    df = pd.DataFrame(ens.R.T, columns=NAMES)
    df["y"] = ens.labels
    df.to_csv(tmp_path / "Ry.csv", index=False)
    model2 = tmp_path / "m2.cfe"
    assert (
        run(
            "fit",
            "--predictions",
            tmp_path / "Ry.csv",
            "--label-column",
            "y",
            "--latent-dim",
            "2",
            "--max-iter",
            "10",
            "--out",
            model2,
        )
        == 0
    ), capsys.readouterr().err
    np.testing.assert_array_equal(load(model2).predict(), load(model).predict())


def test_blank_cells_are_missing_predictions(files, tmp_path, capsys):
    d, ens = files
    model = tmp_path / "m.cfe"
    assert (
        run(
            "fit",
            "--predictions",
            d / "R.csv",
            "--labels",
            d / "y.csv",
            "--id-column",
            "sample",
            "--latent-dim",
            "2",
            "--max-iter",
            "5",
            "--out",
            model,
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{np.isnan(ens.R).mean():.1%} cells missing" in out
    tr = load(model)
    np.testing.assert_array_equal(np.isnan(tr._fit_R), np.isnan(ens.R))
    np.testing.assert_array_equal(np.isnan(tr._fit_labels), np.isnan(ens.labels))
    # A row of the new file with every cell blank gets the fitted labels' positive share,
    # and a warning that names it (not the confident ~0 a reconstruction of zeros gives).
    (tmp_path / "blank.csv").write_text(",".join(NAMES) + "\n0.1,0.2,,0.4,0.5,0.6\n,,,,,\n")
    assert (
        run(
            "predict",
            "--model",
            model,
            "--predictions",
            tmp_path / "blank.csv",
            "--out",
            tmp_path / "p.csv",
        )
        == 0
    ), capsys.readouterr().err
    err = capsys.readouterr().err
    assert "1 instance(s) hold no prediction from any classifier (instances (1-based) 2)" in err
    assert "UserWarning" not in err
    p = pd.read_csv(tmp_path / "p.csv")["probability"].to_numpy()
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))
    assert p[1] == pytest.approx(np.nanmean(ens.labels))


def test_labels_matched_by_id_column(files, tmp_path, capsys):
    # A labels file with the predictions' id column is matched by id, not by row order:
    # shuffled rows give the same model; a subset leaves the rest unlabeled.
    d, ens = files
    ids = [f"s{i}" for i in range(N)]
    lab = pd.DataFrame({"sample": ids, "label": ens.labels})
    lab.to_csv(tmp_path / "ordered.csv", index=False)
    lab.sample(frac=1.0, random_state=0).to_csv(tmp_path / "shuffled.csv", index=False)
    lab.iloc[::2].sample(frac=1.0, random_state=1).to_csv(tmp_path / "half.csv", index=False)
    models = {}
    for name in ("ordered", "shuffled", "half"):
        models[name] = tmp_path / f"{name}.cfe"
        args = ["fit", "--predictions", d / "R.csv", "--labels", tmp_path / f"{name}.csv"]
        args += ["--id-column", "sample", "--latent-dim", "2", "--max-iter", "5"]
        assert run(*args, "--out", models[name]) == 0, capsys.readouterr().err
    fitted = {k: load(v)._fit_labels for k, v in models.items()}
    np.testing.assert_array_equal(fitted["ordered"], ens.labels)
    np.testing.assert_array_equal(fitted["shuffled"], ens.labels)
    half = np.where(np.arange(N) % 2 == 0, ens.labels, np.nan)
    np.testing.assert_array_equal(fitted["half"], half)
    np.testing.assert_array_equal(load(models["shuffled"]).X_, load(models["ordered"]).X_)
    capsys.readouterr()
    # ids the predictions do not have, and an id given twice, are refused by name.
    lab.assign(sample=[f"x{i}" for i in range(N)]).to_csv(tmp_path / "other.csv", index=False)
    pd.concat([lab, lab.iloc[:1]]).to_csv(tmp_path / "twice.csv", index=False)
    # A labels file whose id column has another name, or no header at all, would be read in
    # row order: refused, saying why (a one-column labels file is read in row order).
    lab.rename(columns={"sample": "key"}).to_csv(tmp_path / "renamed.csv", index=False)
    lab.to_csv(tmp_path / "headerless.csv", index=False, header=False)
    cases = (
        ("other", "id(s) of column 'sample' are not ids"),
        ("twice", "'s0'"),
        ("renamed", "has columns ['key', 'label'] but none named 'sample' (--id-column)"),
        ("headerless", "was read as the header: a file of ids and labels needs a header"),
    )
    for name, match in cases:
        args = ["fit", "--predictions", d / "R.csv", "--labels", tmp_path / f"{name}.csv"]
        code = run(*args, "--id-column", "sample", "--out", tmp_path / "x.cfe")
        assert match in _err(code, capsys)
    # Predictions whose ids repeat cannot be matched by id.
    R = pd.read_csv(d / "R.csv")
    R.assign(sample=["s0"] + list(R["sample"][1:-1]) + ["s0"]).to_csv(
        tmp_path / "Rd.csv", index=False
    )
    args = ["fit", "--predictions", tmp_path / "Rd.csv", "--labels", tmp_path / "ordered.csv"]
    code = run(*args, "--id-column", "sample", "--out", tmp_path / "x.cfe")
    assert "repeats ids ['s0']: labels cannot be matched by id" in _err(code, capsys)


def _err(code, capsys):
    out = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out.err
    return out.err


def test_mismatched_columns(files, tmp_path, capsys):
    d, _ = files
    model = tmp_path / "m.cfe"
    assert (
        run(
            "fit",
            "--predictions",
            d / "R.csv",
            "--labels",
            d / "y.csv",
            "--id-column",
            "sample",
            "--latent-dim",
            "2",
            "--max-iter",
            "5",
            "--out",
            model,
        )
        == 0
    )
    capsys.readouterr()
    bad = pd.read_csv(d / "R_new.csv").drop(columns=["model_3"])
    bad = bad.rename(columns={"model_1": "m1"})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    err = _err(
        run(
            "predict",
            "--model",
            model,
            "--predictions",
            tmp_path / "bad.csv",
            "--id-column",
            "sample",
            "--out",
            tmp_path / "p.csv",
        ),
        capsys,
    )
    assert "missing from" in err and "['model_1', 'model_3']" in err
    assert "not in the model: ['m1']" in err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize(
    "content, extra, match",
    [
        ("a,b\n0.1,0.2\nx,0.3\n", [], r"column 'a', row 2 \(line 3\) holds 'x'"),
        ("a,b\n0.1,1.7\n0.2,0.3\n", [], r"instance 1, row 1 \(line 2\) holds 1.7; predictions"),
        ("a,a\n0.1,0.2\n", [], "every classifier needs a name|repeat"),
        ("", [], "is empty"),
        ("id,a,b\ns1,0.1,0.2\n", [], "--id-column"),
        # numeric ids in an unnamed-as-id column, and a pandas index column
        ("id,a,b\n775,0.1,0.2\n12,0.3,0.4\n", [], "if 'id' holds instance ids, name it"),
        (",a,b\n0,0.1,0.2\n", [], "an index written by pandas' to_csv"),
        ("a;b\n0.1;0.2\n", [], "one column that holds semicolons"),
    ],
)
def test_bad_prediction_files(content, extra, match, files, tmp_path, capsys):
    d, _ = files
    (tmp_path / "R.csv").write_text(content)
    err = _err(
        run(
            "fit",
            "--predictions",
            tmp_path / "R.csv",
            "--labels",
            d / "y.csv",
            "--out",
            tmp_path / "m.cfe",
            *extra,
        ),
        capsys,
    )
    assert __import__("re").search(match, err), err


@pytest.mark.parametrize(
    "labels, match",
    [
        ("label\n0\n2\n", "row 2 (line 3) holds '2'; labels must be 0, 1 or blank"),
        ("label\n0\n1\n", "has 2 rows but the predictions have 4 instances"),
        ("label\n0\n\n\n\n", "both classes"),
        ("a,b\n0,1\n1,0\n0,1\n1,0\n", "--label-column"),
    ],
)
def test_bad_label_files(labels, match, tmp_path, capsys):
    (tmp_path / "R.csv").write_text("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,,0.1\n0.7,0.9,\n")
    (tmp_path / "y.csv").write_text(labels)
    err = _err(
        run(
            "fit",
            "--predictions",
            tmp_path / "R.csv",
            "--labels",
            tmp_path / "y.csv",
            "--out",
            tmp_path / "m.cfe",
        ),
        capsys,
    )
    assert match in err, err


def test_headerless_labels_and_trailing_blank_lines(tmp_path, capsys):
    (tmp_path / "R.csv").write_text("a,b,c\n0.1,0.2,0.3\n0.9,0.8,0.7\n0.2,,0.1\n0.7,0.9,\n\n")
    (tmp_path / "y.csv").write_text("0\n1\n\n1\n\n\n")
    assert (
        run(
            "fit",
            "--predictions",
            tmp_path / "R.csv",
            "--labels",
            tmp_path / "y.csv",
            "--solver",
            "als",
            "--max-iter",
            "3",
            "--latent-dim",
            "1",
            "--out",
            tmp_path / "m.cfe",
        )
        == 0
    ), capsys.readouterr().err
    tr = load(tmp_path / "m.cfe")
    np.testing.assert_array_equal(tr._fit_labels, [0, 1, np.nan, 1])
    assert tr._fit_R.shape == (3, 4)


# The fit command line of the user-error cases below, up to the option under test.
FIT_WITH_IDS = [
    "fit",
    "--predictions",
    "{d}/R.csv",
    "--labels",
    "{d}/y.csv",
    "--id-column",
    "sample",
]


@pytest.mark.parametrize(
    "argv, match",
    [
        (
            [
                "predict",
                "--model",
                "{d}/nope.cfe",
                "--predictions",
                "{d}/R.csv",
                "--out",
                "{t}/p.csv",
            ],
            "model file .* does not exist",
        ),
        (
            ["predict", "--model", "{d}/y.csv", "--predictions", "{d}/R.csv", "--out", "{t}/p.csv"],
            "not a usable cfensemble model file",
        ),
        (
            ["fit", "--predictions", "{d}/nope.csv", "--labels", "{d}/y.csv", "--out", "{t}/m.cfe"],
            "predictions file .* does not exist",
        ),
        (
            ["fit", "--predictions", "{d}/R.xlsx", "--labels", "{d}/y.csv", "--out", "{t}/m.cfe"],
            "unsupported extension '.xlsx'",
        ),
        (["fit", "--predictions", "{d}/R.csv", "--out", "{t}/m.cfe"], "give the labels"),
        (
            [*FIT_WITH_IDS[:-1], "nope", "--out", "{t}/m.cfe"],  # another --id-column value
            "--id-column 'nope' is not a column",
        ),
        (
            [*FIT_WITH_IDS, "--rho", "2", "--out", "{t}/m.cfe"],
            r"--rho must be in \[0, 1\], got 2.0",
        ),
        (
            [*FIT_WITH_IDS, "--lambda", "-1", "--out", "{t}/m.cfe"],
            "--lambda must be >= 0, got -1.0",
        ),
        (
            [*FIT_WITH_IDS, "--out", "{t}/nodir/m.cfe"],
            "output folder .* does not exist",
        ),
    ],
)
def test_user_errors(argv, match, files, tmp_path, capsys):
    d, _ = files
    argv = [a.format(d=d, t=tmp_path) for a in argv]
    err = _err(run(*argv), capsys)
    assert __import__("re").search(match, err), err


def test_truncated_model_file(files, tmp_path, capsys):
    d, _ = files
    model = tmp_path / "m.cfe"
    run(
        "fit",
        "--predictions",
        d / "R.csv",
        "--labels",
        d / "y.csv",
        "--id-column",
        "sample",
        "--latent-dim",
        "2",
        "--max-iter",
        "3",
        "--out",
        model,
    )
    raw = model.read_bytes()
    model.write_bytes(raw[: len(raw) // 2])
    capsys.readouterr()
    err = _err(
        run(
            "predict",
            "--model",
            model,
            "--predictions",
            d / "R_new.csv",
            "--id-column",
            "sample",
            "--out",
            tmp_path / "p.csv",
        ),
        capsys,
    )
    assert "truncated or corrupt" in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--solver", "nope"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    # An option the command does not have: that command's usage, not the top-level one.
    with pytest.raises(SystemExit) as exc:
        main(["score", "--predictions", "p.csv", "--out", "s.csv"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "usage: cfensemble score" in err and "unrecognized arguments: --out s.csv" in err


def test_demo_tiny(tmp_path, capsys):
    out = tmp_path / "report"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--n-instances",
            "300",
            "--no-real",
            "--no-timing",
            "--methods",
            "varpro",
            "mean",
            "--no-progress",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "PR-AUC on test instances" in text
    assert "synthetic 1% pos, n=300, 30% missing" in text
    for name in ("report.md", "results.csv", "pr_curves.png", "loss_curves.png"):
        assert (out / name).exists(), name
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 6 * 2 and set(rows["method"]) == {"varpro", "mean"}


def test_benchmark_config_through_subprocess(tmp_path):
    cfg = {
        "name": "tiny",
        "seeds": [0, 1],
        "synthetic": {"n_classifiers": 6, "n_instances": [200], "positive_rates": [0.2]},
        "real": None,
        "missing_rates": [0.0],
        "methods": ["als", "mean"],
        "als": {"max_iter": 5},
        "timing": {"n_instances": [100, 200], "methods": ["als"]},
    }
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    res = subprocess.run(
        [sys.executable, "-m", "cfensemble.cli", "benchmark", "--config", "c.json", "--out", "rep"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "± " in res.stdout  # two seeds: mean ± std
    rows = pd.read_csv(tmp_path / "rep" / "results.csv")
    assert sorted(rows["seed"].unique()) == [0, 1]
    assert len(pd.read_csv(tmp_path / "rep" / "timing.csv")) == 2


def test_benchmark_bad_config(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"seeds": [0], "methodz": []}')
    err = _err(main(["benchmark", "--config", str(tmp_path / "bad.json")]), capsys)
    assert "unknown key(s) ['methodz']" in err
    (tmp_path / "bad2.json").write_text("[1, 2")
    err = _err(main(["benchmark", "--config", str(tmp_path / "bad2.json")]), capsys)
    assert "is not valid JSON" in err


def test_console_script_is_declared():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'cfensemble = "cfensemble.cli:main"' in text


def test_fit_refuses_a_classifier_column_with_no_prediction(tmp_path, capsys):
    (tmp_path / "R.csv").write_text("a,b,c,label\n0.1,,0.3,1\n0.2,,0.1,0\n0.7,,0.8,1\n")
    args = ["fit", "--predictions", tmp_path / "R.csv", "--label-column", "label"]
    err = _err(run(*args, "--out", tmp_path / "m.cfe"), capsys)
    assert "classifier column(s) ['b'] hold no prediction at all" in err


def test_tol_transposed_ids_and_missing_columns(files, tmp_path, capsys):
    d, ens = files
    model = tmp_path / "m.cfe"
    args = ["fit", "--predictions", d / "R.csv", "--labels", d / "y.csv", "--id-column"]
    assert run(*args, "sample", "--solver", "als", "--tol", "1e-4", "--out", model) == 0
    assert load(model).tol == 1e-4  # the warning says "raise max_iter or tol": now it can
    capsys.readouterr()
    assert "--tol must be >= 0" in _err(run(*args, "sample", "--tol", "-1", "--out", model), capsys)
    # --transposed: the header holds the ids; --id-column names predict's id column (and, at
    # fit, the labels file's).
    T = tmp_path / "T.csv"
    pd.read_csv(d / "R.csv").set_index("sample").T.rename_axis("clf").reset_index().to_csv(
        T, index=False
    )
    pred = ["predict", "--model", model, "--predictions", T, "--transposed"]
    assert run(*pred, "--id-column", "sample", "--out", tmp_path / "p.csv") == 0
    p = pd.read_csv(tmp_path / "p.csv")
    assert list(p.columns) == ["sample", "probability"] and p["sample"][3] == "s3"
    # A missing classifier column: the message says a blank column would do.
    pd.read_csv(d / "R.csv").drop(columns=["model_2"]).to_csv(tmp_path / "less.csv", index=False)
    pred = ["predict", "--model", model, "--predictions", tmp_path / "less.csv"]
    err = _err(run(*pred, "--id-column", "sample", "--out", tmp_path / "p.csv"), capsys)
    assert "can be given as a column of blank cells" in err


def test_fit_shows_the_library_warnings_once(files, tmp_path, capsys):
    # Every warning of the library reaches the terminal as one CLI line (formerly only the
    # convergence and full-rank ones; the others were caught and dropped).
    d, ens = files
    m = ens.R.shape[0]
    args = ["fit", "--predictions", d / "R.csv", "--labels", d / "y.csv", "--id-column"]
    args += ["sample", "--solver", "varpro", "--latent-dim", m, "--max-iter", 2]
    code = run(*args, "--out", tmp_path / "m.cfe")
    assert code == 0
    err = capsys.readouterr().err
    assert err.count(f"cfensemble: warning: latent_dim={m} >= n_classifiers={m}") == 1
    assert "cfensemble: warning: varpro did not converge in max_iter=2" in err
    assert "Warning:" not in err  # no Python warning format


def test_init_option_and_a_fit_that_converges_at_its_start(tmp_path, capsys):
    # Complete predictions: varpro from the SVD start stops at its start (0 iterations);
    # the fit line still reports that point's L_CF (it printed 'L_CF=nan' when the
    # history was empty). --init random reaches the trainer and its model file.
    ens = make_ensemble(n_classifiers=M, n_instances=N, random_state=0)
    pd.DataFrame(ens.R.T, columns=NAMES).to_csv(tmp_path / "R.csv", index=False)
    labels = ["label"] + ["" if np.isnan(v) else str(int(v)) for v in ens.labels]
    (tmp_path / "y.csv").write_text("\n".join(labels) + "\n")
    args = ["fit", "--predictions", tmp_path / "R.csv", "--labels", tmp_path / "y.csv"]
    args += ["--solver", "varpro"]
    assert run(*args, "--out", tmp_path / "a.cfe") == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "0 iterations, L_CF=" in line and "nan" not in line
    assert run(*args, "--init", "random", "--out", tmp_path / "b.cfe") == 0
    assert load(tmp_path / "b.cfe").init == "random" and load(tmp_path / "a.cfe").init == "svd"
    line = capsys.readouterr().out.splitlines()[0]
    assert " 0 iterations" not in line and "nan" not in line


def test_score_predict_output_and_each_classifier(files, tmp_path, capsys):
    # score: every probability column against labels matched by id (a shuffled file);
    # a classifier is scored on the instances it predicted; unlabeled ones are left out.
    from cfensemble.metrics import evaluate

    d, ens = files
    ids = [f"s{i}" for i in range(N)]
    truth = pd.DataFrame({"sample": ids, "label": ens.y_true}).sample(frac=1, random_state=0)
    truth.to_csv(tmp_path / "truth.csv", index=False)
    p = pd.DataFrame({"sample": ids, "probability": np.linspace(0.01, 0.99, N)})
    p.to_csv(tmp_path / "p.csv", index=False)
    score = ["score", "--labels", tmp_path / "truth.csv", "--id-column", "sample"]
    assert run(*score, "--predictions", tmp_path / "p.csv") == 0
    out = capsys.readouterr().out.splitlines()
    m = evaluate(ens.y_true, p["probability"].to_numpy())
    assert out[1].split() == [
        "probability",
        str(N),
        str(int(ens.y_true.sum())),
        f"{m['pr_auc']:.4f}",
        f"{m['roc_auc']:.4f}",
        f"{m['brier']:.4f}",
        f"{m['log_loss']:.4f}",
    ]
    assert run(*score, "--predictions", d / "R.csv") == 0
    out = capsys.readouterr().out.splitlines()
    seen = ~np.isnan(ens.R[1])
    m = evaluate(ens.y_true[seen], ens.R[1, seen])
    assert out[2].split()[:4] == [
        "model_1",
        str(seen.sum()),
        str(int(ens.y_true[seen].sum())),
        f"{m['pr_auc']:.4f}",
    ]
    assert "--same-rows scores every column" in "\n".join(out)
    assert run(*score, "--predictions", d / "R.csv", "--same-rows") == 0
    out = capsys.readouterr().out.splitlines()
    both = ~np.isnan(ens.R).any(axis=0)
    m = evaluate(ens.y_true[both], ens.R[1, both])
    n_pos = str(int(ens.y_true[both].sum()))
    assert out[2].split()[:4] == ["model_1", str(both.sum()), n_pos, f"{m['pr_auc']:.4f}"]
    assert "different instances" not in "\n".join(out)
    # The fit labels (half blank): the unlabeled rows are counted, not scored.
    score = ["score", "--predictions", tmp_path / "p.csv", "--labels", d / "y.csv"]
    assert run(*score, "--id-column", "sample") == 0
    out = capsys.readouterr().out
    n_blank = int(np.isnan(ens.labels).sum())
    assert f"({n_blank} instance(s) without a label, blank or not in the labels file, not" in out
    # One class only among the scored rows: an error that says why.
    (tmp_path / "ones.csv").write_text("label\n" + "1\n" * N)
    err = _err(
        run(
            "score",
            "--predictions",
            tmp_path / "p.csv",
            "--labels",
            tmp_path / "ones.csv",
            "--id-column",
            "sample",
        ),
        capsys,
    )
    assert "scoring needs both classes" in err


def test_transposed_fit_matches_labels_by_id_and_row_order_labels_warn(files, tmp_path, capsys):
    # A newcomer's --transposed fit with an id,label file: --id-column now matches the labels
    # by the header's ids (a shuffled file gives the same model); a multi-column labels file
    # read in row order (--label-column without --id-column) says so on stderr.
    d, ens = files
    T = tmp_path / "T.csv"
    pd.read_csv(d / "R.csv").set_index("sample").T.rename_axis("clf").reset_index().to_csv(
        T, index=False
    )
    ids = [f"s{i}" for i in range(N)]
    y = pd.DataFrame({"sample": ids, "label": ens.labels})
    y.to_csv(tmp_path / "y.csv", index=False)
    y.sample(frac=1, random_state=1).to_csv(tmp_path / "y_shuffled.csv", index=False)
    fit = ["fit", "--predictions", T, "--transposed", "--id-column", "sample"]
    assert run(*fit, "--labels", tmp_path / "y_shuffled.csv", "--out", tmp_path / "a.cfe") == 0
    ref = ["fit", "--predictions", d / "R.csv", "--id-column", "sample", "--labels", d / "y.csv"]
    assert run(*ref, "--out", tmp_path / "b.cfe") == 0
    np.testing.assert_allclose(load(tmp_path / "a.cfe").X_, load(tmp_path / "b.cfe").X_)
    capsys.readouterr()
    row_order = ["fit", "--predictions", T, "--transposed", "--labels", tmp_path / "y.csv"]
    assert run(*row_order, "--label-column", "label", "--out", tmp_path / "c.cfe") == 0
    err = capsys.readouterr().err
    assert "is read in the predictions' row order" in err and "['sample']" in err


def test_layout_hints_and_long_column_lists(tmp_path, capsys):
    # A classifiers-as-rows file read in the default layout: the error suggests --transposed,
    # and a list of 60 column names is cut to 10.
    R = np.random.RandomState(0).uniform(size=(3, 60))
    df = pd.DataFrame(R, columns=[f"i{k}" for k in range(60)])
    df.insert(0, "clf", ["a", "b", "c"])
    df.to_csv(tmp_path / "T.csv", index=False)
    (tmp_path / "y.csv").write_text("label\n" + "0\n1\n" * 30)
    fit = ["fit", "--predictions", tmp_path / "T.csv", "--labels", tmp_path / "y.csv"]
    err = _err(run(*fit, "--out", tmp_path / "m.cfe"), capsys)
    assert "61 columns and 3 rows" in err and "pass --transposed" in err
    err = _err(run(*fit, "--id-column", "nope", "--out", tmp_path / "m.cfe"), capsys)
    assert "... (61 in all)" in err and "i30" not in err


def test_one_labels_file_serves_a_part_of_the_data(files, tmp_path, capsys):
    # A newcomer's labels file for every instance, scored against predictions of the test
    # part: the ids without a row are left out with a note (they were an error); fit too.
    d, ens = files
    ids = [f"s{i}" for i in range(N)]
    pd.DataFrame({"sample": ids, "label": ens.y_true}).to_csv(tmp_path / "all.csv", index=False)
    part = np.arange(0, N, 3)
    p = pd.DataFrame({"sample": [ids[i] for i in part], "probability": ens.R[0, part]})
    p.fillna(0.5).to_csv(tmp_path / "p.csv", index=False)
    args = ["score", "--predictions", tmp_path / "p.csv", "--labels", tmp_path / "all.csv"]
    assert run(*args, "--id-column", "sample") == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[1].split()[:3] == [
        "probability",
        str(part.size),
        str(int(ens.y_true[part].sum())),
    ]
    assert f"{N - part.size} of its {N} ids have no row in the predictions" in out.err
    R_part = pd.read_csv(d / "R.csv").iloc[part]
    R_part.to_csv(tmp_path / "R_part.csv", index=False)
    args = ["fit", "--predictions", tmp_path / "R_part.csv", "--labels", tmp_path / "all.csv"]
    assert run(*args, "--id-column", "sample", "--out", tmp_path / "m.cfe") == 0
    np.testing.assert_array_equal(load(tmp_path / "m.cfe")._fit_labels, ens.y_true[part])


def test_wrong_transposed_and_complete_R_are_explained(files, tmp_path, capsys):
    d, ens = files
    # A file of instances as rows read with --transposed: the error says to drop it.
    args = ["fit", "--predictions", d / "R.csv", "--labels", d / "y.csv", "--transposed"]
    err = _err(run(*args, "--out", tmp_path / "m.cfe"), capsys)
    assert f"gives {N} classifiers x {M} instances" in err and "drop --transposed" in err
    # Complete R: the fit line is followed by a note that the factors change nothing.
    full = make_ensemble(n_classifiers=M, n_instances=N, random_state=0)
    pd.DataFrame(full.R.T, columns=NAMES).to_csv(tmp_path / "R.csv", index=False)
    args = ["fit", "--predictions", tmp_path / "R.csv", "--labels", d / "y.csv"]
    assert run(*args, "--out", tmp_path / "c.cfe") == 0
    assert "note: R is complete" in capsys.readouterr().out
    args_missing = ["fit", "--predictions", d / "R.csv", "--labels", d / "y.csv"]
    assert run(*args_missing, "--id-column", "sample", "--out", tmp_path / "n.cfe") == 0
    assert "note: R is complete" not in capsys.readouterr().out
    assert load(tmp_path / "c.cfe").solver == "als"
    args_pred = ["predict", "--model", tmp_path / "c.cfe", "--predictions", tmp_path / "R.csv"]
    err = _err(run(*args_pred, "--transposed", "--out", tmp_path / "p.csv"), capsys)
    assert (
        "drop --transposed" in err and f"({N} in all)" in err
    )  # the CLI's default, as the library's
    assert run(*args, "--out", tmp_path / "c.cfe", "--aggregator", "mean") == 0
    args = ["fit", "--predictions", d / "R.csv", "--labels", d / "y.csv", "--id-column"]
    args += ["sample", "--solver", "varpro", "--aggregator", "mean"]
    err = _err(run(*args, "--out", tmp_path / "x.cfe"), capsys)
    assert "use solver='als' (CLI: --solver als)" in err


def test_compare_scores_cf_and_the_baselines_on_hidden_folds(files, tmp_path, capsys):
    d, ens = files
    args = ["compare", "--predictions", d / "R.csv", "--labels", d / "y.csv"]
    args += ["--id-column", "sample", "--folds", "3", "--repeats", "1"]
    assert run(*args, "--out", tmp_path / "folds.csv") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"3-fold CV x 1 repeat(s) over the {ens.labeled_idx.size}")
    folds = pd.read_csv(tmp_path / "folds.csv")
    means = folds.groupby("method")["score"].mean()
    assert set(means.index) == {"cf_als", "mean", "stacking", "hgb_stacking", "best_single"}
    table = {ln.split()[0]: ln.split() for ln in lines[2:7]}
    for name, value in means.items():
        assert table[name][1] == f"{value:.4f}"
    assert table["mean"][3] == f"{means['cf_als'] - means['mean']:+.4f}"
    assert len(folds) == 3 * 5
    best = means.drop("cf_als").idxmax()
    verdict = [ln for ln in out.splitlines() if ln.startswith("verdict: cf_als is ")]
    assert len(verdict) == 1 and f"the best baseline, {best} (" in verdict[0]
    assert "folds:" not in capsys.readouterr().err  # no progress bar off a terminal
    err = _err(run(*args[:-4], "--folds", "400"), capsys)
    assert "--folds 400 needs at least 400 labeled instances of each class" in err
