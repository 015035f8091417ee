import pickle

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cfensemble.metrics import pr_auc

BASE = ("mean", "stacking", "hgb_stacking", "best_single")


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def score_table(res, methods):
    """methods: dict name -> fn(P, entry) -> p. Returns long df."""
    rows = []
    for key, e in res.items():
        name, rate, repeat, fold, regime = key
        for mname, fn in methods.items():
            p = fn(e["P"], e)
            if p is None:
                continue
            rows.append((name, rate, repeat, fold, regime, mname, pr_auc(e["y"], p), e["npos"]))
    return pd.DataFrame(
        rows, columns=["dataset", "rate", "repeat", "fold", "regime", "method", "score", "npos"]
    )


def blend(*names, kind="p", weights=None):
    def fn(P, e):
        if any(n not in P for n in names):
            return None
        ps = [P[n] for n in names]
        if kind == "r":
            ps = [rankdata(p) / len(p) for p in ps]
        wts = np.ones(len(ps)) / len(ps) if weights is None else np.asarray(weights)
        return np.sum([w * p for w, p in zip(wts, ps, strict=False)], axis=0)

    return fn


def summarize(df, repeat=None, top=30, sort="mean"):
    if repeat is not None:
        df = df[df.repeat == repeat]
    M = df.groupby(["dataset", "rate", "method"])["score"].mean().unstack("method")
    hind = M[list(BASE)].max(axis=1)
    gap = M.sub(hind, axis=0)
    # per data set (aggregated over rates)
    Md = M.groupby(level="dataset").mean()
    hd = hind.groupby(level="dataset").mean()
    gapd = Md.sub(hd, axis=0)
    t = pd.DataFrame(
        {
            "mean": M.mean(),
            "vs_hind": M.mean() - hind.mean(),
            "vs_stack": M.mean() - M["stacking"].mean(),
            "worst_set": gap.min(),
            "n<-.02": (gap < -0.02).sum(),
            "worst_ds": gapd.min(),
            "ds<-.02": (gapd < -0.02).sum(),
        }
    ).sort_values(sort, ascending=False)
    print(f"hindsight {hind.mean():.4f}  n settings {len(M)}")
    print(t.head(top).round(4).to_string())
    return M, hind
