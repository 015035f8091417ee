"""Probe (issue 12, the settings with 15-40 positives): the single-classifier part of
'auto' is the classifier with the best PR-AUC on the labeled columns, a choice made on
as few as 15 positives. Where that choice is noise (spam7 and medpar at 1-5%, block: the
best single scores 0.05-0.10 below the mean there), the part adds noise with weight t/3.

Candidate: bootstrap the choice (Buckland, Burnham and Augustin 1997, model averaging by
bootstrap selection frequencies). Resample the labeled columns B times, find the best
classifier in each resample, and use pi_u = the share of resamples that chose u:
single part = sum_u pi_u z_u. With many labels pi concentrates on one classifier (the
shipped part); with few it spreads over the classifiers that could be best. No new
constant beyond B.

Offline on auto_parts.py's stored fills.

    PYTHONPATH=src python benchmarks/probes/bootstrap_single.py A.pkl[,B.pkl] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import numpy as np

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import (
    fit_auto_aggregator,
    predict_auto,
    predict_auto_mean,
    predict_auto_stacking,
)
from cfensemble.patterns import observed_patterns

B = 200


def weighted_ap(Z, y, W):
    """Average precision of every row of Z under every row of weights W (sklearn's
    definition with sample_weight: steps at distinct scores, ties grouped).

    Z (m, n) scores, y (n,) 0/1, W (B, n) >= 0 -> (B, m).
    """
    out = np.empty((W.shape[0], Z.shape[0]))
    for u, z in enumerate(Z):
        o = np.argsort(-z, kind="stable")
        zs, ys = z[o], y[o]
        last = np.r_[zs[1:] != zs[:-1], True]  # the last index of each tie group
        tp = np.cumsum(W[:, o] * ys, axis=1)[:, last]
        fp = np.cumsum(W[:, o] * (1 - ys), axis=1)[:, last]
        pos = tp[:, -1:]
        prec = tp / np.maximum(tp + fp, 1e-300)
        dtp = np.diff(np.c_[np.zeros(len(W)), tp], axis=1)
        out[:, u] = (dtp * prec).sum(1) / np.maximum(pos[:, 0], 1e-300)
    return out


def selection_frequencies(Z, y, n_boot=B, seed=0):
    """pi (m,): the share of bootstrap resamples of the columns in which each row of Z has
    the best average precision (ties split); resamples without both classes are skipped."""
    rng = np.random.default_rng(seed)
    n = y.size
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    pos = W @ y
    W = W[(pos > 0) & (pos < W.sum(1))]
    ap = weighted_ap(Z, y, W)
    best = ap == ap.max(1, keepdims=True)
    return (best / best.sum(1, keepdims=True)).mean(0)


def candidates(e):
    R, Z, lab, y, miss = fold_inputs(e)
    agg = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=observed_patterns(~miss))
    p = predict_auto(Z, agg, R)
    t = agg.mix
    out = {"auto": p, "S1": Z[agg.single]}
    if t == 0:
        return {**out, "c_boot": p, "Sboot": p, "t": np.ones_like(p)}
    pi = selection_frequencies(Z[:, lab], y)
    s_boot = pi @ Z
    stack = predict_auto_stacking(Z, agg, miss if miss.any() else None)
    mean = predict_auto_mean(Z, R)
    out["Sboot"] = s_boot
    out["c_boot"] = (1.0 - 2.0 * t / 3.0) * mean + (t / 3.0) * (stack + s_boot)
    out["t"] = np.full_like(p, pi.max())  # a value, not a score: the largest pi
    return out


if __name__ == "__main__":
    # 't' carries the largest selection frequency (a value, printed apart).
    run_probe(candidates, ["auto", "c_boot", "S1", "Sboot"])
