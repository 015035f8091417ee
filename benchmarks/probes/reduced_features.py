"""Probe (issue 12, the block bar): a reduced-feature stacking part (one logistic model per
missingness pattern, on the classifiers that pattern observes) in the 'auto' blend,
offline on auto_parts.py's stored fills, against real_data.csv's baseline fold scores.

Reduced-feature models (Saar-Tsechansky & Provost, JMLR 2007) predict an instance with a
model trained only on the features it has, instead of imputing the rest; the 'pattern
submodel' of Fletcher Mercaldo & Blume (Biostatistics 2020) is the same idea. Here the
training rows' cells outside the pattern need no imputation (the model does not use them);
cells inside the pattern that a training row lacks come from the CF fill (Pf), or such rows
are left out (Po, falling back to Pf when fewer than AUTO_MIN_CLASS minority labels remain).

    PYTHONPATH=src:benchmarks/probes python benchmarks/probes/reduced_features.py A.pkl[,B.pkl,...]

'auto' here is the blend before section 8 of defaults_probe.md (the thirds with one
stacker on logits and missing-cell indicators), the reference of that section's table.
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"

import numpy as np
from auto_candidates import (
    fold_inputs,
    load_fills,
    parts,
    print_groups,
    print_paired,
    score_fills,
    with_baselines,
)

from cfensemble.aggregators import AUTO_MIN_CLASS, fit_weighted_logistic, logit_features
from cfensemble.aggregators import predict_weighted
from cfensemble.objective import class_weights


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
    R, Z, lab, y, miss = fold_inputs(e)
    t = float(out["t"][0])
    M, S, S1 = out["M"], out["Sli"], out["S1"]
    keep = {k: out[k] for k in ("M", "Sli", "S1", "t", "c_half")}
    # 'auto' as it was before this probe: the thirds with the one indicator stacker Sli
    # (parts()' own "auto" is the library's current one).
    keep["auto"] = (1 - 2 * t / 3) * M + t / 3 * (S + S1)
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
    allr, _ = with_baselines(score_fills(load_fills(sys.argv[1]), candidates))
    allr.to_csv(os.environ.get("PROBE_CSV", "/tmp/reduced_features.csv"), index=False)
    print_groups(
        allr, ["auto", "c_half", "c_Pf", "c_Po", "c_half_Pf", "c_half_Po", "c_Pf_Zmean", "Pf", "M"]
    )
    print_paired(allr, ["c_Pf", "c_half_Pf", "c_half"])


if __name__ == "__main__":
    main()
