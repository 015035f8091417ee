"""The initial factors: balanced SVD factors against small random ones, on real-data R.

``CFEnsembleTrainer(init='svd')`` (the default) starts from the balanced rank-d SVD
factors of R with each missing cell at the mean of its instance's observed cells
(``cfensemble.optimization._als.svd_factors``); ``init='random'`` (the earlier default)
from N(0, 0.01) entries. This script measures, for ALS (the default solver) and varpro:

* iterations (ALS sweeps, L-BFGS iterations) until the stopping rule holds, and how
  often it holds within max_iter = 100;
* J / J* at the end (J = L_recon, the objective at rho = 1; J* = the lowest J any method
  reached when run long: ALS for 1,000 sweeps, varpro to tol 1e-9, from both starts);
* fit() wall time (median over the fits, the SVD start included);
* the rank the search of ``latent_dim='auto'`` chooses from each start (the trainers'
  search keeps the random start; ``select_rank(init=...)``);
* what each start itself costs at scale: wall time (median of 3) and traced peak memory
  of ``svd_factors`` and ``init_factors`` on a uniform R of m = 15, n = 10^6, 5% missing,
  d = 8, beside one ALS sweep of the same fit (``fit()`` at 3 sweeps minus at 1, halved).

Data: R = out-of-fold probabilities of ``CFEnsembleClassifier``'s default 8-model pool
(5-fold) on bundled real data sets, half the instances labeled, in the four missingness
regimes of ``benchmarks/real_data.py`` (the matrices of ``als_extrapolation.py``), at the
rank 'auto' chooses.

Usage: python benchmarks/als_init.py [--datasets pima,biopsy,...] [--out PATH]
Writes benchmarks/results/als_init.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from als_extrapolation import DATASETS, fit, matrices, per_fit_table

from cfensemble.data import EnsembleData
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.optimization._als import EXTRAPOLATION, init_factors, svd_factors
from cfensemble.rank import select_rank

# (label, solver, init, ALS extrapolation beta0)
METHODS = (
    ("ALS, random start (previous default)", "als", "random", EXTRAPOLATION["beta0"]),
    ("ALS, SVD start, no extrapolation", "als", "svd", 0.0),
    ("ALS, SVD start (default)", "als", "svd", EXTRAPOLATION["beta0"]),
    ("varpro, random start", "varpro", "random", 0.0),
    ("varpro, SVD start (default)", "varpro", "svd", 0.0),
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "als_init.md"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    t_start = time.perf_counter()
    for name, regime, m, n, data in matrices(args.datasets.split(",")):
        d = fit(data, m, 0.0, solver="varpro", max_iter=1)[0].latent_dim_
        long_J = []
        for init in ("random", "svd"):
            vp, _ = fit(data, m, 0.0, solver="varpro", tol=1e-9, max_iter=1000, init=init)
            als, _ = fit(data, m, EXTRAPOLATION["beta0"], tol=0.0, max_iter=1000, init=init)
            long_J += [vp.objective(data).recon, als.history_["recon"][-1]]
        J_star = min(long_J)
        cand = range(2, min(m - 1, 10) + 1)
        ranks = {
            init: select_rank(data.R, candidates=cand, init=init, random_state=0).rank
            for init in ("random", "svd")
        }
        for label, solver, init, beta0 in METHODS:
            tr, sec = fit(data, m, beta0, latent_dim=d, solver=solver, init=init)
            rows.append(
                dict(
                    dataset=name,
                    regime=regime,
                    m=m,
                    n=n,
                    d=d,
                    method=label,
                    iterations=tr.n_iter_,
                    converged=tr.converged_,
                    J_ratio=tr.objective(data).recon / J_star,
                    seconds=sec,
                    rank_search_random=ranks["random"],
                    rank_search_svd=ranks["svd"],
                )
            )
        print(name, regime, "done", flush=True)
    cost = start_cost()
    write(pd.DataFrame(rows), cost, Path(args.out), time.perf_counter() - t_start)


def start_cost(n=10**6, m=15, d=8, repeats=3):
    """{what: (median seconds, traced peak MiB)} of each start and of one ALS sweep."""
    rng = np.random.RandomState(0)
    R = rng.uniform(size=(m, n))
    R[rng.uniform(size=R.shape) < 0.05] = np.nan
    observed = ~np.isnan(R)
    starts = {
        "SVD start (svd_factors)": lambda: svd_factors(R, observed, d, np.random.RandomState(0)),
        "random start (init_factors)": lambda: init_factors(np.random.RandomState(0), d, m, n),
    }
    out = {}
    for name, fn in starts.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[name] = (float(np.median(times)), peak / 2**20)
    data = EnsembleData(R, np.full(n, np.nan))
    fit_s = {}
    for sweeps in (1, 3):
        times = []
        for _ in range(repeats):
            tr = CFEnsembleTrainer(
                m, d, max_iter=sweeps, tol=0.0, aggregator="mean", init="random", random_state=0
            )
            t0 = time.perf_counter()
            tr.fit(data)
            times.append(time.perf_counter() - t0)
        fit_s[sweeps] = float(np.median(times))
    out["one ALS sweep (fit at 3 sweeps - at 1, / 2)"] = ((fit_s[3] - fit_s[1]) / 2, np.nan)
    out["R itself (float64)"] = (np.nan, R.nbytes / 2**20)
    return out


def write(df, cost, out, total):
    lines = [
        "# The initial factors: balanced SVD against small random ones",
        "",
        f"Command: `python benchmarks/als_init.py`; "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {total:.0f} s; "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared). Default trainer (rho = 1, "
        "max_iter 100, tol 1e-3 for ALS and 1e-6 for varpro) at the rank 'auto' chose; "
        "J* = the lowest L_recon reached by any long run (ALS 1,000 sweeps, varpro to tol "
        "1e-9, both starts).",
        "",
        f"{df['dataset'].nunique()} data sets x {df['regime'].nunique()} regimes = "
        f"{df.groupby('method').size().iloc[0]} fits per method.",
        "",
        "| method | median iterations | stopped by tol | median J / J* | max J / J* "
        "| fits above 1.01 J* | median fit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, s in df.groupby("method", sort=False):
        lines.append(
            f"| {method} | {s['iterations'].median():.1f} | {s['converged'].sum()}/{len(s)} "
            f"| {s['J_ratio'].median():.4f} | {s['J_ratio'].max():.4f} "
            f"| {(s['J_ratio'] > 1.01).sum()}/{len(s)} | {s['seconds'].median():.3f} |"
        )
    r = df.drop_duplicates(["dataset", "regime"])
    top = r["m"] - 1
    lines += [
        "",
        "The rank search from each start (the same 24 matrices): the same rank in "
        f"{(r['rank_search_random'] == r['rank_search_svd']).sum()}/{len(r)}; rank m - 1 "
        f"chosen {(r['rank_search_random'] == top).sum()} times from the random start, "
        f"{(r['rank_search_svd'] == top).sum()} times from the SVD start; median rank "
        f"{r['rank_search_random'].median():.1f} against {r['rank_search_svd'].median():.1f}.",
    ]
    lines += [
        "",
        "What a start costs at n = 10^6 (m = 15, d = 8, 5% missing; median of 3 on this "
        "machine, peak traced by tracemalloc):",
        "",
        "| | seconds | peak MiB |",
        "|---|---|---|",
    ]
    for name, (sec, mib) in cost.items():
        lines.append(
            f"| {name} | {'' if np.isnan(sec) else f'{sec:.3f}'} "
            f"| {'' if np.isnan(mib) else f'{mib:.0f}'} |"
        )
    lines += per_fit_table(df)
    out.write_text("\n".join(lines))
    print("\n".join(lines[:14]))


if __name__ == "__main__":
    main()
