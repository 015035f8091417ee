"""Probe (issue 12, the block regime): is 'auto' losing where the test columns of several
missingness patterns are ranked together? Each pattern's scores may sit on their own
scale (the mean of 4 observed cells against the mean of 8, a reconstructed single
classifier), and PR-AUC pools them. Candidates recalibrate 'auto' per group of columns
with a Platt map, logit p' = (a + da_g) logit p + b + db_g, the deltas L2-penalized
(lam), for groups with at least ``min_class`` labeled columns of each class:

- oracle: one Platt map per pattern fitted on the *test* columns' labels (an upper
  bound, not a method: it also fits the test folds' noise);
- c_{pat,nm}{5,10}_{lam}: the map fitted on out-of-fold 'auto' scores of the labeled
  columns (stratified 5-fold, 'auto' refitted on each 4/5), groups = the observed set
  (pat) or the number of missing cells (nm).

Offline on auto_parts.py's stored fills (defaults_probe.md section 9a).

    PYTHONPATH=src python benchmarks/probes/pattern_calibration.py A.pkl[,B.pkl] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import numpy as np
from scipy.special import logit
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import fit_auto_aggregator, fit_weighted_logistic, predict_auto
from cfensemble.patterns import observed_patterns, packed_columns

KINDS = ("pat", "nm")
MIN_CLASS = (5, 10)
LAMS = (1e-3, 1e-1)
CANDS = [f"c_{k}{mc}_{lam:g}" for k in KINDS for mc in MIN_CLASS for lam in LAMS]


def groups_of(miss, kind):
    """Each column's calibration group: its observed set, or its number of missing cells."""
    if kind == "pat":
        _, inv = np.unique(packed_columns(~miss), axis=0, return_inverse=True)
        return inv.ravel()
    return miss.sum(0)


def platt(q_fit, y, g_fit, q_all, g_all, min_class, lam):
    """Logit of the recalibrated scores of every column (see the module docstring)."""
    keep = []
    for gg in np.unique(g_fit):
        c = g_fit == gg
        n1 = int(y[c].sum())
        if min(n1, int(c.sum()) - n1) >= min_class:
            keep.append(gg)

    def design(q, g):
        cols = [q * 10.0]  # scaled up so that the L2 penalty barely touches the common slope
        for gg in keep:
            ind = (g == gg).astype(float)
            cols += [ind, ind * q]
        return np.vstack(cols)

    w, b = fit_weighted_logistic(design(q_fit, g_fit), y, np.ones_like(y), l2=lam)
    return w @ design(q_all, g_all) + b


def oof_auto(Z, y, miss, patterns, k=5, seed=0):
    """Out-of-fold 'auto' scores of the labeled columns (Z, miss: theirs only)."""
    out = np.zeros(y.size)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for tr, te in skf.split(np.zeros(y.size), y):
        agg = fit_auto_aggregator(Z[:, tr], y[tr], miss[:, tr], patterns=patterns)
        out[te] = predict_auto(Z[:, te], agg, np.where(miss[:, te], np.nan, Z[:, te]))
    return out


def qlogit(p):
    return logit(np.clip(p, 1e-6, 1 - 1e-6))


def candidates(e):
    R, Z, lab, y, miss = fold_inputs(e)
    patterns = observed_patterns(~miss)
    p = predict_auto(Z, fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=patterns), R)
    out = {"auto": p}
    n1 = int(y.sum())
    if min(n1, y.size - n1) < 10 or not miss.any():
        return {**out, "oracle": p, **{c: p for c in CANDS}}
    test = np.arange(R.shape[1]) >= e["n_train"]
    g = groups_of(miss, "pat")
    out["oracle"] = platt(qlogit(p[test]), e["y_test"], g[test], qlogit(p), g, 1, 1e-3)
    q_oof = qlogit(oof_auto(Z[:, lab], y, miss[:, lab], patterns))
    for kind in KINDS:
        g = groups_of(miss, kind)
        for mc in MIN_CLASS:
            for lam in LAMS:
                out[f"c_{kind}{mc}_{lam:g}"] = platt(q_oof, y, g[lab], qlogit(p), g, mc, lam)
    return out


if __name__ == "__main__":
    run_probe(candidates, ["auto", "oracle", *CANDS], default_regimes=["block"])
