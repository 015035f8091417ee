"""CF-Ensemble against the baselines on real data (run by `make bench`).

Every bundled data set (cfensemble.datasets) at its natural positive rate and at 10%, 5%,
1% positives, with complete R and with 30% of R's cells removed at random; repeated
stratified 5-fold CV x 2 repeats; the same folds and the same R (the default pool's
out-of-fold predictions) for every method; PR-AUC of CF (als, varpro, pytorch) and of
every baseline; wins/ties/losses and Wilcoxon p-values. Writes
benchmarks/results/real_data.md and real_data.csv.

    .venv/bin/python benchmarks/real_data.py [--quick] [--cache DIR] [--datasets a,b]
"""

from __future__ import annotations

import os

# One BLAS/OpenMP thread: the pool's many small fits are slower with threads that spin on
# a shared machine (measured 2-30x on 2 busy cores). Set before numpy/sklearn load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from cfensemble.datasets import DATASETS, load_dataset, subsample_positives  # noqa: E402
from cfensemble.evaluation import (  # noqa: E402
    cf_method,
    default_methods,
    paired_comparison,
    repeated_cv,
)

RATES = ("natural", 0.10, 0.05, 0.01)
MISSING = (0.0, 0.3)
MIN_POSITIVES = 15  # 3 per outer test fold; below it a PR-AUC per fold is noise
MAX_ROWS = 3000  # larger sets (default: 10,000 rows) are subsampled, stratified
CF = ("cf_als", "cf_varpro", "cf_pytorch")
BASE = ("mean", "stacking", "hgb_stacking", "best_single")
POOL_VERSION = "pool2"  # part of the cache key: bump when default_estimators changes
# Diagnostic variants of the defaults (als, uniform confidence, 'filled' aggregator input):
# the previous confidence default and the 'both' aggregator input.
VARIANTS = {
    "als_certainty": dict(solver="als", confidence="certainty"),
    "vp_certainty": dict(solver="varpro", confidence="certainty"),
    "als_reconstruction": dict(solver="als", aggregator_input="reconstruction"),
    "vp_reconstruction": dict(solver="varpro", aggregator_input="reconstruction"),
    "als_both": dict(solver="als", aggregator_input="both"),
    "vp_both": dict(solver="varpro", aggregator_input="both"),
}


def settings(names, rates):
    """(dataset, rate label, X, y, note) for every setting; skipped ones have X None."""
    for name in names:
        X, y = load_dataset(name)
        note = ""
        if X.shape[0] > MAX_ROWS:
            rng = np.random.RandomState(0)
            keep = np.sort(
                np.concatenate(
                    [
                        rng.choice(
                            np.flatnonzero(y == c),
                            size=int(round(MAX_ROWS * np.mean(y == c))),
                            replace=False,
                        )
                        for c in (0, 1)
                    ]
                )
            )
            X, y = X[keep], y[keep]
            note = f"stratified subsample of {MAX_ROWS} rows"
        natural = y.mean()
        for rate in rates:
            if rate == "natural":
                yield name, f"natural ({natural:.1%})", X, y, note
                continue
            if rate > natural - 0.01:
                yield (
                    name,
                    f"{rate:.0%}",
                    None,
                    None,
                    f"skipped: at or above the natural rate {natural:.1%}",
                )
                continue
            Xs, ys = subsample_positives(X, y, rate, random_state=0)
            if ys.sum() < MIN_POSITIVES:
                yield (
                    name,
                    f"{rate:.0%}",
                    None,
                    None,
                    f"skipped: {int(ys.sum())} positives < {MIN_POSITIVES}",
                )
                continue
            yield name, f"{rate:.0%}", Xs, ys, note


