"""Probe (issue 12): stacking with missing-cell indicators (sli) against without (sl),
fills at ranks 1-3.

    PYTHONPATH=src python benchmarks/probes/indicators.py OUT.pkl REGIME
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

from cfensemble.aggregators import fit_weighted_logistic, logit_features, predict_weighted
from cfensemble.baselines import BASELINES
from cfensemble.datasets import DATASETS
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights
from cfensemble.rank import _fit_factors

warnings.simplefilter("ignore")


def parts(Z, M, labels):
    lab = ~np.isnan(labels)
    y = labels[lab]
    L = logit_features(Z)
    w, b = fit_weighted_logistic(L[:, lab], y, class_weights(y), l2=0.1)
    F = np.vstack([L, M])
    wi, bi = fit_weighted_logistic(F[:, lab], y, class_weights(y), l2=0.1)
    sc = [pr_auc(y, Z[u, lab]) for u in range(Z.shape[0])]
    s = int(np.argmax(sc))
    return dict(
        mean=Z.mean(0), sl=predict_weighted(L, w, b), sli=predict_weighted(F, wi, bi), single=Z[s]
    )


res = {}
t0 = time.time()
regime = sys.argv[2]
for (name, rate), folds in groupby(cached_folds(list(DATASETS)), itemgetter(0, 1)):
    for _name, _rate, k, train, test, y, R, labels in folds:
        repeat, fold = divmod(k, 5)
        cols = slice(len(train), None)
        Rr = regime_matrix(R, regime, seed=k)
        e = {"y": y[test], "npos": int(np.nansum(labels))}
        P = {
            b: BASELINES[b](Rr, labels)[cols]
            for b in ("mean", "stacking", "hgb_stacking", "best_single")
        }
        R0 = np.nan_to_num(Rr)
        obs = (~np.isnan(Rr)).astype(float)
        M = 1.0 - obs
        for d in (1, 2, 3):
            Xf, Yf = _fit_factors(R0, obs, d, 0.01, 100, 1e-5, np.random.RandomState(0))
            for a, p in parts(np.where(np.isnan(Rr), Xf.T @ Yf, Rr), M, labels).items():
                P[f"r{d}|{a}"] = p[cols]
        e["P"] = P
        res[(name, rate, repeat, fold, regime)] = e
    print(name, rate, round(time.time() - t0), flush=True)
    pickle.dump(res, open(sys.argv[1], "wb"))
