"""Probe for the defaults of issue 12: which rank, fill and aggregator win on real data.

Reuses the real-data benchmark's cached R per fold (benchmarks/real_data.py builds it;
the same cache keys, folds and seeds), applies each missing-prediction regime
(complete, random 30%, block: half the classifiers absent for half the instances,
informative: 30% of the cells, abstention likelier where a classifier is unsure), and
scores many candidate defaults on the same matrices: the baselines; fills of the missing
cells (plain low-rank factorization at the selected rank or at m // 3; the ALS and varpro
trainers' reconstructions); aggregators on the filled matrix (mean, class-weighted
stacking, stacking shrunk toward equal weights, blends). Writes one CSV of PR-AUCs;
``--summary CSV`` prints the tables the decisions were made from.

    .venv/bin/python benchmarks/defaults_probe.py --out probe.csv [--repeats 0]
    .venv/bin/python benchmarks/defaults_probe.py --summary probe.csv
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from itertools import groupby  # noqa: E402
from operator import itemgetter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.model_selection import RepeatedStratifiedKFold  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from real_data import POOL_VERSION, RATES, settings  # noqa: E402

from cfensemble.aggregators import (  # noqa: E402
    fit_shrinkage_logistic,
    fit_weighted_logistic,
    predict_weighted,
)
from cfensemble.baselines import BASELINES  # noqa: E402
from cfensemble.data import EnsembleData  # noqa: E402
from cfensemble.datasets import DATASETS  # noqa: E402
from cfensemble.metrics import pr_auc  # noqa: E402
from cfensemble.objective import class_weights  # noqa: E402
from cfensemble.optimization import CFEnsembleTrainer  # noqa: E402
from cfensemble.rank import _fit_factors, select_rank  # noqa: E402
from cfensemble.synthetic import apply_missingness  # noqa: E402

REGIMES = {
    "complete": None,
    "random30": dict(rate=0.3, mode="random"),
    "block": dict(rate=0.25, mode="block", group_share=0.5),
    "informative": dict(rate=0.3, mode="informative", informative="uncertainty"),
}
BASE = ("mean", "stacking", "hgb_stacking", "best_single")


def regime_matrix(R, regime, seed):
    spec = REGIMES[regime]
    if spec is None:
        return R
    return apply_missingness(R, random_state=seed, **spec)


def rank_blend(*ps):
    """Average of the columns' ranks (scaled to [0, 1]): a blend that ignores scales."""
    return np.mean([rankdata(p) / len(p) for p in ps], axis=0)


def aggregators(Z, labels):
    """Aggregator candidates on a filled matrix Z (m, n) -> {name: p (n,)}."""
    lab = ~np.isnan(labels)
    y = labels[lab]
    n_pos = int(y.sum())
    out = {}
    p_mean = Z.mean(axis=0)
    out["mean"] = p_mean
    w, b = fit_weighted_logistic(Z[:, lab], y, class_weights(y), l2=1e-3)
    p_stack = predict_weighted(Z, w, b)
    out["stack"] = p_stack
    w, b, lam = fit_shrinkage_logistic(Z[:, lab], y)
    p_eb = predict_weighted(Z, w, b)
    out["shrink_eb"] = p_eb
    for k in (1.0, 10.0):
        w2, b2, _ = fit_shrinkage_logistic(Z[:, lab], y, strength=k)
        out[f"shrink_{k:g}"] = predict_weighted(Z, w2, b2)
    out["blend_mean_stack"] = 0.5 * p_mean + 0.5 * p_stack
    out["blend_mean_eb"] = 0.5 * p_mean + 0.5 * p_eb
    out["rblend_mean_stack"] = rank_blend(p_mean, p_stack)
    out["rblend_mean_eb"] = rank_blend(p_mean, p_eb)
    # Label-scarce fallback: the mean below 20 labeled positives.
    out["fb_blend_mean_stack"] = p_mean if n_pos < 20 else out["blend_mean_stack"]
    out["fb_blend_mean_eb"] = p_mean if n_pos < 20 else out["blend_mean_eb"]
    # Logit features.
    L = np.log(np.clip(Z, 1e-4, 1 - 1e-4)) - np.log1p(-np.clip(Z, 1e-4, 1 - 1e-4))
    w, b = fit_weighted_logistic(L[:, lab], y, class_weights(y), l2=1e-3)
    out["stack_logit"] = predict_weighted(L, w, b)
    out["blend_mean_stacklogit"] = 0.5 * p_mean + 0.5 * out["stack_logit"]
    return out, lam


