"""Probe (issue 12, why pima and `default` lose): per fold and regime, the default cf_als
trainer's filled matrix Z (observed cells, missing ones from its R_hat), the chosen rank,
R with its missing cells and the labels, stored for offline analysis of the 'auto'
blend's parts and candidate blends (auto_candidates.py). Same cached R, folds and
missing cells as benchmarks/real_data.py (seed k per fold); complete R needs no fit
(Z = R there). ``--ranks 1,3``: fixed-rank fills as well (rank diagnosis).

    PYTHONPATH=src python benchmarks/probes/auto_parts.py OUT.pkl [--datasets a,b] [--ranks r,..]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks")
import argparse
import pickle
import time
import warnings

from itertools import groupby
from operator import itemgetter

from defaults_probe import cached_folds
from real_data import REGIMES

from cfensemble.data import EnsembleData
from cfensemble.datasets import DATASETS
from cfensemble.evaluation import CF_DEFAULTS
from cfensemble.factory import make_trainer
from cfensemble.objective import aggregator_features
from cfensemble.synthetic import apply_missingness

warnings.simplefilter("ignore")


def fit_fill(R, labels, latent_dim="auto"):
    tr = make_trainer(
        R.shape[0], solver="als", random_state=0, latent_dim=latent_dim, **CF_DEFAULTS
    )
    tr.fit(EnsembleData(R, labels))
    Z = aggregator_features(tr.X_.T @ tr.Y_, R, "filled")
    return Z, tr.predict(), int(tr.latent_dim_)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--ranks", default="")
    ap.add_argument("--regimes", default=",".join(REGIMES))
    args = ap.parse_args(argv)
    ranks = [int(r) for r in args.ranks.split(",") if r]
    res, t0 = {}, time.time()
    for (name, rate), folds in groupby(cached_folds(args.datasets.split(",")), itemgetter(0, 1)):
        for _name, _rate, k, train, test, y, R, labels in folds:
            repeat, fold = divmod(k, 5)
            for regime in args.regimes.split(","):
                spec = REGIMES[regime]
                Rr = R if spec is None else apply_missingness(R, random_state=k, **spec)
                e = {"R": Rr, "labels": labels, "n_train": len(train), "y_test": y[test]}
                if spec is None:
                    e["Z"], e["rank"] = Rr, None
                else:
                    e["Z"], e["p_auto"], e["rank"] = fit_fill(Rr, labels)
                    for d in ranks:
                        e[f"Z{d}"] = fit_fill(Rr, labels, d)[0]
                res[(name, rate, repeat, fold, regime)] = e
        print(name, rate, round(time.time() - t0), flush=True)
        with open(args.out, "wb") as fh:
            pickle.dump(res, fh)


if __name__ == "__main__":
    main()
