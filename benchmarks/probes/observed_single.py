"""Probe (issue 12): the single-classifier part of 'auto' from the classifiers that scored
each instance (the best one on the labeled columns among those observed there) instead of
the best classifier's reconstructed cell where it is missing. Offline on auto_parts.py's
stored fills with the shipped 'auto' (per-pattern stacking).

    PYTHONPATH=src python benchmarks/probes/observed_single.py A.pkl[,B.pkl,...]
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

from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.metrics import pr_auc
from cfensemble.patterns import observed_patterns

CONF = ("caravan", "spam7", "hmda")


def observed_single(Z, R, y_lab, lab):
    """p_i = Z[u_i, i], u_i the best classifier (labeled PR-AUC) among those observed at i."""
    order = np.argsort([-pr_auc(y_lab, Z[u, lab]) for u in range(Z.shape[0])], kind="stable")
    obs = ~np.isnan(R)[order]  # rows in order of quality
    first = np.where(obs.any(0), obs.argmax(0), 0)
    return Z[order[first], np.arange(Z.shape[1])]


res = {}
for f in sys.argv[1].split(","):
    with open(f, "rb") as fh:
        res.update(pickle.load(fh))
rows = []
for (name, rate, repeat, fold, regime), e in res.items():
    R, labels, Z = e["R"], e["labels"], np.clip(e["Z"], 0, 1)
    lab = ~np.isnan(labels)
    y = labels[lab]
    agg = fit_auto_aggregator(Z[:, lab], y, patterns=observed_patterns(~np.isnan(R)))
    p = predict_auto(Z, agg, R)
    t = agg.mix
    so = observed_single(Z, R, y, lab) if t > 0 else Z[agg.single]
    q = p + (t / 3) * (so - Z[agg.single])
    key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
    cols = slice(e["n_train"], None)
    for k, v in (("auto", p), ("c_obs_single", q), ("S1", Z[agg.single]), ("S1obs", so)):
        rows.append({**key, "method": k, "score": pr_auc(e["y_test"], v[cols])})
df = pd.DataFrame(rows)
allr, _ = with_baselines(df)
t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
cands = ["auto", "c_obs_single", "S1", "S1obs"]
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
from scipy.stats import wilcoxon

key = ["dataset", "rate", "regime", "repeat", "fold"]
piv = allr.pivot_table(index=key, columns="method", values="score")
print("\nc_obs_single - auto per fold: W/T/L, mean, p")
for regime in REGIMES:
    d = (
        piv.xs(regime, level="regime")["c_obs_single"] - piv.xs(regime, level="regime")["auto"]
    ).dropna()
    p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
    print(
        regime,
        (d > 1e-3).sum(),
        (d.abs() <= 1e-3).sum(),
        (d < -1e-3).sum(),
        f"{d.mean():+.4f}",
        f"p={p:.2g}",
    )
