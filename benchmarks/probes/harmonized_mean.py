"""Probe (issue 12, the block regime): the mean part of 'auto' put on one scale across
missingness patterns, without labels. PR-AUC ranks the test columns of every pattern
together, and the mean of a column's observed cells sits on its pattern's own scale (the
mean of 4 classifiers against the mean of 8). Here the columns that observe every
classifier (any column, labeled or not: no label is read) teach a map from a pattern's
observed cells to the mean of all m cells, and each incomplete column's mean part is
that map's prediction:

- c_aff: affine in the observed mean, mean_all ~ a + b mean_S (least squares);
- c_affL: the same on the logit scale of both means;
- c_lin: ridge regression of mean_all on S's cells (lambda 1e-3 n);

fitted per observed set S with at least ``MIN_COLS`` complete columns (else the observed
mean, as shipped). The blend is 'auto' with that mean part: (1 - 2t/3) M' + t/3 (P + S1).
Offline on auto_parts.py's stored fills (defaults_probe.md section 10).

    PYTHONPATH=src python benchmarks/probes/harmonized_mean.py A.pkl[,B.pkl] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import numpy as np
from scipy.special import expit, logit

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import fit_auto_aggregator, predict_auto, predict_auto_mean
from cfensemble.patterns import observed_patterns

MIN_COLS = 30
KINDS = ("aff", "affL", "lin")


def _ql(p):
    return logit(np.clip(p, 1e-4, 1 - 1e-4))


def harmonized_mean(R, M, kind):
    """M (n,), the observed mean; -> the harmonized mean part (see the module docstring)."""
    miss = np.isnan(R)
    comp = ~miss.any(0)
    out = M.copy()
    if comp.sum() < MIN_COLS:
        return out
    full = R[:, comp].mean(0)
    keys, inv = np.unique(~miss, axis=1, return_inverse=True)
    inv = inv.ravel()
    for g in range(keys.shape[1]):
        S = keys[:, g]
        if S.all() or not S.any():
            continue
        cols = inv == g
        if kind in ("aff", "affL"):
            x, xc = R[S][:, comp].mean(0), R[S][:, cols].mean(0)
            if kind == "affL":
                x, xc, t = _ql(x), _ql(xc), _ql(full)
            else:
                t = full
            A = np.vstack([np.ones_like(x), x]).T
            coef = np.linalg.lstsq(A, t, rcond=None)[0]
            v = coef[0] + coef[1] * xc
            out[cols] = expit(v) if kind == "affL" else np.clip(v, 0, 1)
        else:
            X = R[S][:, comp].T
            if X.shape[0] < 3 * (X.shape[1] + 1):
                continue
            mu, c = X.mean(0), full.mean()
            Xc = X - mu
            lam = 1e-3 * X.shape[0]
            w = np.linalg.solve(Xc.T @ Xc + lam * np.eye(X.shape[1]), Xc.T @ (full - c))
            out[cols] = np.clip(c + (R[S][:, cols].T - mu) @ w, 0, 1)
    return out


def candidates(e):
    R, Z, lab, y, miss = fold_inputs(e)
    agg = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=observed_patterns(~miss))
    p = predict_auto(Z, agg, R)
    M = predict_auto_mean(Z, R)
    wm = 1.0 - 2.0 * agg.mix / 3.0
    out = {"auto": p, "M": M}
    for kind in KINDS:
        H = harmonized_mean(R, M, kind)
        out[f"c_{kind}"] = p + wm * (H - M)
        out[f"M_{kind}"] = H
    return out


run_probe(candidates, ["auto"] + [f"c_{k}" for k in KINDS] + ["M"] + [f"M_{k}" for k in KINDS])