def trainer_fill(R, labels, d, solver, rho=0.5, **kw):
    t = CFEnsembleTrainer(
        R.shape[0],
        latent_dim=d,
        rho=rho,
        solver=solver,
        confidence="uniform",
        aggregator_input="filled",
        random_state=0,
        **kw,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.fit(EnsembleData(R, labels))
    return t.X_.T @ t.Y_, t.predict()


def rank_candidates(R, labels, seed):
    """Fills at fixed ranks 1-3, at the selected rank (one-SE rule) and at the best one."""
    preds = {b: BASELINES[b](R, labels) for b in BASE}
    info = {}
    if not np.isnan(R).any():
        return preds, info
    sel = select_rank(R, random_state=seed)
    best = select_rank(R, random_state=seed, one_standard_error=False)
    info["rank_auto"], info["rank_min"] = sel.rank, best.rank
    R0 = np.nan_to_num(R)
    obs = (~np.isnan(R)).astype(float)
    ranks = {"r1": 1, "r2": 2, "r3": 3, "auto": sel.rank, "min": best.rank}
    for tag, d in ranks.items():
        X, Y = _fit_factors(R0, obs, d, 0.01, 100, 1e-5, np.random.RandomState(0))
        Z = np.where(np.isnan(R), X.T @ Y, R)
        aggs, _ = aggregators(Z, labels)
        for aname in ("mean", "stack", "shrink_eb", "stack_logit", "blend_mean_stacklogit"):
            preds[f"mf_{tag}|{aname}"] = aggs[aname]
    return preds, info


def candidates(R, labels, seed, *, heavy=True):
    """Every probed method on one matrix -> ({name: p}, info dict)."""
    preds = {b: BASELINES[b](R, labels) for b in BASE}
    info = {}
    m = R.shape[0]
    missing = np.isnan(R).any()
    fills = {}
    if not missing:
        fills["none"] = R
    else:
        t0 = time.perf_counter()
        sel = select_rank(R, random_state=seed)
        info["rank_auto"] = sel.rank
        info["rank_seconds"] = time.perf_counter() - t0
        R0 = np.nan_to_num(R)
        obs = (~np.isnan(R)).astype(float)
        for tag, d in (("auto", sel.rank), ("m3", max(1, m // 3))):
            X, Y = _fit_factors(R0, obs, d, 0.01, 100, 1e-5, np.random.RandomState(0))
            fills[f"mf_{tag}"] = X.T @ Y
        if heavy:
            for tag, d in (("auto", sel.rank), ("m3", max(1, m // 3))):
                fills[f"als_{tag}"], preds[f"cf_als_{tag}"] = trainer_fill(R, labels, d, "als")
            for rho in (0.5, 0.9, 1.0):
                Rh, p = trainer_fill(R, labels, sel.rank, "varpro", rho=rho)
                fills[f"vp{rho:g}_auto"], preds[f"cf_vp{rho:g}_auto"] = Rh, p
    for fname, R_hat in fills.items():
        Z = np.where(np.isnan(R), R_hat, R)
        aggs, lam = aggregators(Z, labels)
        info[f"lam_{fname}"] = lam
        for aname, p in aggs.items():
            preds[f"{fname}|{aname}"] = p
    return preds, info


CACHE = str(Path(tempfile.gettempdir()) / "cfensemble_real_data")  # real_data.py's --cache


def cached_folds(names, cache=CACHE, repeats=(0, 1)):
    """Every outer fold of real_data.py's CV with its cached R: the same splits, same files.

    Yields (name, rate, k, train, test, y, R, labels), k = 5 * repeat + fold; folds of a
    repeat not in ``repeats`` are skipped before their file is read.
    """
    for name, rate, X, y, _note in settings(names, RATES):
        if X is None:
            continue
        rng = check_random_state(0)
        splits = RepeatedStratifiedKFold(
            n_splits=5, n_repeats=2, random_state=rng.randint(2**31 - 1)
        ).split(X, y)
        key = f"{POOL_VERSION}_{name}_{rate.split()[0]}_cv3"
        for k, (train, test) in enumerate(splits):
            repeat, fold = divmod(k, 5)
            if repeat not in repeats:
                continue
            with np.load(Path(cache) / f"{key}_r{repeat}_f{fold}.npz") as f:
                yield name, rate, k, train, test, y, f["R"], f["labels"]


def run(args):
    warnings.simplefilter("ignore")
    names = args.datasets.split(",")
    repeats = [int(r) for r in args.repeats.split(",")]
    regimes = args.regimes.split(",")
    rows = []
    out = Path(args.out)
    t_start = time.perf_counter()
    for (name, rate), folds in groupby(cached_folds(names, args.cache, repeats), itemgetter(0, 1)):
        for _name, _rate, k, train, test, y, R, labels in folds:
            repeat, fold = divmod(k, 5)
            y_test = y[test]
            cols = slice(len(train), None)
            for regime in regimes:
                R_reg = regime_matrix(R, regime, seed=k)
                t0 = time.perf_counter()
                if args.ranks:
                    preds, info = rank_candidates(R_reg, labels, seed=k)
                else:
                    preds, info = candidates(R_reg, labels, seed=k, heavy=not args.light)
                sec = time.perf_counter() - t0
                for meth, p in preds.items():
                    rows.append(
                        dict(
                            dataset=name,
                            rate=rate,
                            repeat=repeat,
                            fold=fold,
                            regime=regime,
                            method=meth,
                            score=pr_auc(y_test, np.asarray(p)[cols]),
                            n_pos_train=int(np.nansum(labels)),
                            seconds=sec,
                            **info,
                        )
                    )
        pd.DataFrame(rows).to_csv(out, index=False)
        print(f"{name} {rate}: {time.perf_counter() - t_start:.0f}s", flush=True)


def summary(path, refs=("stacking",)):
    df = pd.read_csv(path)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    setting = ["dataset", "rate", "regime"]
    means = df.groupby([*setting, "method"])["score"].mean().unstack("method")
    hind = means[list(BASE)].max(axis=1)
    for regime in means.index.get_level_values("regime").unique():
        M = means.xs(regime, level="regime").dropna(axis=1, how="all")
        h = hind.xs(regime, level="regime")
        avg = M.mean().sort_values(ascending=False)
        gap = M.sub(h, axis=0)
        tab = pd.DataFrame(
            {
                "mean": avg,
                "vs_hind": avg - h.mean(),
                "vs_stack": avg - M["stacking"].mean(),
                "worst_gap": gap.min()[avg.index],
                "n_below_0.02": (gap < -0.02).sum()[avg.index],
            }
        )
        print(f"\n=== {regime}: hindsight-best {h.mean():.4f}")
        print(tab.head(args_top).round(4).to_string())


args_top = 40

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--repeats", default="0,1")
    ap.add_argument("--regimes", default=",".join(REGIMES))
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--out", default="defaults_probe.csv")
    ap.add_argument("--light", action="store_true", help="no trainer fits, only fills + aggs")
    ap.add_argument("--ranks", action="store_true", help="the rank experiment only")
    ap.add_argument("--summary", help="print the summary tables of a probe CSV and stop")
    ap.add_argument("--top", type=int, default=40)
    a = ap.parse_args()
    if a.summary:
        args_top = a.top
        summary(a.summary)
    else:
        run(a)
