"""Benchmark runner and report: config checks, settings, tables, files and figures."""

import copy
import json

import numpy as np
import pytest

from cfensemble.benchmark import (
    DEMO_CONFIG,
    BenchmarkResult,
    Run,
    Setting,
    load_config,
    markdown_table,
    run_benchmark,
    text_table,
    validate_config,
    write_report,
)
from cfensemble.benchmark.runner import _drop_cells, make_settings, thread_limit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fake_result(n_seeds=2, with_factors=True) -> BenchmarkResult:
    """A result built by hand (no fitting): two settings, three methods."""
    rng = np.random.RandomState(0)
    runs = []
    names = [f"c{u}" for u in range(4)]
    for seed in range(n_seeds):
        for miss in (0.0, 0.3):
            s = Setting("synthetic", 0.1, miss, 200, seed)
            y = (rng.uniform(size=100) < 0.2).astype(int)
            for k, method in enumerate(("als", "varpro", "mean")):
                p = np.clip(0.3 * y + rng.uniform(size=100) * (0.5 + 0.2 * k), 0, 1)
                cf = method != "mean" and with_factors
                runs.append(
                    Run(
                        setting=s,
                        method=method,
                        metrics={
                            "pr_auc": 0.5 + 0.1 * k + 0.01 * seed,
                            "roc_auc": 0.7 + 0.05 * k,
                            "brier": 0.1,
                            "log_loss": 0.3,
                        },
                        fit_time=0.1 * (k + 1),
                        y_test=y,
                        p_test=p,
                        n_iter=10 if cf else None,
                        converged=True if cf else None,
                        history=list(np.linspace(1.0, 0.2, 10)) if cf else None,
                        X=rng.standard_normal((2, 4)) if cf else None,
                        w=rng.standard_normal(4) if cf else None,
                        classifier_names=names,
                    )
                )
    cfg = validate_config({"seeds": list(range(n_seeds)), "real": None})
    timing = [
        {
            "method": m,
            "n_instances": n,
            "fit_time_s": 0.01 * n / 100,
            "n_iter": 10,
            "time_per_iter_s": 0.001 * n / 100,
        }
        for m in ("als", "varpro")
        for n in (100, 200, 400)
    ]
    return BenchmarkResult(config=cfg, runs=runs, timing=timing, notes=["a note"], wall_time=1.0)


def test_tables_mean_std_and_best():
    res = _fake_result()
    md = markdown_table(res, "pr_auc")
    lines = md.splitlines()
    assert lines[0] == "| setting | CF: ALS | CF: varpro | mean |"
    assert len(lines) == 2 + 2  # header, rule, two settings
    # mean over seeds 0.7 and 0.71 = 0.705, std 0.005; the best of the row in bold.
    assert "**0.705 ± 0.005**" in lines[2]
    txt = text_table(res, "pr_auc")
    assert "0.705 ± 0.005*" in txt and "synthetic 10% pos, n=200, 30% missing" in txt


def test_write_report_files(tmp_path):
    res = _fake_result()
    path = write_report(res, tmp_path / "rep")
    assert path.name == "report.md"
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    expected = {
        "report.md",
        "results.csv",
        "summary.csv",
        "timing.csv",
        "pr_curves.png",
        "loss_curves.png",
        "fit_time.png",
        "similarity.png",
        "weights.png",
    }
    assert expected <= files
    for name in expected:
        if name.endswith(".png"):
            assert (tmp_path / "rep" / name).read_bytes()[:8] == PNG_MAGIC
    text = path.read_text()
    for name in ("pr_curves.png", "loss_curves.png", "similarity.png", "weights.png"):
        assert f"]({name})" in text
    assert "## PR-AUC on test instances (mean ± std over seeds)" in text
    assert "- a note" in text
    import pandas as pd

    rows = pd.read_csv(tmp_path / "rep" / "results.csv")
    assert len(rows) == 12 and {"pr_auc", "fit_time_s", "converged", "seed"} <= set(rows)
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    one = summary[(summary.metric == "pr_auc") & (summary.method == "varpro")]
    assert np.allclose(one["mean"], 0.605) and (one["n_seeds"] == 2).all()


def test_report_without_cf_runs_or_timing(tmp_path):
    res = _fake_result(n_seeds=1, with_factors=False)
    res.timing = []
    write_report(res, tmp_path)
    files = {p.name for p in tmp_path.iterdir()}
    assert "pr_curves.png" in files
    assert not {"similarity.png", "weights.png", "fit_time.png", "loss_curves.png"} & files


def test_report_folder_is_a_file(tmp_path):
    (tmp_path / "x").write_text("")
    with pytest.raises(ValueError, match="exists and is not a directory"):
        write_report(_fake_result(1), tmp_path / "x")


@pytest.mark.parametrize(
    "config, match",
    [
        ([], "expected a JSON object"),
        ({"seed": [0]}, r"unknown key\(s\) \['seed'\]"),
        ({"seeds": []}, "'seeds' must be a non-empty list"),
        ({"missing_rates": [1.0]}, "'missing_rates' must be a list of numbers in"),
        ({"methods": ["als", "xgb"]}, r"unknown method\(s\) \['xgb'\]"),
        ({"synthetic": {"n_instance": [10]}}, "unknown 'synthetic' key"),
        ({"synthetic": {"positive_rates": [0.0]}}, "must lie in"),
        ({"synthetic": None, "real": None}, "nothing to run"),
        ({"real": [{"nam": "x"}]}, r"'real\[0\]' must be an object with a 'name'"),
        ({"timing": {"methods": ["mean"]}}, "'timing.methods' must be among"),
        ({"als": 3}, "'als' must be an object"),
        ({"threads": 0}, "'threads' must be null or an integer >= 1"),
    ],
)
def test_config_errors(config, match):
    with pytest.raises(ValueError, match=match):
        validate_config(config)


