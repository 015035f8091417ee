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
  installed (``pip install cfensemble[bench]``). A peer for scale: its objective differs;
* ``fit()`` itself, as a user calls it: ``CFEnsembleTrainer(latent_dim=d, max_iter=k,
  tol=0, n_jobs=t).fit(data)`` (history on, label-aware confidence, aggregator refit every
  sweep) on R of the same shape, half the columns labeled (10% positives). Per sweep =
  (time of fit with k + K sweeps - time of fit with k sweeps) / K, k = 2, K = 10: the
  one-off costs (validation, confidence, placement, the final aggregator) cancel, and the
  first sweeps' costs do not weigh on it. Median of ``--fit-repeats`` such pairs. Next to
  it, the kernel sweep on the same arrays (R0, the label-aware C~ of that fit) at the same
  thread count; 'fit / kernel' is the overhead of everything fit() adds (target <= 1.25);
* thread scaling: the kernel sweep and the fit() sweep at each of ``--threads`` (default
  1,2; on a 16-core machine ``--threads 1,4,8,16``), speed-up over 1 thread.

Usage: python benchmarks/als_speed.py [--n 100000] [--m 15] [--d 20] [--repeats 5]
       [--threads 1,2] [--fit-repeats 3] [--no-peers]
Writes benchmarks/results/als_speed.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from cfensemble.optimization import _als
from cfensemble.optimization._reference import solve_factors_reference
from cfensemble.optimization._solve import default_threads

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


def fit_problem(R0, seed=0):
    """EnsembleData on predictions R0 (m, n): half the columns labeled, 10% positives."""
    from cfensemble.data import EnsembleData

    rng = np.random.RandomState(seed)
    n = R0.shape[1]
    y = (rng.rand(n) < 0.1).astype(float)
    y[rng.rand(n) < 0.5] = np.nan
    return EnsembleData(R0, y)


def fit_sweep(data, d, n_jobs, repeats, k=2, extra=10):
    """Per-sweep wall and CPU seconds of fit(): (fit(k + extra) - fit(k)) / extra, median."""
    import warnings

    from cfensemble.optimization import CFEnsembleTrainer

    def run(iters):
        # init='random': the start als_speed.md was timed from (the SVD start's own cost is
        # in als_init.md).
        tr = CFEnsembleTrainer(
            latent_dim=d, max_iter=iters, tol=0.0, random_state=0, n_jobs=n_jobs, init="random"
        )
        c0, w0 = time.process_time(), time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at tol=0, full-rank d >= m
            tr.fit(data)
        return time.perf_counter() - w0, time.process_time() - c0, tr

    run(k)  # warm-up (compiled kernels loaded)
    walls, cpus = [], []
    for _ in range(repeats):
        w_short, c_short, _ = run(k)
        w_long, c_long, tr = run(k + extra)
        walls.append((w_long - w_short) / extra)
        cpus.append((c_long - c_short) / extra)
    return (float(np.median(walls)), float(np.median(cpus))), tr


