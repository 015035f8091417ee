"""ALS per-sweep time against the per-row reference loop and the GEMM-bound limit (issues 2, 7).

One run, one process: m=15, n=100,000, d=20, float64 by default. Reports

* the project's sweep (X-step then Y-step, ``_als.update_classifiers/update_instances``)
  with the exact Cholesky kernels (the default), and with warm-started CG (3 steps). With
  m < d (as at the issue's m=15, d=20) the default Y-step solves the m x m dual systems
  (push-through identity, same solution); the primal d x d kernel is timed too
  (``dual=False``): the flop model of the limit is the primal one;
* the per-row reference loop (``_reference``: one system formed and solved per row): the
  Y-step loop is timed on a subset of columns and scaled linearly to n; the X-step loop
  forms each classifier's system as (Y * c_u) @ Y^T, because the reference's
  ``F @ np.diag(w) @ F^T`` would need an n x n diagonal matrix at this n;
* the GEMM-bound limit: (4 m n d^2 + (m + n) d^3 / 3) flops at the rate of a 2000^3 GEMM
  timed in this process, both in wall time and in CPU time (process_time, all threads):
  on a shared machine the CPU-time ratio is the steadier one;
* the ``implicit`` library's ALS (its default: CG, 3 steps, float32; and its Cholesky,
  float64) on a dense (n x m) matrix of the same shape and d, same thread count, if it is
  installed (``pip install cfensemble[bench]``). A peer for scale: its objective differs.

Usage: python benchmarks/als_speed.py [--n 100000] [--m 15] [--d 20] [--repeats 5]
Writes benchmarks/results/als_speed.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from cfensemble.optimization import _als
from cfensemble.optimization._reference import solve_factors_reference

OUT = Path(__file__).resolve().parent / "results" / "als_speed.md"


def timed(fn, repeats):
    """Median wall and CPU seconds of fn() over repeats runs (after one warm-up)."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def reference_sweep(Y, X, R0, C, lam, n_sub):
    """Per-row loops: X-step over all m rows; Y-step on n_sub columns, scaled to n."""
    m, n = R0.shape
    d = X.shape[0]
    c0, w0 = time.process_time(), time.perf_counter()
    for u in range(m):  # the reference's per-row system, without the n x n diag matrix
        A = (Y * C[u]) @ Y.T + lam * np.eye(d)
        np.linalg.solve(A, Y @ (C[u] * R0[u]))
    wx, cx = time.perf_counter() - w0, time.process_time() - c0
    c0, w0 = time.process_time(), time.perf_counter()
    solve_factors_reference(X, R0[:, :n_sub], C[:, :n_sub], lam)
    wy, cy = time.perf_counter() - w0, time.process_time() - c0
    scale = n / n_sub
    return wx + wy * scale, cx + cy * scale


