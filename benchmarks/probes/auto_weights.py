"""Probe (issue 12, next step): the 'auto' blend's weights learned from the labeled columns
by cross-validation (a super learner over its three parts), shrunk toward fixed prior
weights, against the shipped fixed blend and c_half; on the real-data fills stored by
auto_parts.py and on synthetic fills made here (make_ensemble, as
benchmarks/synthetic_aggregators.py), where stacking beats the mean by 0.2.

    PYTHONPATH=src python benchmarks/probes/auto_weights.py real A.pkl[,B.pkl] [--baselines CSV]
    PYTHONPATH=src python benchmarks/probes/auto_weights.py synth OUT.pkl [--seeds 3]

Parts (as aggregators.fit_auto_aggregator): M = mean of the observed cells, S = class-
weighted logistic stacking on logit(Z) + missing-cell indicators (l2 0.1), B = the best
single classifier on the labeled rows. Out-of-fold (inner stratified K-fold on the labeled
columns) predictions of the three parts give, on a simplex grid, the weights with the best
pooled out-of-fold PR-AUC, w_cv; the blend uses w = lam w_cv + (1 - lam) w_prior with
lam = n_min / (n_min + k0), n_min the labeled count of the smaller class.

S here is the stacking part of 'auto' as it was for this probe (defaults_probe.md
section 7, commit 674214d); the library's 'auto' now models each missingness pattern
(section 8).
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks/probes")
sys.path.insert(0, "benchmarks")
import argparse
import pickle
import warnings

import numpy as np
import pandas as pd

from cfensemble.aggregators import (
    auto_stacking_features,
    fit_auto_aggregator,
    fit_weighted_logistic,
    predict_auto_mean,
    predict_weighted,
)
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights

warnings.simplefilter("ignore")
STEP = 0.1
GRID = np.array(
    [
        (a, b, 1 - a - b)
        for a in np.arange(0, 1 + 1e-9, STEP)
        for b in np.arange(0, 1 - a + 1e-9, STEP)
    ]
)


def part_preds(Z, R, lab_fit, cols, y_fit):
    """(3, len(cols)) predictions of M, S, B fitted on columns lab_fit (labels y_fit)."""
    miss = np.isnan(R)
    use_miss = miss[:, lab_fit].any()
    M = predict_auto_mean(Z[:, cols], R[:, cols])
    n_w = Z.shape[0] * (2 if use_miss else 1)
    F = auto_stacking_features(Z, miss if use_miss else None, n_w)
    w, b = fit_weighted_logistic(F[:, lab_fit], y_fit, class_weights(y_fit), l2=0.1)
    S = predict_weighted(F[:, cols], w, b)
    single = int(np.argmax([pr_auc(y_fit, Z[u, lab_fit]) for u in range(Z.shape[0])]))
    return np.vstack([M, S, Z[single, cols]])


def stratified_folds(y, k, seed):
    """(fold of each labeled column, k): k = min(k, the smaller class's count) folds, each
    class dealt round-robin over them in a random order."""
    n1 = int(y.sum())
    k = min(k, n1, y.size - n1)
    rng = np.random.RandomState(seed)
    fold = np.empty(y.size, int)
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        fold[rng.permutation(idx)] = np.arange(idx.size) % max(k, 1)
    return fold, k


def cv_weights(Z, R, lab_idx, y, k=5, seed=0):
    """w_cv: the simplex-grid weights of (M, S, B) with the best pooled out-of-fold PR-AUC."""
    fold, k = stratified_folds(y, k, seed)
    if k < 2:
        return None
    oof = np.empty((3, y.size))
    for f in range(k):
        tr, va = fold != f, fold == f
        oof[:, va] = part_preds(Z, R, lab_idx[tr], lab_idx[va], y[tr])
    scores = np.array([pr_auc(y, g @ oof) for g in GRID])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return GRID[best].mean(0)  # ties: their centre


GRID3 = np.vstack([np.full(3, 1 / 3), GRID])  # thirds first


def se1_weights(Z, R, lab_idx, y, k=5, seed=0):
    """One-standard-error rule: per-fold PR-AUC of every grid blend (thirds added); among
    the points whose mean is within one standard error (of the per-fold difference) of the
    best, the one closest to equal thirds."""
    fold, k = stratified_folds(y, k, seed)
    if k < 2:
        return None
    S = np.empty((GRID3.shape[0], k))
    for f in range(k):
        tr, va = fold != f, fold == f
        P = part_preds(Z, R, lab_idx[tr], lab_idx[va], y[tr])
        S[:, f] = [pr_auc(y[va], g @ P) for g in GRID3]
    mean = S.mean(1)
    best = int(np.argmax(mean))
    d = S[best] - S
    se = d.std(1, ddof=1) / np.sqrt(k)
    ok = np.flatnonzero(mean >= mean[best] - se)
    dist = np.abs(GRID3[ok] - 1 / 3).sum(1)
    return GRID3[ok[np.argmin(dist)]]


def candidates(e):
    R, labels, Z = e["R"], e["labels"], np.clip(e["Z"], 0.0, 1.0)
    lab = ~np.isnan(labels)
    lab_idx = np.flatnonzero(lab)
    y = labels[lab]
    cols = np.arange(Z.shape[1])
    P = part_preds(Z, R, lab_idx, cols, y)  # the shipped parts (same fits as 'auto')
    agg = fit_auto_aggregator(Z[:, lab], y, np.isnan(R)[:, lab])
    t = agg.mix
    out = {"M": P[0], "S": P[1], "B": P[2]}
    out["auto"] = (1 - 2 * t / 3) * P[0] + t / 3 * (P[1] + P[2])
    out["c_half"] = (1 - t / 2) * P[0] + t / 4 * (P[1] + P[2])
    wcv = cv_weights(Z, R, lab_idx, y)
    n1 = int(y.sum())
    n_min = min(n1, y.size - n1)
    for pname, prior in (("3", np.array([1, 1, 1]) / 3), ("h", np.array([0.5, 0.25, 0.25]))):
        for k0 in (10, 20, 50):
            if wcv is None:
                w = np.array([1.0, 0, 0])
            else:
                lam = n_min / (n_min + k0)
                w = lam * wcv + (1 - lam) * prior
                w = (1 - t) * np.array([1.0, 0, 0]) + t * w  # the ramp, as the shipped blend
            out[f"sl{pname}_{k0}"] = w @ P
    out["cv"] = (np.array([1.0, 0, 0]) if wcv is None else wcv) @ P
    wse = se1_weights(Z, R, lab_idx, y)
    wse = np.full(3, 1 / 3) if wse is None else wse
    out["se1"] = ((1 - t) * np.array([1.0, 0, 0]) + t * wse) @ P
    return out, wcv


def score(res, baselines=None):
    rows = []
    for key, e in res.items():
        cols = slice(e["n_train"], None)
        y = e["y_test"]
        cand, wcv = candidates(e)
        kd = dict(zip(("dataset", "rate", "repeat", "fold", "regime"), key, strict=True))
        for name, p in cand.items():
            rows.append({**kd, "method": name, "score": pr_auc(y, p[cols])})
        for name, p in (baselines or {}).get(key, {}).items():
            rows.append({**kd, "method": name, "score": pr_auc(y, p[cols])})
        if wcv is not None:
            for j, nm in enumerate("MSB"):
                rows.append({**kd, "method": f"wcv_{nm}", "score": wcv[j]})
    return pd.DataFrame(rows)


def synth_fills(seeds):
    from cfensemble.baselines import mean_aggregation, stacking
    from cfensemble.data import EnsembleData
    from cfensemble.optimization import CFEnsembleTrainer
    from cfensemble.objective import aggregator_features
    from cfensemble.synthetic import make_ensemble

    regimes = {"complete": (0.0, "random"), "random 30%": (0.3, "random")}
    regimes.update({"block": (0.3, "block"), "informative": (0.3, "informative")})
    res, base = {}, {}
    for regime, (rate, mode) in regimes.items():
        for seed in range(seeds):
            for pos in (0.1, 0.05):
                s = make_ensemble(
                    n_classifiers=12,
                    n_instances=1000,
                    positive_rate=pos,
                    missing_rate=rate,
                    missing_mode=mode,
                    random_state=seed,
                )
                order = np.concatenate([s.labeled_idx, s.test_idx])
                R, labels = s.R[:, order], s.labels[order]
                if rate == 0:
                    Z = R
                else:
                    tr = CFEnsembleTrainer(random_state=seed).fit(EnsembleData(R, labels))
                    Z = aggregator_features(tr.X_.T @ tr.Y_, R, "filled")
                key = ("synthetic", f"{pos:.0%}", seed, 0, regime)
                res[key] = dict(
                    R=R, labels=labels, Z=Z, n_train=s.labeled_idx.size, y_test=s.y_true[s.test_idx]
                )
                base[key] = {"mean": mean_aggregation(R, labels), "stacking": stacking(R, labels)}
    return res, base


def report(df, bar_methods):
    t = df.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
    cands = [c for c in t.columns if not c.startswith("wcv_")]
    summ = t.groupby(level="regime")[cands].mean()
    pd.set_option("display.width", 250)
    print(summ.round(4).T.to_string())
    wc = [c for c in t.columns if c.startswith("wcv_")]
    print("\nmean w_cv per regime:\n", t.groupby(level="regime")[wc].mean().round(2).to_string())
    for bar in bar_methods:
        if bar not in t.columns:
            continue
        print(f"\nworst data set (rates averaged) minus {bar}, per regime:")
        for regime in summ.index:
            sub = t.xs(regime)
            gaps = {
                c: (sub[c] - sub[bar]).groupby(level="dataset").mean().min()
                for c in cands
                if c.startswith(("auto", "c_", "sl", "cv"))
            }
            print(f"  {regime}: " + ", ".join(f"{c} {g:+.3f}" for c, g in gaps.items()))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("real", "synth"))
    ap.add_argument("path")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--baselines",
        default="benchmarks/results/real_data.csv",
        help="real: the CSV with the baselines' fold scores (real_data.py --csv-only)",
    )
    a = ap.parse_args()
    if a.what == "synth":
        if os.path.exists(a.path):
            with open(a.path, "rb") as fh:
                res, base = pickle.load(fh)
        else:
            res, base = synth_fills(a.seeds)
            with open(a.path, "wb") as fh:
                pickle.dump((res, base), fh)
        df = score(res, base)
        df.to_csv("/tmp/auto_weights_synth.csv", index=False)
        report(df, ["stacking", "mean"])
    else:
        from auto_candidates import with_baselines

        res = {}
        for f in a.path.split(","):
            with open(f, "rb") as fh:
                res.update(pickle.load(fh))
        df = score(res)
        allr, _ = with_baselines(df, a.baselines)
        allr.to_csv("/tmp/auto_weights_real.csv", index=False)
        report(allr, ["hindsight", "stacking"])