def kernel_sweep(tr, data, d, n_threads, repeats):
    """The ALS half-steps alone on the arrays of ``tr``'s fit (R0, C~), n_threads threads."""
    R0 = np.ascontiguousarray(data.R_filled(0.0))
    Ct = np.ascontiguousarray(tr.C_label_aware_)
    X, Y = tr.X_.copy(), tr.Y_.copy()
    lam = tr.lambda_reg

    def sweep():
        _als.update_classifiers(Y, R0, Ct, lam, n_threads=n_threads)
        _als.update_instances(X, R0, Ct, lam, n_threads=n_threads)

    return timed(sweep, repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=15)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ref-cols", type=int, default=5_000, help="columns of the timed Y loop")
    ap.add_argument("--threads", default="1,2", help="thread counts of the scaling table")
    ap.add_argument("--fit-repeats", type=int, default=3, help="fit() timing pairs")
    ap.add_argument("--no-peers", action="store_true", help="skip implicit and the reference")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",")]
    m, n, d, reps = args.m, args.n, args.d, args.repeats
    rng = np.random.RandomState(0)
    R0 = rng.rand(m, n)
    C = 0.5 + np.abs(R0 - 0.5)  # the 'certainty' confidence
    X, Y = _als.init_factors(rng, d, m, n)
    lam = 0.01
    threads = default_threads()
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
    ref = (float("nan"), float("nan"))
    peers = []
    if not args.no_peers:
        ref = reference_sweep(Y, X, R0, C, lam, min(args.ref_cols, n))
        rows.append(
            (f"per-row reference loop (Y loop on {min(args.ref_cols, n)} cols, scaled)", ref)
        )
        for label, use_cg, dt in (
            ("implicit ALS per iteration (CG, float32, its default)", True, np.float32),
            ("implicit ALS per iteration (Cholesky, float64)", False, np.float64),
        ):
            res = implicit_per_iteration(R0, d, threads, max(1, reps // 2), use_cg, dt)
            if res is not None:
                peers.append((label, res))
        rows += peers

    # fit() as a user calls it, next to the kernel sweep on its arrays, per thread count.
    data = fit_problem(R0)
    scaling = []
    for t in thread_counts:
        fit_t, tr = fit_sweep(data, d, t, args.fit_repeats)
        with threadpool_limits(limits=t):  # the GEMM-bound limit at t threads
            g_t = timed(lambda: A @ B, reps)[0]
        limit_t = sweep_flops / (gemm_flops / g_t)
        scaling.append((t, kernel_sweep(tr, data, d, t, reps), fit_t, limit_t))

    load = os.getloadavg()
    lines = [
        "# ALS per-sweep speed",
        "",
        f"Command: `python benchmarks/als_speed.py --m {m} --n {n} --d {d} --repeats {reps} "
        f"--threads {args.threads} --fit-repeats {args.fit_repeats}"
        + (" --no-peers" if args.no_peers else "")
        + "`  ",
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
    if args.no_peers:
        lines += ["", "Reference loop and `implicit` skipped (--no-peers)."]
    elif not peers:
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
    lines += [
        "",
        "## fit() per sweep, next to the kernel sweep",
        "",
        f"`CFEnsembleTrainer(latent_dim={d}, max_iter=k, tol=0, n_jobs=t).fit(data)`, "
        f"m={m}, n={n}, half the columns labeled: per sweep = (fit with 12 sweeps - fit "
        f"with 2) / 10, median of {args.fit_repeats}. Kernel sweep: the two half-steps on "
        "that fit's arrays (R0, label-aware C~) at the same thread count, median of "
        f"{reps}. 'fit / kernel' target <= 1.25. 'limit': the GEMM-bound limit of the sweep "
        "at the GEMM rate with BLAS at the same thread count (wall), measured in this loop; "
        "'kernel / limit' target <= 1.5. Speed-up: over the 1-thread row (wall).",
        "",
        "| threads | kernel wall ms | kernel CPU ms | fit wall ms | fit CPU ms | "
        "fit / kernel (wall) | fit / kernel (CPU) | limit ms | kernel / limit (wall) | "
        "kernel speed-up | fit speed-up |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = next(((k, f) for t, k, f, _ in scaling if t == 1), None)
    for t, (kw, kc), (fw, fc), lim in scaling:
        ks = f"{base[0][0] / kw:.2f}" if base else "-"
        fs = f"{base[1][0] / fw:.2f}" if base else "-"
        lines.append(
            f"| {t} | {kw * 1e3:.1f} | {kc * 1e3:.1f} | {fw * 1e3:.1f} | {fc * 1e3:.1f} | "
            f"{fw / kw:.2f} | {fc / kc:.2f} | {lim * 1e3:.1f} | {kw / lim:.2f} | {ks} | {fs} |"
        )
    load = os.getloadavg()
    lines += [
        "",
        f"Load average after the run: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}. On a "
        "machine shared with other jobs the CPU-time columns are the steadier ones; thread "
        "speed-ups need as many idle cores as threads.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
