"""Probe (issue 12): the single-classifier part of 'auto' from the classifiers that scored
each instance (the best one on the labeled columns among those observed there) instead of
the best classifier's reconstructed cell where it is missing. Offline on auto_parts.py's
stored fills with 'auto' as it was when this ran (section 8b: the pattern models without
missing-cell indicators).

    PYTHONPATH=src python benchmarks/probes/observed_single.py A.pkl[,B.pkl,...] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
import numpy as np

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.metrics import pr_auc
from cfensemble.patterns import observed_patterns


def observed_single(Z, R, y_lab, lab):
    """p_i = Z[u_i, i], u_i the best classifier (labeled PR-AUC) among those observed at i."""
    order = np.argsort([-pr_auc(y_lab, Z[u, lab]) for u in range(Z.shape[0])], kind="stable")
    obs = ~np.isnan(R)[order]  # rows in order of quality
    first = np.where(obs.any(0), obs.argmax(0), 0)
    return Z[order[first], np.arange(Z.shape[1])]


def candidates(e):
    R, Z, lab, y, miss = fold_inputs(e)
    agg = fit_auto_aggregator(Z[:, lab], y, patterns=observed_patterns(~miss))
    p = predict_auto(Z, agg, R)
    t = agg.mix
    so = observed_single(Z, R, y, lab) if t > 0 else Z[agg.single]
    q = p + (t / 3) * (so - Z[agg.single])
    return {"auto": p, "c_obs_single": q, "S1": Z[agg.single], "S1obs": so}


run_probe(candidates, ["auto", "c_obs_single", "S1", "S1obs"])
