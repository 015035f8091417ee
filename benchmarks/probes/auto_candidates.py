"""Probe (issue 12, why pima and `default` lose): the 'auto' blend's parts scored
separately and candidate blends, offline on auto_parts.py's stored fills, against the
baselines' fold scores in benchmarks/results/real_data.csv (same folds, same cells).

    PYTHONPATH=src python benchmarks/probes/auto_candidates.py A.pkl[,B.pkl] [Zkey]

Zkey: which stored fill the blends read ('Z', the default rank, or 'Z1', 'Z3', ...).

'auto' is the library's current one; defaults_probe.md sections 6-7 ran before its
stacking part became reduced-feature models (section 8), when 'auto' was
(1 - 2t/3) M + t/3 (Sli + S1) with the Sli computed here (commit 674214d).
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import pickle

import numpy as np
import pandas as pd
from scipy.special import logit

from cfensemble.aggregators import (
    AUTO_MIN_CLASS,
    auto_stacking_features,
    fit_auto_aggregator,
    fit_weighted_logistic,
    logit_features,
    predict_auto,
    predict_auto_mean,
    predict_weighted,
)
from cfensemble.baselines import stacking
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights

BASE = ("mean", "stacking", "hgb_stacking", "best_single")
#: Added after the defaults were chosen (real_data.py's CONFIRMATION).
CONFIRMATION = ("caravan", "spam7", "hmda")
REGIMES = ("complete", "random 30%", "block", "informative")


def zlogit(p, ref):
    """Logit of p, centred and scaled by its spread over the columns ref (labeled)."""
    q = logit(np.clip(p, 1e-6, 1 - 1e-6))
    return (q - q[ref].mean()) / (q[ref].std() + 1e-12)


def parts(e, zkey="Z"):
    """{name: p over all columns}: the parts of 'auto' and candidate blends."""
    R, labels, Z = e["R"], e["labels"], np.clip(e[zkey], 0.0, 1.0)
    lab = ~np.isnan(labels)
    y = labels[lab]
    miss = np.isnan(R)
    agg = fit_auto_aggregator(Z[:, lab], y, miss[:, lab])
    single, t = agg.single, agg.mix
    out = {"auto": predict_auto(Z, agg, R)}
    out["M"] = predict_auto_mean(Z, R)
    # Sli: the stacking part of sections 6-7 ('auto' before section 8): one model on the
    # fill's logits and, where cells are missing, missing-cell indicators.
    n_w = Z.shape[0] * (2 if miss[:, lab].any() else 1)
    F = auto_stacking_features(Z, miss if n_w > Z.shape[0] else None, n_w)
    if t > 0:
        w, b = fit_weighted_logistic(F[:, lab], y, class_weights(y), l2=0.1)
        out["Sli"] = predict_weighted(F, w, b)
    else:
        out["Sli"] = out["M"]
    L = logit_features(Z)
    w2, b2 = fit_weighted_logistic(L[:, lab], y, class_weights(y), l2=0.1)
    out["Sl"] = predict_weighted(L, w2, b2)
    out["S1"] = Z[single]
    out["t"] = np.full(Z.shape[1], t)
    M, S, S1 = out["M"], out["Sli"], out["S1"]
    # candidate 1: thirds with no ramp (t = 1 whenever both classes are labeled)
    tt = 1.0 if t > 0 else 0.0
    out["c_noramp"] = (1 - 2 * tt / 3) * M + tt / 3 * (S + S1)
    # candidate 2: the same weights, each part on a common scale (standardized logits):
    # a class-weighted stacker's probabilities spread over (0, 1) while the mean of a rare
    # class sits near 0, so a probability average is ranked almost by stacking alone.
    out["c_zlogit"] = (1 - 2 * t / 3) * zlogit(M, lab) + t / 3 * (zlogit(S, lab) + zlogit(S1, lab))
    # candidate 3: half mean, a quarter each learned part
    out["c_half"] = (1 - t / 2) * M + t / 4 * (S + S1)
    # candidate 4: the stacking part = the stacking baseline (probabilities, missing cells
    # mean-imputed per classifier, no indicators, l2 1e-3) instead of logits of the fill
    out["Sbase"] = stacking(R, labels) if t > 0 else M
    out["c_basestack"] = (1 - 2 * t / 3) * M + t / 3 * (out["Sbase"] + S1)
    # the same learner on the filled matrix (separates the fill from the features)
    w3, b3 = fit_weighted_logistic(Z[:, lab], y, class_weights(y), l2=1e-3)
    out["Sp"] = predict_weighted(Z, w3, b3)
    # candidate 6: the stacking part on the fill's probabilities (+ indicators), not logits
    Fp = np.vstack([Z, miss.astype(float)]) if w.shape[0] > Z.shape[0] else Z
    if t > 0:
        w4, b4 = fit_weighted_logistic(Fp[:, lab], y, class_weights(y), l2=0.1)
        out["Spi"] = predict_weighted(Fp, w4, b4)
    else:
        out["Spi"] = M
    out["c_prob"] = (1 - 2 * t / 3) * M + t / 3 * (out["Spi"] + S1)
    out["c_prob_half"] = (1 - t / 2) * M + t / 4 * (out["Spi"] + S1)
    # candidate 5: a slower ramp toward the mean, t = min(1, n_min / 50)
    n1 = int(np.sum(y == 1))
    t50 = min(1.0, min(n1, y.size - n1) / 50)
    out["c_ramp50"] = (1 - 2 * t50 / 3) * M + t50 / 3 * (S + S1)
    # candidates 3 and 5 together
    out["c_half_ramp50"] = (1 - t50 / 2) * M + t50 / 4 * (S + S1)
    # variants for the diagnosis
    out["M+Sl+1"] = (1 - 2 * t / 3) * M + t / 3 * (out["Sl"] + S1)
    out["M+Sli"] = (1 - t / 2) * M + t / 2 * S
    out["rankavg"] = np.mean([pd.Series(v).rank().to_numpy() for v in (M, S, S1)], 0)
    return out


def scores_table(res, zkey="Z"):
    res = {k: e for k, e in res.items() if zkey in e}
    extra = []
    for (name, rate, repeat, fold, regime), e in res.items():
        key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
        extra.append({**key, "method": "rank", "score": np.nan if e["rank"] is None else e["rank"]})
        if "p_auto" in e:
            p = e["p_auto"][e["n_train"] :]
            extra.append({**key, "method": "trainer", "score": pr_auc(e["y_test"], p)})
    scores = score_fills(res, lambda e: parts(e, zkey))
    return pd.concat([scores, pd.DataFrame(extra)], ignore_index=True)


def with_baselines(df, csv="benchmarks/results/real_data.csv"):
    base = pd.read_csv(csv)
    base = base[base["method"].isin([*BASE, "cf_als"])]
    key = ["dataset", "rate", "regime", "repeat", "fold"]
    base = base.merge(df[key].drop_duplicates(), on=key)
    allr = pd.concat([df, base[[*key, "method", "score"]]], ignore_index=True)
    means = allr[allr.method.isin(BASE)].groupby(["dataset", "rate", "regime", "method"])["score"]
    m = means.mean().reset_index()
    win = m.loc[m.groupby(["dataset", "rate", "regime"])["score"].idxmax()]
    hb = allr.merge(
        win[["dataset", "rate", "regime", "method"]], on=["dataset", "rate", "regime", "method"]
    ).assign(method="hindsight")
    return pd.concat([allr, hb], ignore_index=True), win


def load_fills(paths: str) -> dict:
    """The stored fills of auto_parts.py: comma-separated pickle paths, merged."""
    res = {}
    for f in paths.split(","):
        with open(f, "rb") as fh:
            res.update(pickle.load(fh))
    return res


def fold_inputs(e):
    """One stored fold: R, Z (clipped to [0, 1]), the labeled mask, its labels, missing."""
    R, labels = e["R"], e["labels"]
    lab = ~np.isnan(labels)
    return R, np.clip(e["Z"], 0.0, 1.0), lab, labels[lab], np.isnan(R)


def score_fills(res, predictions) -> pd.DataFrame:
    """Test PR-AUC of every stored fold's candidates; ``predictions(e)`` -> {name: p over all
    columns} (a name 't' is kept as the value, the blend's mix)."""
    rows = []
    for (name, rate, repeat, fold, regime), e in res.items():
        cols = slice(e["n_train"], None)
        key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
        for k, p in predictions(e).items():
            v = float(p[cols][0]) if k == "t" else pr_auc(e["y_test"], p[cols])
            rows.append({**key, "method": k, "score": v})
    return pd.DataFrame(rows)


def summary(allr, methods, datasets=None):
    """Per regime: mean over settings, and the worst data set's gap (rates averaged) to
    hindsight (stacking on complete R); only ``datasets`` when given."""
    t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
    lines = []
    for regime in REGIMES:
        if regime not in t.index.get_level_values(0):
            continue
        sub = t.xs(regime)
        if datasets is not None:
            sub = sub[sub.index.get_level_values("dataset").isin(datasets)]
        bar = "stacking" if regime == "complete" else "hindsight"
        cells = []
        for mth in methods:
            gap = (sub[mth] - sub[bar]).groupby(level="dataset").mean()
            cells.append(f"{sub[mth].mean():.4f} ({gap.min():+.3f} {gap.idxmin()})")
        first = f"{sub['hindsight'].mean():.4f}"
        if bar != "hindsight":
            first += f" ({bar} {sub[bar].mean():.4f})"
        lines.append(f"| {regime} | {first} | " + " | ".join(cells) + " |")
    return lines


def print_groups(allr, methods):
    """summary() for all data sets, the development sets and the confirmation sets."""
    every = sorted(allr["dataset"].unique())
    for label, names in (
        ("all", None),
        ("development", [d for d in every if d not in CONFIRMATION]),
        ("confirmation", [d for d in every if d in CONFIRMATION]),
    ):
        print(f"\n### {label}\n\n| regime | hindsight | " + " | ".join(methods) + " |")
        print("|---|---|" + "---|" * len(methods))
        print("\n".join(summary(allr, methods, names)))


def print_paired(allr, methods, ref="auto"):
    """Per regime, each method against ``ref`` per fold: W/T/L (ties within 0.001), mean
    difference, two-sided Wilcoxon p."""
    from scipy.stats import wilcoxon

    print(f"\nPaired per fold vs {ref}: W/T/L (ties within 0.001), mean diff, Wilcoxon p")
    key = ["dataset", "rate", "regime", "repeat", "fold"]
    piv = allr.pivot_table(index=key, columns="method", values="score")
    for regime in REGIMES:
        if regime not in piv.index.get_level_values("regime"):
            continue
        sub = piv.xs(regime, level="regime")
        cells = []
        for c in methods:
            d = (sub[c] - sub[ref]).dropna()
            p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            cells.append(
                f"{c} {(d > 1e-3).sum()}/{(d.abs() <= 1e-3).sum()}/{(d < -1e-3).sum()}"
                f" {d.mean():+.4f} p={p:.2g}"
            )
        print(f"| {regime} | " + " | ".join(cells) + " |")


def run_probe(candidates, methods, default_regimes=REGIMES, csv=None):
    """A probe's command line, ``PROBE.py FILLS[,FILLS] [regime,...]``: score
    ``candidates(e)`` on the stored fills of those regimes, write the scores to ``csv``
    (or $PROBE_CSV), print the per-group tables of ``methods`` (the first is the
    reference) and their paired comparisons to it; returns the scores with the baselines
    and the hindsight rows."""
    res = load_fills(sys.argv[1])
    regimes = sys.argv[2].split(",") if len(sys.argv) > 2 else list(default_regimes)
    res = {k: v for k, v in res.items() if k[4] in regimes}
    df = score_fills(res, candidates)
    values = df[df["method"] == "t"]
    df = df[df["method"] != "t"]
    if len(values):
        print("'t' (mean over folds):", values.groupby("regime")["score"].mean().round(3).to_dict())
    df.to_csv(csv or os.environ.get("PROBE_CSV", "/tmp/probe.csv"), index=False)
    allr, _ = with_baselines(df)
    print_groups(allr, methods)
    print_paired(allr, methods[1:], ref=methods[0])
    return allr


if __name__ == "__main__":
    res = load_fills(sys.argv[1])
    zkey = sys.argv[2] if len(sys.argv) > 2 else "Z"
    df = scores_table(res, zkey)
    allr, win = with_baselines(df)
    allr.to_csv(os.environ.get("PROBE_CSV", "/tmp/auto_candidates.csv"), index=False)
    t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
    pd.set_option("display.width", 250)
    print(t.round(4).to_string())
    print(
        f"\nAUTO_MIN_CLASS = {AUTO_MIN_CLASS}; fill {zkey}; settings per regime:",
        t.groupby(level="regime").size().to_dict(),
    )
    cands = ["auto", *[c for c in t.columns if c.startswith("c_")], "M", "Sli", "S1"]
    print("\n| regime | hindsight | " + " | ".join(cands) + " |")
    print("|---|---|" + "---|" * len(cands))
    print("\n".join(summary(allr, cands)))
    print_paired(allr, cands[1:])
