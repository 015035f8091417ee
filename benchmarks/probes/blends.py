"""Probe (issue 12): per fold and regime, test-column predictions of aggregator parts
(mean, stacking on probabilities/logits, EB shrinkage, best single, top-k) on the matrix
filled at ranks 1-3, stored as a pickle for offline blends (analyse_blends.py).

    PYTHONPATH=src python benchmarks/probes/blends.py OUT.pkl REGIME   (from the repo root)
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
from defaults_probe import BASE, cached_folds, regime_matrix

from cfensemble.aggregators import (
    logit_features,
    fit_shrinkage_logistic,
    fit_weighted_logistic,
    predict_weighted,
)
from cfensemble.baselines import BASELINES
from cfensemble.datasets import DATASETS
from cfensemble.metrics import pr_auc
from cfensemble.objective import class_weights
from cfensemble.rank import _fit_factors, select_rank

warnings.simplefilter("ignore")


def aggs(Z, labels):
    lab = ~np.isnan(labels)
    y = labels[lab]
    out = {}
    out["mean"] = Z.mean(0)
    out["mean_logit"] = logit_features(Z).mean(0)
    for tag, F in (("p", Z), ("l", logit_features(Z))):
        for l2 in (1e-3, 1e-1):
            w, b = fit_weighted_logistic(F[:, lab], y, class_weights(y), l2=l2)
            out[f"stack_{tag}_{l2:g}"] = predict_weighted(F, w, b)
        w, b, lam = fit_shrinkage_logistic(F[:, lab], y)
        out[f"eb_{tag}"] = predict_weighted(F, w, b)
    sc = np.array([pr_auc(y, Z[u, lab]) for u in range(Z.shape[0])])
    order = np.argsort(-sc)
    out["single"] = Z[order[0]]
    out["top3"] = Z[order[:3]].mean(0)
    out["tophalf"] = Z[order[: max(1, Z.shape[0] // 2)]].mean(0)
    return out


def main(out_path, regimes):
    res = {}
    t0 = time.time()
    for (name, rate), folds in groupby(cached_folds(list(DATASETS)), itemgetter(0, 1)):
        for _name, _rate, k, train, test, y, R, labels in folds:
            repeat, fold = divmod(k, 5)
            cols = slice(len(train), None)
            for regime in regimes:
                Rr = regime_matrix(R, regime, seed=k)
                entry = {"y": y[test], "npos": int(np.nansum(labels))}
                P = {b: BASELINES[b](Rr, labels)[cols] for b in BASE}
                R.shape[0]
                if np.isnan(Rr).any():
                    sel = select_rank(Rr, random_state=k)
                    entry["rank"] = sel.rank
                    fills = {"r1": 1, "r2": 2, "r3": 3}
                    R0 = np.nan_to_num(Rr)
                    obs = (~np.isnan(Rr)).astype(float)
                    for tag, d in fills.items():
                        Xf, Yf = _fit_factors(R0, obs, d, 0.01, 100, 1e-5, np.random.RandomState(0))
                        Z = np.where(np.isnan(Rr), Xf.T @ Yf, Rr)
                        for a, p in aggs(Z, labels).items():
                            P[f"{tag}|{a}"] = p[cols]
                else:
                    for a, p in aggs(Rr, labels).items():
                        P[f"none|{a}"] = p[cols]
                entry["P"] = P
                res[(name, rate, repeat, fold, regime)] = entry
        print(name, rate, round(time.time() - t0), flush=True)
        with open(out_path, "wb") as fh:
            pickle.dump(res, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