def implicit_per_iteration(R0, d, threads, repeats, use_cg, dtype):
    try:
        from implicit.cpu.als import AlternatingLeastSquares
        from scipy.sparse import csr_matrix
    except ImportError:
        return None
    user_items = csr_matrix(R0.T.astype(dtype))  # users = instances, items = classifiers
    iters = 3

    def fit():
        model = AlternatingLeastSquares(
            factors=d,
            regularization=0.01,
            iterations=iters,
            use_cg=use_cg,
            dtype=dtype,
            num_threads=threads,
            random_state=0,
        )
        model.fit(user_items, show_progress=False)

    w, c = timed(fit, repeats)
    return w / iters, c / iters


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=15)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ref-cols", type=int, default=5_000, help="columns of the timed Y loop")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    m, n, d, reps = args.m, args.n, args.d, args.repeats
    rng = np.random.RandomState(0)
    R0 = rng.rand(m, n)
    C = 0.5 + np.abs(R0 - 0.5)  # the 'certainty' confidence
    X, Y = _als.init_factors(rng, d, m, n)
    lam = 0.01
    threads = _als.default_threads()
    blas = threadpool_info()

    # The GEMM rate of this process, now.
    A = rng.standard_normal((2000, 2000))
    B = rng.standard_normal((2000, 2000))
    g_wall, g_cpu = timed(lambda: A @ B, reps)
    gemm_flops = 2 * 2000**3
    rate_wall, rate_cpu = gemm_flops / g_wall, gemm_flops / g_cpu
    sweep_flops = 4 * m * n * d * d + (m + n) * d**3 / 3
    limit_wall, limit_cpu = sweep_flops / rate_wall, sweep_flops / rate_cpu

    def sweep(**opts):
        Xn = _als.update_classifiers(
            Y, R0, C, lam, **({"x0": X} if "method" in opts else {}), **opts
        )
        _als.update_instances(X, R0, C, lam, **({"x0": Y} if "method" in opts else {}), **opts)
        return Xn

    rows = []
    chol = timed(sweep, reps)
    rows.append(
        (
            "cfensemble ALS sweep, Cholesky (numba)"
            if _als.numba_available()
            else "cfensemble ALS sweep, Cholesky (NumPy/LAPACK)",
            chol,
        )
    )
    if m < d:
        rows.append(
            (
                "cfensemble ALS sweep, Cholesky, primal d x d systems (dual=False)",
                timed(lambda: sweep(dual=False), reps),
            )
        )
    rows.append(("cfensemble ALS sweep, CG 3 steps", timed(lambda: sweep(method="cg"), reps)))
    rows.append(
        ("cfensemble ALS sweep, Cholesky float32", timed(lambda: sweep(dtype=np.float32), reps))
    )
    rows.append(
        (
            "cfensemble ALS sweep, NumPy/LAPACK kernel",
            timed(lambda: sweep(kernel="numpy"), max(1, reps // 2)),
        )
    )
    ref = reference_sweep(Y, X, R0, C, lam, min(args.ref_cols, n))
    rows.append((f"per-row reference loop (Y loop on {min(args.ref_cols, n)} cols, scaled)", ref))
    peers = []
    for label, use_cg, dt in (
        ("implicit ALS per iteration (CG, float32, its default)", True, np.float32),
        ("implicit ALS per iteration (Cholesky, float64)", False, np.float64),
    ):
        res = implicit_per_iteration(R0, d, threads, max(1, reps // 2), use_cg, dt)
        if res is not None:
            peers.append((label, res))
    rows += peers

    load = os.getloadavg()
    lines = [
        "# ALS per-sweep speed",
        "",
        f"Command: `python benchmarks/als_speed.py --m {m} --n {n} --d {d} --repeats {reps}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared with other jobs)  ",
        f"Threads: kernel {threads}; BLAS "
        + ", ".join(
            f"{b['internal_api']} {b['version']} {b['num_threads']} threads "
            f"({b.get('architecture')})"
            for b in blas
        )
        + f"; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')!r}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')!r}  ",
        f"GEMM 2000^3 float64: {rate_wall / 1e9:.1f} GFLOP/s wall, "
        f"{rate_cpu / 1e9:.1f} GFLOP per CPU-second  ",
        f"Sweep flops 4mnd^2 + (m+n)d^3/3 = {sweep_flops / 1e9:.2f} GFLOP -> GEMM-bound limit "
        f"{limit_wall * 1e3:.1f} ms wall, {limit_cpu * 1e3:.1f} CPU-ms",
        "",
        "Medians of the repeats; ratios in the same run. 'x limit' is time / GEMM-bound limit "
        "(target <= 2), 'ref / this' is the reference loop's time over this row's (target >= 50 "
        "for the project's sweep).",
        "",
        "| what | wall ms | CPU ms | x limit (wall) | x limit (CPU) | ref / this (wall) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, (w, c) in rows:
        lines.append(
            f"| {label} | {w * 1e3:.1f} | {c * 1e3:.1f} | {w / limit_wall:.2f} | "
            f"{c / limit_cpu:.2f} | {ref[0] / w:.1f} |"
        )
    if not peers:
        lines += [
            "",
            "`implicit` is not installed: peer row skipped (pip install cfensemble[bench]).",
        ]
    else:
        lines += [
            "",
            "implicit per-iteration time / cfensemble Cholesky sweep: "
            + ", ".join(
                f"{lab.split('(')[1].rstrip(')')}: {res[0] / chol[0]:.2f} (wall)"
                for lab, res in peers
            )
            + ". implicit factorizes an implicit-feedback objective (confidence 1 + alpha r), "
            "a peer for scale, not the same problem.",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
