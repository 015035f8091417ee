"""Probe (issue 12, the block bar): a reduced-feature stacking part (one logistic model per
missingness pattern, on the classifiers that pattern observes) in the 'auto' blend,
offline on auto_parts.py's stored fills, against real_data.csv's baseline fold scores.

Reduced-feature models (Saar-Tsechansky & Provost, JMLR 2007) predict an instance with a
model trained only on the features it has, instead of imputing the rest; the 'pattern
submodel' of Fletcher Mercaldo & Blume (Biostatistics 2020) is the same idea. Here the
training rows' cells outside the pattern need no imputation (the model does not use them);
cells inside the pattern that a training row lacks come from the CF fill (Pf), or such rows
are left out (Po, falling back to Pf when fewer than AUTO_MIN_CLASS minority labels remain).

    PYTHONPATH=src python benchmarks/probes/reduced_features.py A.pkl[,B.pkl,...]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import pickle

import numpy as np
import pandas as pd
from auto_candidates import REGIMES, parts, with_baselines

from cfensemble.aggregators import AUTO_MIN_CLASS, fit_weighted_logistic, logit_features
from cfensemble.aggregators import predict_weighted
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights

CONFIRMATION = ("caravan", "spam7", "hmda")


def reduced_stacking(Z, miss, lab, y, *, observed_only, l2=0.1):
    """p (n,): per observed set S of a column, logistic stacking on logit(Z[S]) fitted on the
    labeled columns (all of them, fill where they lack a cell of S; or only those observing
    all of S when observed_only and enough minority labels remain)."""
    L = logit_features(Z)
    obs = ~miss
    keys = np.packbits(obs, axis=0).T  # (n, bytes): one key per pattern
    _, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.ravel()
    p = np.empty(Z.shape[1])
    for g in np.unique(inv):
        cols = np.flatnonzero(inv == g)
        S = obs[:, cols[0]]
        if not S.any():
            S = np.ones_like(S)
        rows = np.flatnonzero(lab)
        yy = y
        if observed_only:
            keep = obs[S][:, rows].all(axis=0)
            n1 = int(yy[keep].sum())
            if min(n1, keep.sum() - n1) >= AUTO_MIN_CLASS:
                rows, yy = rows[keep], yy[keep]
        w, b = fit_weighted_logistic(L[S][:, rows], yy, class_weights(yy), l2=l2)
        p[cols] = predict_weighted(L[S][:, cols], w, b)
    return p


def candidates(e):
    out = parts(e)
    R, labels = e["R"], e["labels"]
    Z = np.clip(e["Z"], 0.0, 1.0)
    lab = ~np.isnan(labels)
    y = labels[lab]
    miss = np.isnan(R)
    t = float(out["t"][0])
    M, S, S1 = out["M"], out["Sli"], out["S1"]
    keep = {k: out[k] for k in ("auto", "M", "Sli", "S1", "t", "c_half")}
    if t > 0 and miss.any():
        Pf = reduced_stacking(Z, miss, lab, y, observed_only=False)
        Po = reduced_stacking(Z, miss, lab, y, observed_only=True)
    else:
        Pf = Po = S
    keep["Pf"], keep["Po"] = Pf, Po
    keep["c_Pf"] = (1 - 2 * t / 3) * M + t / 3 * (Pf + S1)
    keep["c_Po"] = (1 - 2 * t / 3) * M + t / 3 * (Po + S1)
    keep["c_SPf"] = (1 - 2 * t / 3) * M + t / 3 * ((S + Pf) / 2 + S1)
    keep["c_half_Po"] = (1 - t / 2) * M + t / 4 * (Po + S1)
    keep["c_half_Pf"] = (1 - t / 2) * M + t / 4 * (Pf + S1)
    # the mean part on the fill (observed cells, reconstructed missing ones)
    keep["c_Pf_Zmean"] = (1 - 2 * t / 3) * Z.mean(0) + t / 3 * (Pf + S1)
    return keep


def main():
    res = {}
    for f in sys.argv[1].split(","):
        with open(f, "rb") as fh:
            res.update(pickle.load(fh))
    rows = []
    for (name, rate, repeat, fold, regime), e in res.items():
        cols = slice(e["n_train"], None)
        key = dict(dataset=name, rate=rate, repeat=repeat, fold=fold, regime=regime)
        for k, p in candidates(e).items():
            v = float(p[cols][0]) if k == "t" else pr_auc(e["y_test"], p[cols])
            rows.append({**key, "method": k, "score": v})
    df = pd.DataFrame(rows)
    allr, _ = with_baselines(df)
    allr.to_csv(os.environ.get("PROBE_CSV", "/tmp/p13/reduced.csv"), index=False)
    cands = ["auto", "c_half", "c_Pf", "c_Po", "c_half_Pf", "c_half_Po", "c_Pf_Zmean", "Pf", "M"]
    t = allr.groupby(["regime", "dataset", "rate", "method"])["score"].mean().unstack("method")
    for label, sel in (
        ("all", None),
        ("development", lambda d: ~d.isin(CONFIRMATION)),
        ("confirmation", lambda d: d.isin(CONFIRMATION)),
    ):
        print(f"\n### {label}\n\n| regime | hindsight | " + " | ".join(cands) + " |")
        print("|---|---|" + "---|" * len(cands))
        for regime in REGIMES:
            sub = t.xs(regime)
            if sel is not None:
                sub = sub[sel(sub.index.get_level_values("dataset"))]
            bar = "stacking" if regime == "complete" else "hindsight"
            cells = []
            for mth in cands:
                gap = (sub[mth] - sub[bar]).groupby(level="dataset").mean()
                cells.append(f"{sub[mth].mean():.4f} ({gap.min():+.3f} {gap.idxmin()})")
            print(f"| {regime} | {sub['hindsight'].mean():.4f} | " + " | ".join(cells) + " |")
    print("\nPaired per fold vs auto: W/T/L (ties within 0.001), mean diff, Wilcoxon p")
    from scipy.stats import wilcoxon

    key = ["dataset", "rate", "regime", "repeat", "fold"]
    piv = allr.pivot_table(index=key, columns="method", values="score")
    for regime in REGIMES:
        sub = piv.xs(regime, level="regime")
        cells = []
        for c in ("c_Pf", "c_half_Pf", "c_half"):
            d = (sub[c] - sub["auto"]).dropna()
            p = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            cells.append(
                f"{c} {(d > 1e-3).sum()}/{(d.abs() <= 1e-3).sum()}/{(d < -1e-3).sum()}"
                f" {d.mean():+.4f} p={p:.2g}"
            )
        print(f"| {regime} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
