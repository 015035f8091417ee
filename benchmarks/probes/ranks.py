"""Probe (issue 12): the mean + logit-stacking + best-single blend on fills at every rank
1 .. m-1 and at the ranks held-out selection picks (lambda=1, one-SE and min rules).

    PYTHONPATH=src python benchmarks/probes/ranks.py OUT.pkl REGIME
"""

import os
import pickle
import sys
import time
import warnings

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks")

from itertools import groupby
from operator import itemgetter

import numpy as np
from defaults_probe import cached_folds, regime_matrix

from cfensemble.aggregators import logit_features, fit_weighted_logistic, predict_weighted
from cfensemble.baselines import BASELINES
from cfensemble.datasets import DATASETS
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights
from cfensemble.rank import _fit_factors, select_rank

warnings.simplefilter("ignore")


def blend(Z, labels):
    lab = ~np.isnan(labels)
    y = labels[lab]
    L = logit_features(Z)
    w, b = fit_weighted_logistic(L[:, lab], y, class_weights(y), l2=0.1)
    sc = [pr_auc(y, Z[u, lab]) for u in range(Z.shape[0])]
    return (Z.mean(0) + predict_weighted(L, w, b) + Z[int(np.argmax(sc))]) / 3


res = {}
t0 = time.time()
regime = sys.argv[2]
for (name, rate), folds in groupby(cached_folds(list(DATASETS)), itemgetter(0, 1)):
    for _name, _rate, k, train, test, y, R, labels in folds:
        repeat, fold = divmod(k, 5)
        cols = slice(len(train), None)
        Rr = regime_matrix(R, regime, seed=k)
        e = {"y": y[test], "npos": int(np.nansum(labels))}
        P = {b: BASELINES[b](Rr, labels)[cols] for b in ("mean", "stacking", "best_single")}
        R0 = np.nan_to_num(Rr)
        obs = (~np.isnan(Rr)).astype(float)
        ranks = {f"r{d}": d for d in range(1, R.shape[0])}
        for lam in (1.0,):
            ranks[f"sel_l{lam:g}"] = select_rank(Rr, lambda_reg=lam, random_state=k).rank
            ranks[f"min_l{lam:g}"] = select_rank(
                Rr, lambda_reg=lam, random_state=k, one_standard_error=False
            ).rank
        e["ranks"] = ranks
        for d in sorted(set(ranks.values())):
            Xf, Yf = _fit_factors(R0, obs, d, 0.01, 100, 1e-5, np.random.RandomState(0))
            P[f"r{d}"] = blend(np.where(np.isnan(Rr), Xf.T @ Yf, Rr), labels)[cols]
        for t, d in ranks.items():
            if not t.startswith("r"):
                P[t] = P[f"r{d}"]
        e["P"] = P
        res[(name, rate, repeat, fold, regime)] = e
    print(name, rate, round(time.time() - t0), flush=True)
    pickle.dump(res, open(sys.argv[1], "wb"))
