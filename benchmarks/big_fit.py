"""A fit at n = 10^7 instances on one machine: seconds per sweep and peak memory (issue 13).

m = 15 classifiers, d = 8, float32 factors (``dtype='float32'``). R is generated in float32
column chunk by column chunk (never a float64 copy of the whole): per-instance logits from
a shared low-rank structure plus noise, a class signal of varying strength per classifier,
10% positives, half the instances labeled, 5% of the cells missing.

Reports, for one process per run (``--solver``):

* R's own size (float32) and the float64 R that ``EnsembleData`` holds;
* ru_maxrss after generating R, after ``EnsembleData`` and after ``fit`` (the peak of the
  whole process: ru_maxrss never decreases);
* seconds per sweep: the median gap between consecutive ``history_['time']`` entries
  (history on, as a user calls fit), and fit()'s total time.

Usage: python benchmarks/big_fit.py [--n 10000000] [--m 15] [--d 8] [--max-iter 5]
       [--solver als] [--n-jobs -1] [--data-dtype float64] [--init random] [--append]
       [--out benchmarks/results/big_fit.md]
Writes the --out file (header and one row); --append adds a row to it instead (another
solver or size). Allow ~12 GB of memory at n = 10^7.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "big_fit.md"
GB = 2**30


def maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


def make_R(m: int, n: int, seed: int = 0, chunk: int = 1 << 20):
    """float32 R (m, n) with 5% NaN cells and labels (n,) (half NaN), chunk by chunk."""
    rng = np.random.RandomState(seed)
    k = 3
    A = rng.standard_normal((k, m)).astype(np.float32)  # shared error structure
    strength = rng.uniform(0.3, 1.5, m).astype(np.float32)  # competence per classifier
    R = np.empty((m, n), dtype=np.float32)
    y = (rng.rand(n) < 0.1).astype(np.float64)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        F = rng.standard_normal((k, b - a)).astype(np.float32)
        logit = A.T @ F + strength[:, None] * (2 * y[a:b] - 1).astype(np.float32)[None, :]
        logit += 0.5 * rng.standard_normal((m, b - a)).astype(np.float32)
        logit -= 1.0
        np.negative(logit, out=logit)
        np.exp(logit, out=logit)
        logit += 1.0
        np.reciprocal(logit, out=logit)  # sigmoid, in place
        logit[rng.rand(m, b - a) < 0.05] = np.nan
        R[:, a:b] = logit
    y[rng.rand(n) < 0.5] = np.nan
    return R, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--m", type=int, default=15)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--max-iter", type=int, default=5)
    ap.add_argument("--solver", choices=("als", "varpro"), default="als")
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--aggregator", default="weighted", help="the trainer's aggregator")
    ap.add_argument(
        "--data-dtype",
        choices=("float64", "float32"),
        default="float64",
        help="EnsembleData(R, y, dtype=...): the dtype the data holds R in",
    )
    ap.add_argument("--rho", type=float, default=None, help="None: the solver's default")
    ap.add_argument(
        "--init",
        choices=("random", "svd"),
        default="random",
        help="the trainer's start (default random: the start of big_fit.md's rows but the "
        "last; svd is the trainer's default since 2026-11-27)",
    )
    ap.add_argument("--append", action="store_true", help="add a row to --out")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    from cfensemble.data import EnsembleData
    from cfensemble.optimization import CFEnsembleTrainer

    rss0 = maxrss_gb()
    t0 = time.perf_counter()
    R, y = make_R(args.m, args.n)
    t_gen = time.perf_counter() - t0
    rss_R = maxrss_gb()
    data = EnsembleData(R, y, dtype=args.data_dtype)
    rss_data = maxrss_gb()
    dtype = "float32" if args.solver == "als" else "float64"  # varpro solves in float64
    tr = CFEnsembleTrainer(
        latent_dim=args.d,
        solver=args.solver,
        max_iter=args.max_iter,
        tol=0.0,
        aggregator=args.aggregator,
        rho=args.rho,
        dtype=dtype,
        n_jobs=args.n_jobs,
        random_state=0,
        init=args.init,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at tol=0
        tr.fit(data)
    t_fit = time.perf_counter() - t0
    rss_fit = maxrss_gb()
    per_sweep = float(np.median(np.diff(tr.history_["time"])))
    # What fit() spends after its loop: the final aggregator ('auto': one stacking model
    # per missingness pattern) and storing the fitted attributes.
    after_loop = t_fit - tr.history_["time"][-1]
    load = os.getloadavg()

    r32 = R.nbytes / GB
    row = (
        f"| {args.solver} | {dtype} | {tr.rho_:g} | {args.aggregator} | {args.n:,} | {args.m} | "
        f"{args.d} | {tr.n_iter_} | {per_sweep:.2f} | {t_fit:.1f} | {after_loop:.1f} | "
        f"{r32:.2f} | {data.R.nbytes / GB:.2f} | "
        f"{rss_R:.2f} | {rss_data:.2f} | {rss_fit:.2f} | {rss_fit / r32:.1f} | "
        f"{load[0]:.1f} |"
    )
    header = [
        "# A fit at n = 10^7 on one machine",
        "",
        f"Command: `python benchmarks/big_fit.py --n {args.n} --m {args.m} --d {args.d} "
        f"--max-iter {args.max_iter} --solver {args.solver} --n-jobs {args.n_jobs}` "
        "(one process per row; further rows: the same with --append)  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / GB:.0f} GiB  ",
        f"Date of the first row: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "R generated in float32 chunk by chunk (5% missing, half labeled, 10% positives); "
        "`CFEnsembleTrainer(latent_dim=d, max_iter, tol=0, aggregator, rho, dtype)`. "
        "Per sweep: median gap of `history_['time']` (history on); after the loop: the "
        "fit's time after its last sweep (the final aggregator, storing). Peak RSS: ru_maxrss of "
        f"the process (GiB; {rss0:.2f} GiB at start, the interpreter and libraries), "
        "after generating R, after `EnsembleData(R, y, dtype)` (R as float64 unless "
        "`--data-dtype float32`) and "
        "after fit (the process peak). 'peak / R' is the fit's peak over R's own float32 "
        "size.",
        "",
        "| solver | dtype | rho | aggregator | n | m | d | sweeps | s / sweep | fit s | "
        "after the loop s | R GiB (float32) | EnsembleData.R GiB | RSS after R | "
        "RSS after data | peak RSS after fit | peak / R | load |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    text = row + "\n"
    if not (args.append and args.out.exists()):
        text = "\n".join(header) + "\n" + text
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a" if args.append else "w") as f:
        f.write(text)
    print(text, end="")
    print(f"(R generated in {t_gen:.1f} s)")


if __name__ == "__main__":
    main()
