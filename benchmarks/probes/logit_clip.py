"""Probe (issue 12): the clip of the logit features in 'auto''s per-pattern stacking part.

logit(clip(z, c, 1 - c)) with c = 1e-4 (the library's), 1e-3, 1e-2, 3e-2: a tree's exact
0/1 probabilities become logits of -9.2/+9.2 at 1e-4, points of high leverage for the
logistic stacker. Offline on auto_parts.py's stored fills; 'auto' refitted per clip.

    PYTHONPATH=src python benchmarks/probes/logit_clip.py A.pkl[,B.pkl,...]
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
import cfensemble.aggregators as A
from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.metrics import pr_auc
from cfensemble.patterns import observed_patterns

CONF = ("caravan", "spam7", "hmda")
res = {}
for f in sys.argv[1].split(","):
    res.update(pickle.load(open(f, "rb")))
rows = []
for (name, rate, repeat, fold, regime), e in res.items():
    R, labels, Z = e["R"], e["labels"], np.clip(e["Z"], 0, 1)
    lab = ~np.isnan(labels)
    y = labels[lab]
    miss = np.isnan(R)
    pats = observed_patterns(~miss)
    key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
    cols = slice(e["n_train"], None)
    for clip in (1e-4, 1e-3, 1e-2, 3e-2):
        A._LOGIT_CLIP = clip
        agg = fit_auto_aggregator(Z[:, lab], y, patterns=pats)
        p = predict_auto(Z, agg, R)
        rows.append({**key, "method": f"clip{clip:g}", "score": pr_auc(e["y_test"], p[cols])})
    A._LOGIT_CLIP = 1e-4
df = pd.DataFrame(rows)
allr, _ = with_baselines(df)
allr.to_csv(os.environ.get("PROBE_CSV", "/tmp/logit_clip.csv"), index=False)
t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
cands = ["clip0.0001", "clip0.001", "clip0.01", "clip0.03"]
for label, sel in (("all", None), ("dev", False), ("conf", True)):
    print(f"\n### {label}")
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
