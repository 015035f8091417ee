import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import pandas as pd
from ana import *


def tab(df, methods, base=BASE):
    M = df.groupby(["dataset", "rate", "method"])["score"].mean().unstack("method")
    hind = M[list(base)].max(axis=1)
    gap = M.sub(hind, axis=0)
    gd = M.groupby(level="dataset").mean().sub(hind.groupby(level="dataset").mean(), axis=0)
    out = pd.DataFrame(
        {
            "mean": M.mean(),
            "vs_hind": M.mean() - hind.mean(),
            "vs_stacking": M.mean() - M["stacking"].mean(),
            "worst_setting": gap.min(),
            "worst_dataset": gd.min(),
        }
    ).loc[methods]
    return hind.mean(), len(M), out


# complete / random / block / informative from p2 (all 180 folds)
for reg, f in (
    ("complete", "a2c.pkl"),
    ("random30", "a2random.pkl"),
    ("block", "a2block.pkl"),
    ("informative", "a2inf.pkl"),
):
    df = pd.read_pickle(f)
    fl = ["none"] if reg == "complete" else ["r1", "r2", "r3", "auto"]
    ms = ["mean", "stacking", "hgb_stacking", "best_single"]
    for fi in fl:
        ms += [
            f"{fi}|{c}"
            for c in ("mean", "stack_p", "eb_p", "M+Sp", "M+Sp+1", "M+Sl01+1", "G20_Sl01")
        ]
    h, n, t = tab(df, ms)
    print(f"== {reg}: hindsight {h:.4f}, {n} settings")
    print(t.round(4).to_string())