def fmt_p(p):
    return "n/a" if not np.isfinite(p) else (f"{p:.1e}" if p < 1e-3 else f"{p:.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 data sets, natural rate only")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "cfensemble_real_data"))
    ap.add_argument("--inner-cv", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "real_data.md"))
    ap.add_argument("--csv-only", help="write the raw scores to this CSV and stop (to split a run)")
    ap.add_argument("--from-csv", help="comma-separated CSVs of --csv-only runs: report only")
    ap.add_argument("--no-variants", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.from_csv:
        scores = pd.concat([pd.read_csv(f) for f in args.from_csv.split(",")], ignore_index=True)
        write_report(scores, out, args)
        return
    warnings.simplefilter("ignore")
    names = args.datasets.split(",")
    rates = RATES
    if args.quick:
        names, rates = names[:2], ("natural",)
    methods = default_methods(random_state=0)
    if not args.no_variants:
        methods.update({k: cf_method(random_state=0, **v) for k, v in VARIANTS.items()})
    t0 = time.perf_counter()
    frames = []
    todo = list(settings(names, rates))
    for name, rate, X, y, note in tqdm(todo, desc="settings"):
        if X is None:
            frames.append(pd.DataFrame([{"dataset": name, "rate": rate, "note": note}]))
            continue
        t1 = time.perf_counter()
        df = repeated_cv(
            X,
            y,
            methods=methods,
            missing_rates=MISSING,
            inner_cv=args.inner_cv,
            random_state=0,
            cache_dir=args.cache,
            cache_key=f"{POOL_VERSION}_{name}_{rate.split()[0]}_cv{args.inner_cv}",
            progress=True,
        )
        df.insert(0, "rate", rate)
        df.insert(0, "dataset", name)
        df["n"], df["positives"], df["note"] = X.shape[0], int(y.sum()), note
        df["setting_seconds"] = time.perf_counter() - t1
        frames.append(df)
    scores = pd.concat(frames, ignore_index=True)
    scores["run_seconds"] = time.perf_counter() - t0
    if args.csv_only:
        scores.to_csv(args.csv_only, index=False)
        return
    write_report(scores, out, args)


def write_report(scores, out, args):
    out.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out.with_suffix(".csv"), index=False)
    skipped = [(r.dataset, r.rate, r.note) for r in scores[scores["method"].isna()].itertuples()]
    scores = scores[scores["method"].notna()]
    info = [
        (
            k[0],
            k[1],
            int(g["n"].iloc[0]),
            int(g["positives"].iloc[0]),
            g["note"].fillna("").iloc[0],
            float(g["setting_seconds"].iloc[0]),
        )
        for k, g in scores.groupby(["dataset", "rate"], sort=False)
    ]
    total = float(scores["run_seconds"].dropna().unique().sum())  # summed over split runs
    out.write_text(report(scores, skipped, info, total, args))
    print(out.read_text())


