"""Probe (issue 12): label-free rank criteria on held-out cells (squared error, per-row
Pearson and Spearman correlation) for every rank, first repeat only.

    PYTHONPATH=src python benchmarks/probes/rank_criteria.py OUT.pkl REGIME
"""

import os
import pickle
import sys
import time

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks")

from itertools import groupby
from operator import itemgetter

import numpy as np
from defaults_probe import cached_folds, regime_matrix
from scipy.stats import spearmanr

from cfensemble.datasets import DATASETS
from cfensemble.rank import _fit_factors, holdout_mask

regime = sys.argv[2]
out = {}
t0 = time.time()
for (name, rate), folds in groupby(cached_folds(list(DATASETS), repeats=(0,)), itemgetter(0, 1)):
    for _name, _rate, k, _train, _test, _y, R, _labels in folds:
        repeat, fold = divmod(k, 5)
        Rr = regime_matrix(R, regime, seed=k)
        obs = ~np.isnan(Rr)
        R0 = np.nan_to_num(Rr)
        r = np.random.RandomState(k)
        hide = holdout_mask(obs, 0.1, r)
        C = np.where(hide, 0.0, obs.astype(float))
        crit = {}
        for d in range(1, R.shape[0]):
            Xf, Yf = _fit_factors(R0, C, d, 0.01, 50, 1e-4, np.random.RandomState(0))
            Rh = Xf.T @ Yf
            se = np.mean((R0[hide] - Rh[hide]) ** 2)
            cors = []
            ws = []
            sps = []
            for u in range(R.shape[0]):
                h = hide[u]
                if h.sum() > 5 and np.std(R0[u, h]) > 0 and np.std(Rh[u, h]) > 0:
                    cors.append(np.corrcoef(R0[u, h], Rh[u, h])[0, 1])
                    ws.append(h.sum())
                    sps.append(spearmanr(R0[u, h], Rh[u, h])[0])
            crit[d] = (se, np.average(cors, weights=ws), np.average(sps, weights=ws))
        out[(name, rate, repeat, fold, regime)] = crit
    print(name, rate, round(time.time() - t0), flush=True)
    pickle.dump(out, open(sys.argv[1], "wb"))
