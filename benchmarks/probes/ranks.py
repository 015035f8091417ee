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
import tempfile

CACHE = os.path.join(tempfile.gettempdir(), "cfensemble_real_data")
import numpy as np
from defaults_probe import regime_matrix
from real_data import POOL_VERSION, RATES, settings
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils import check_random_state

from cfensemble.aggregators import fit_weighted_logistic, predict_weighted
from cfensemble.baselines import BASELINES
from cfensemble.datasets import DATASETS
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights
from cfensemble.rank import _fit_factors, select_rank

warnings.simplefilter("ignore")


def logit(Z):
    Z = np.clip(Z, 1e-4, 1 - 1e-4)
    return np.log(Z) - np.log1p(-Z)


def blend(Z, labels):
    lab = ~np.isnan(labels)
    y = labels[lab]
    L = logit(Z)
    w, b = fit_weighted_logistic(L[:, lab], y, class_weights(y), l2=0.1)
    sc = [pr_auc(y, Z[u, lab]) for u in range(Z.shape[0])]
    return (Z.mean(0) + predict_weighted(L, w, b) + Z[int(np.argmax(sc))]) / 3


res = {}
t0 = time.time()
regime = sys.argv[2]
for name, rate, X, y, _ in settings(list(DATASETS), RATES):
    if X is None:
        continue
    rng = check_random_state(0)
    splits = list(
        RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=rng.randint(2**31 - 1)).split(
            X, y
        )
    )
    key = f"{POOL_VERSION}_{name}_{rate.split()[0]}_cv3"
    for k, (train, test) in enumerate(splits):
        repeat, fold = divmod(k, 5)
        with np.load(f"{CACHE}/{key}_r{repeat}_f{fold}.npz") as f:
            R, labels = f["R"], f["labels"]
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