def report(scores, skipped, info, total, args) -> str:
    methods = [m for m in (*CF, *BASE) if m in set(scores["method"])]
    cf_methods = [m for m in CF if m in methods]
    by = ("dataset", "rate")
    lines = [
        "# Real data: CF-Ensemble against the baselines (PR-AUC)",
        "",
        "Generated by `benchmarks/real_data.py`. Repeated stratified CV (5 folds x 2 repeats);",
        "for each outer fold, R = the default pool's (cfensemble.estimator.default_estimators)",
        f"out-of-fold predictions on the training rows (inner {args.inner_cv}-fold CV) and the",
        "refitted pool's predictions on the test rows; every method fits on that same R with the",
        "test columns unlabeled and is scored on them (transductive). '30% missing': the same R",
        "with 30% of its cells removed at random (every instance keeps >= 1 prediction), the",
        "same removal for every method. CF uses the estimator's defaults",
        "(cfensemble.estimator.make_trainer: latent_dim='auto' = m // 3 = 2 for the 8-model",
        "pool, rho=0.5, lambda_reg=0.01, uniform confidence, aggregator_input='filled') with each",
        "solver; cf_als (label-aware ALS) is CFEnsembleClassifier's default solver; pytorch:",
        "the PyTorch trainer with its own defaults and max_epochs=100.",
        "Mean PR-AUC over the 10 folds; the best method of each row in bold.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared "
        f"with other jobs; total wall time {total / 60:.1f} min.",
        "",
    ]
    mean = scores.groupby(["dataset", "rate", "missing_rate", "method"])["score"].mean()
    for miss in sorted(scores["missing_rate"].unique()):
        title = "Complete R" if miss == 0 else f"{miss:.0%} of R's cells missing"
        lines += [f"## {title}", ""]
        lines.append("| data set | positives | " + " | ".join(methods) + " |")
        lines.append("|---|---|" + "---|" * len(methods))
        for name, rate, n, npos, _note, _sec in info:
            vals = [mean.get((name, rate, miss, m), np.nan) for m in methods]
            best = np.nanmax(vals)
            cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in vals]
            lines.append(f"| {name} (n={n}) | {rate}, {npos} | " + " | ".join(cells) + " |")
        lines.append("")
    if skipped:
        lines += ["Settings left out:", ""]
        lines += [f"- {name} at {rate}: {note}" for name, rate, note in skipped]
        notes = sorted({(n, note) for n, _r, _a, _b, note, _s in info if note})
        lines += [f"- {n}: {note}" for n, note in notes]
        lines.append("")

    lines += [
        "## Paired comparisons over every (data set, rate, fold)",
        "",
        "Difference = CF - baseline in PR-AUC per fold; ties within 0.001; p: two-sided",
        "Wilcoxon signed-rank test over all pairs. 'best baseline' = for each (data set, rate,",
        "missing), the baseline with the highest mean PR-AUC over the folds (chosen with",
        "hindsight, which favours the baselines).",
        "",
        "| missing | CF | baseline | n | wins | ties | losses | mean diff | median diff | p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    best = _best_baseline(scores, by)
    for miss in sorted(scores["missing_rate"].unique()):
        sub = pd.concat(
            [scores[scores["missing_rate"] == miss], best[best["missing_rate"] == miss]]
        )
        for cf in cf_methods:
            for base in [*[b for b in BASE if b in methods], "best_baseline"]:
                r = paired_comparison(sub, cf, base, by=by)
                lines.append(
                    f"| {miss:.0%} | {cf} | {base} | {r['n']} | {r['wins']} | {r['ties']} | "
                    f"{r['losses']} | {r['mean_diff']:+.4f} | {r['median_diff']:+.4f} | "
                    f"{fmt_p(r['p_value'])} |"
                )
    variants = [v for v in VARIANTS if v in set(scores["method"])]
    if variants:
        lines += [
            "",
            "## Diagnostics: variants of the defaults",
            "",
            "*_certainty: the certainty confidence (the earlier default) instead of uniform;",
            "*_reconstruction: the aggregator on R_hat alone (the seed's model);",
            "*_both: aggregator_input='both' (R_hat beside the observed cells, missing ones",
            "filled from R_hat). Paired over every (data set, rate, fold), against the default",
            "CF (cf_als, the estimator's default solver) and against stacking.",
            "",
            "| missing | variant | mean PR-AUC | vs cf_als: W/T/L, mean diff, p "
            "| vs stacking: W/T/L, mean diff, p |",
            "|---|---|---|---|---|",
        ]
        for miss in sorted(scores["missing_rate"].unique()):
            sub = scores[scores["missing_rate"] == miss]
            for v in ["cf_als", "cf_varpro", "cf_pytorch", *variants]:
                if v not in set(sub["method"]):
                    continue
                cells = []
                for ref in ("cf_als", "stacking"):
                    if v == ref:
                        cells.append("-")
                        continue
                    r = paired_comparison(sub, v, ref, by=by)
                    cells.append(
                        f"{r['wins']}/{r['ties']}/{r['losses']}, {r['mean_diff']:+.4f}, "
                        f"{fmt_p(r['p_value'])}"
                    )
                avg = sub[sub["method"] == v]["score"].mean()
                lines.append(f"| {miss:.0%} | {v} | {avg:.4f} | {cells[0]} | {cells[1]} |")
    lines += ["", "## Fit time per fold (seconds, mean over every setting)", ""]
    sec = scores.groupby(["missing_rate", "method"])["seconds"].mean().unstack(0)
    lines.append("| method | " + " | ".join(f"{m:.0%} missing" for m in sec.columns) + " |")
    lines.append("|---|" + "---|" * len(sec.columns))
    for m in [*methods, *variants]:
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in sec.loc[m]) + " |")
    lines.append("")
    return "\n".join(lines)


def _best_baseline(scores, by):
    """Rows of a pseudo-method 'best_baseline': per setting, the baseline with the best mean."""
    base = scores[scores["method"].isin(BASE)]
    keys = [*by, "missing_rate"]
    means = base.groupby([*keys, "method"])["score"].mean().reset_index()
    winners = means.loc[means.groupby(keys)["score"].idxmax(), [*keys, "method"]]
    best = base.merge(winners, on=[*keys, "method"])
    return best.assign(method="best_baseline")


if __name__ == "__main__":
    main()