def test_config_defaults_and_file(tmp_path):
    cfg = validate_config({"seeds": [1, 2], "real": ["breast_cancer"]})
    assert cfg["methods"] == DEMO_CONFIG["methods"]
    assert cfg["real"] == [{"name": "breast_cancer", "labeled_fraction": 0.5}]
    settings = make_settings(cfg)
    # 2 seeds x (3 rates x 2 missing + 1 real x 2 missing)
    assert len(settings) == 2 * (3 * 2 + 2)
    assert DEMO_CONFIG["real"] == [{"name": "breast_cancer", "labeled_fraction": 0.5}]
    (tmp_path / "c.json").write_text(json.dumps({"seeds": [3]}))
    assert load_config(tmp_path / "c.json")["seeds"] == [3]
    (tmp_path / "bad.json").write_text("{seeds: 3")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_config(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.json")


def test_drop_cells_keeps_one_per_column():
    R = np.full((3, 500), 0.5)
    out = _drop_cells(R, 0.9, np.random.RandomState(0))
    assert (~np.isnan(out)).sum(axis=0).min() >= 1
    out = _drop_cells(np.full((10, 500), 0.5), 0.3, np.random.RandomState(0))
    assert 0.27 < np.isnan(out).mean() < 0.33
    assert not np.isnan(R).any()  # the input is not modified


def test_run_benchmark_small():
    cfg = copy.deepcopy(DEMO_CONFIG)
    cfg.update(
        seeds=[0],
        synthetic={"n_classifiers": 5, "n_instances": [150], "positive_rates": [0.2]},
        real=None,
        missing_rates=[0.0, 0.3],
        methods=["als", "varpro", "mean", "stacking"],
        als={"max_iter": 5},
        varpro={"max_iter": 5},
        timing={"n_instances": [100], "methods": ["varpro"]},
    )
    res = run_benchmark(cfg, progress=False)
    assert len(res.runs) == 2 * 4
    by = {(r.setting.missing_rate, r.method): r for r in res.runs}
    als = by[(0.3, "als")]
    # latent_dim 'auto': a rank chosen from held-out cells, below m = 5
    assert 1 <= als.X.shape[0] <= 4 and als.X.shape[1] == 5 and als.w.shape == (5,)
    assert len(als.history) == als.n_iter
    assert by[(0.0, "mean")].X is None and by[(0.0, "mean")].history is None
    for r in res.runs:
        assert 0 <= r.metrics["pr_auc"] <= 1 and r.y_test.shape == r.p_test.shape
    assert [t["n_instances"] for t in res.timing] == [100]
    assert any("thread" in n for n in res.notes)


def test_thread_limit_restores():
    from threadpoolctl import threadpool_info

    before = [p["num_threads"] for p in threadpool_info()]
    with thread_limit(1):
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert [p["num_threads"] for p in threadpool_info()] == before
    with thread_limit(None):
        pass


def test_pytorch_skipped_with_a_note_without_torch(monkeypatch):
    import cfensemble.benchmark.runner as runner

    monkeypatch.setattr(runner, "has_torch", lambda: False)
    cfg = validate_config(
        {
            "synthetic": {"n_classifiers": 4, "n_instances": [100], "positive_rates": [0.2]},
            "real": None,
            "missing_rates": [0.0],
            "methods": ["pytorch", "mean"],
            "timing": {"n_instances": [100], "methods": ["pytorch"]},
        }
    )
    res = run_benchmark(cfg, progress=False)
    assert [r.method for r in res.runs] == ["mean"]
    assert res.timing == []
    assert any("PyTorch is not installed" in n and "cfensemble[torch]" in n for n in res.notes)


def test_weights_drawn_are_those_that_predict():
    # Under the default 'auto' the stacking part predicts; L_CF's w_ is not fitted at rho = 1
    # by the PyTorch trainer (the demo's weights.png drew empty PyTorch bars from it).
    from cfensemble.benchmark.runner import _predicting_weights
    from cfensemble.data import EnsembleData
    from cfensemble.optimization import CFEnsembleTrainer
    from cfensemble.synthetic import make_ensemble

    ens = make_ensemble(n_classifiers=5, n_instances=300, missing_rate=0.2, random_state=0)
    fits = {
        agg: CFEnsembleTrainer(latent_dim=2, aggregator=agg, max_iter=300, random_state=0).fit(
            EnsembleData(ens.R, ens.labels)
        )
        for agg in ("auto", "weighted", "mean")
    }
    np.testing.assert_array_equal(_predicting_weights(fits["auto"]), fits["auto"].auto_w_[:5])
    assert not np.array_equal(fits["auto"].auto_w_[:5], fits["auto"].w_)
    np.testing.assert_array_equal(_predicting_weights(fits["weighted"]), fits["weighted"].w_)
    assert _predicting_weights(fits["mean"]) is None
