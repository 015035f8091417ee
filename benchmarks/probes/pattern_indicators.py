"""Probe (issue 12, `default` informative): the per-pattern stacking part with missing-cell
indicators added (Pfi): for a column with observed set S, logistic stacking on the logits
of S's classifiers (the CF fill where a labeled column lacks one) plus the m missing-cell
indicators of each labeled column, so that a pattern's abstentions can move its score
(informative missingness) while the fill of the classifiers it lacks is never read.
Offline on auto_parts.py's stored fills, against the shipped 'auto' (Pf, no indicators).

    PYTHONPATH=src python benchmarks/probes/pattern_indicators.py A.pkl[,B.pkl,...]
"""

import os
import pickle
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import numpy as np
import pandas as pd

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import REGIMES, with_baselines
from scipy.stats import wilcoxon

from cfensemble.aggregators import (
    AUTO_L2,
    fit_auto_aggregator,
    fit_weighted_logistic,
    logit_features,
    mean_of_observed,
    predict_auto,
)
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights, sigmoid
from cfensemble.patterns import observed_patterns, pattern_index

CONF = ("caravan", "spam7", "hmda")


def pattern_stacking_with_indicators(Z, miss, lab, y, patterns):
    L = logit_features(Z)
    F_ind = miss.astype(float)
    s = class_weights(y)
    m = Z.shape[0]
    z = np.empty(Z.shape[1])
    g = pattern_index(~miss, patterns)
    sets = [np.ones(m, bool)] + list(patterns)
    for k, S in enumerate(sets):
        cols = np.flatnonzero(g == k - 1)
        if cols.size == 0:
            continue
        F = np.vstack([L[S], F_ind])
        w, b = fit_weighted_logistic(F[:, lab], y, s, l2=AUTO_L2)
        z[cols] = w @ F[:, cols] + b
    return sigmoid(z)


res = {}
for f in sys.argv[1].split(","):
    with open(f, "rb") as fh:
        res.update(pickle.load(fh))
rows = []
for (name, rate, repeat, fold, regime), e in res.items():
    R, labels, Z = e["R"], e["labels"], np.clip(e["Z"], 0, 1)
    lab = ~np.isnan(labels)
    y = labels[lab]
    miss = np.isnan(R)
    pats = observed_patterns(~miss)
    agg = fit_auto_aggregator(Z[:, lab], y, patterns=pats)
    p = predict_auto(Z, agg, R)
    t = agg.mix
    key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
    cols = slice(e["n_train"], None)
    out = {"auto": p}
    if t > 0 and miss.any():
        Pfi = pattern_stacking_with_indicators(Z, miss, lab, y, pats)
        M = np.where((~miss).any(0), mean_of_observed(R), Z.mean(0))
        out["c_Pfi"] = (1 - 2 * t / 3) * M + t / 3 * (Pfi + Z[agg.single])
        out["Pfi"] = Pfi
    else:
        out["c_Pfi"] = out["Pfi"] = p
    for k, v in out.items():
        rows.append({**key, "method": k, "score": pr_auc(e["y_test"], v[cols])})
df = pd.DataFrame(rows)
allr, _ = with_baselines(df)
t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
cands = ["auto", "c_Pfi", "Pfi"]
for label, sel in (("all", None), ("development", False), ("confirmation", True)):
    print(f"\n### {label}\n\n| regime | bar | " + " | ".join(cands) + " |")
    print("|---|---|" + "---|" * len(cands))
    for regime in REGIMES:
        sub = t.xs(regime)
        if sel is not None:
            sub = sub[sub.index.get_level_values("dataset").isin(CONF) == sel]
        bar = "stacking" if regime == "complete" else "hindsight"
        cells = []
        for mth in cands:
            gap = (sub[mth] - sub[bar]).groupby(level="dataset").mean()
            cells.append(f"{sub[mth].mean():.4f} ({gap.min():+.3f} {gap.idxmin()})")
        print(f"| {regime} | {sub[bar].mean():.4f} | " + " | ".join(cells) + " |")
key = ["dataset", "rate", "regime", "repeat", "fold"]
piv = allr.pivot_table(index=key, columns="method", values="score")
print("\nc_Pfi - auto per fold: W/T/L (ties within 0.001), mean, p")
for regime in REGIMES:
    sub = piv.xs(regime, level="regime")
    d = (sub["c_Pfi"] - sub["auto"]).dropna()
    p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
    print(
        regime,
        (d > 1e-3).sum(),
        (d.abs() <= 1e-3).sum(),
        (d < -1e-3).sum(),
        f"{d.mean():+.4f}",
        f"p={p:.2g}",
    )
print(t.xs("informative").loc["default"][["auto", "c_Pfi", "Pfi", "hindsight"]].round(3))
