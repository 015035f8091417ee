"""ALS with and without the extrapolated classifier step, on real-data R (the default trainer).

The ALS loop extrapolates the classifier factors each sweep (Ang and Gillis 2019; see
``CFEnsembleTrainer._fit_als``). This script measures what that changes for the default
trainer of the time (``CFEnsembleTrainer(n_classifiers=m, init='random')``: ALS, rho = 1,
latent_dim='auto', tol 1e-3, max_iter 100; the SVD start that is now the default is
measured by ``als_init.py``) against plain ALS (the same loop with beta = 0, which is
plain ALS exactly) and varpro (same objective, L-BFGS, run to tol 1e-9: the reference
optimum J*):

* sweeps until the stopping rule holds, and how often it holds within max_iter;
* J / J* at the end (J = L_recon, the objective at rho = 1);
* sweeps to reach J <= 1.01 J* with max_iter = 1000 and tol = 0;
* fit() wall time (medians).

Data: R = out-of-fold probabilities of ``CFEnsembleClassifier``'s default 8-model pool
(5-fold) on bundled real data sets, half the instances labeled, in the four missingness
regimes of ``benchmarks/real_data.py``.

Usage: python benchmarks/als_extrapolation.py [--datasets pima,biopsy,...] [--out PATH]
Writes benchmarks/results/als_extrapolation.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cfensemble import CFEnsembleClassifier
from cfensemble.data import EnsembleData
from cfensemble.datasets import load_dataset
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.optimization._als import EXTRAPOLATION
from cfensemble.synthetic import apply_missingness

# The start this was measured from (the default then): from the SVD start, now the
# default, ALS stops within a few sweeps either way (als_init.py).
INIT = "random"
DATASETS = ("breast_cancer", "pima", "biopsy", "birthwt", "digits", "spam7")
MAX_ROWS = 3000
REGIMES = {
    "complete": None,
    "random 30%": dict(rate=0.3, mode="random"),
    "block": dict(rate=0.25, mode="block", group_share=0.5),
    "informative": dict(rate=0.3, mode="informative", informative="uncertainty"),
}


def pool_R(name):
    """Out-of-fold probabilities of the default pool, (m, n), and the labels (n,)."""
    X, y = load_dataset(name)
    if X.shape[0] > MAX_ROWS:
        keep = np.random.RandomState(0).choice(X.shape[0], MAX_ROWS, replace=False)
        X, y = X[keep], y[keep]
    clf = CFEnsembleClassifier(cv=5, random_state=0, aggregator="mean", max_iter=1)
    clf.fit(X, y)
    return np.asarray(clf.R_), np.asarray(y)


def matrices(names):
    """(data set, regime, m, n, EnsembleData) for every data set and missingness regime:
    half the instances labeled (the same half in every regime)."""
    for name in names:
        R, y = pool_R(name)
        m, n = R.shape
        labels = y.astype(float)
        labels[np.random.RandomState(1).rand(n) < 0.5] = np.nan
        for regime, kw in REGIMES.items():
            Rm = R if kw is None else apply_missingness(R, random_state=0, **kw)
            yield name, regime, m, n, EnsembleData(Rm, labels)


def fit(data, m, beta0, **kw):
    saved = EXTRAPOLATION["beta0"]
    EXTRAPOLATION["beta0"] = beta0
    try:
        tr = CFEnsembleTrainer(n_classifiers=m, random_state=0, **kw)
        t0 = time.perf_counter()
        tr.fit(data)
        return tr, time.perf_counter() - t0
    finally:
        EXTRAPOLATION["beta0"] = saved


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(DATASETS))
    default_out = Path(__file__).parent / "results" / "als_extrapolation.md"
    ap.add_argument("--out", default=str(default_out))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    t_start = time.perf_counter()
    for name, regime, m, n, data in matrices(args.datasets.split(",")):
        vp, _ = fit(data, m, 0.0, solver="varpro", tol=1e-9, max_iter=1000, init=INIT)
        d = vp.latent_dim_
        J_star = vp.objective(data).recon
        for method, beta0 in (("plain ALS", 0.0), ("extrapolated ALS", EXTRAPOLATION["beta0"])):
            tr, sec = fit(data, m, beta0, latent_dim=d, init=INIT)
            long, _ = fit(data, m, beta0, latent_dim=d, tol=0.0, max_iter=1000, init=INIT)
            h = np.asarray(long.history_["recon"])
            hit = np.flatnonzero(h <= 1.01 * J_star)
            rows.append(
                dict(
                    dataset=name,
                    regime=regime,
                    m=m,
                    n=n,
                    d=d,
                    method=method,
                    sweeps=tr.n_iter_,
                    converged=tr.converged_,
                    J_ratio=tr.history_["recon"][-1] / J_star,
                    sweeps_to_1pct=int(hit[0]) + 1 if hit.size else np.nan,
                    seconds=sec,
                )
            )
        print(name, regime, "done", flush=True)
    df = pd.DataFrame(rows)
    write(df, Path(args.out), time.perf_counter() - t_start)


def per_fit_table(df) -> list[str]:
    """The 'Per fit:' markdown table of every row of df (whole floats without decimals,
    others to 4 places, NaN blank), as report lines ending with a blank one."""
    cols = list(df.columns)
    lines = ["", "Per fit:", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = [
            ("" if np.isnan(v) else f"{v:.0f}" if float(v).is_integer() else f"{v:.4f}")
            if isinstance(v, float)
            else str(v)
            for v in r
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def write(df, out, total):
    g = df.groupby("method", sort=False)
    lines = [
        "# ALS: the extrapolated classifier step against plain ALS",
        "",
        f"Command: `python benchmarks/als_extrapolation.py`; "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; {total:.0f} s; "
        f"{platform.machine()}, {os.cpu_count()} CPUs (shared). "
        "Default trainer of the time (ALS, rho = 1, tol 1e-3, max_iter 100, init='random') "
        "at the rank varpro's "
        "'auto' chose; J* = varpro's L_recon run to tol 1e-9.",
        "",
        f"{df['dataset'].nunique()} data sets x {df['regime'].nunique()} regimes = "
        f"{len(df) // 2} fits per method.",
        "",
        "| method | median sweeps | stopped by tol | median J / J* | max J / J* "
        "| reached 1.01 J* in 1000 sweeps | median sweeps to 1.01 J* | median fit s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, s in g:
        reached = s["sweeps_to_1pct"].notna()
        lines.append(
            f"| {method} | {s['sweeps'].median():.0f} | {s['converged'].sum()}/{len(s)} "
            f"| {s['J_ratio'].median():.4f} | {s['J_ratio'].max():.4f} "
            f"| {reached.sum()}/{len(s)} | {s.loc[reached, 'sweeps_to_1pct'].median():.0f} "
            f"| {s['seconds'].median():.3f} |"
        )
    p = df.pivot_table(index=["dataset", "regime"], columns="method", values="sweeps_to_1pct")
    p = p.reindex(index=df.set_index(["dataset", "regime"]).index.unique())
    p = p.reindex(columns=["plain ALS", "extrapolated ALS"])
    both = p.dropna()
    ratio = both["extrapolated ALS"] / both["plain ALS"]
    lines += [
        "",
        f"Paired, where both reached 1.01 J* ({len(both)} of {len(p)}): extrapolated / plain "
        f"sweeps, median {ratio.median():.2f} (range {ratio.min():.2f}-{ratio.max():.2f}).",
    ]
    lines += per_fit_table(df)
    out.write_text("\n".join(lines))
    print("\n".join(lines[:12]))


if __name__ == "__main__":
    main()
