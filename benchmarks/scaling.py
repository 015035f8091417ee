"""ALS sweep time and peak memory as n grows: in-memory vs Dask with 2 local workers (issue 7).

m=50, d=16, n = 10^4, 10^5, 10^6 by default. Each (backend, n) runs in a fresh process so
that its peak resident memory (ru_maxrss) is its own. A sweep is the X-step then the
Y-step with the default (exact Cholesky) kernels; medians of --repeats sweeps after one
warm-up sweep (which also loads the compiled kernels).

* numpy: ``_als.update_classifiers/update_instances`` on arrays in this process.
* dask: ``cfensemble.distributed.DaskBackend`` on a LocalCluster of 2 worker processes
  (1 thread each, TCP on 127.0.0.1): R0 and C are placed once as instance blocks
  (placement time reported apart), then each sweep is a tree-reduced X-step and a mapped
  Y-step. Peak memory: the client process and each worker process.

Usage: python benchmarks/scaling.py [--sizes 10000 100000 1000000] [--repeats 3]
Writes benchmarks/results/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "results" / "scaling.md"
M, D, LAM = 50, 16, 0.01


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _data(n):
    rng = np.random.RandomState(0)
    R0 = rng.rand(M, n)
    C = 0.5 + np.abs(R0 - 0.5)
    from cfensemble.optimization._als import init_factors

    X, Y = init_factors(rng, D, M, n)
    return R0, C, X, Y


def run_numpy(n, repeats):
    from cfensemble.optimization._als import update_classifiers, update_instances

    R0, C, X, Y = _data(n)
    data_mb = (R0.nbytes + C.nbytes + Y.nbytes) / 2**20
    rss0 = _maxrss_mb()

    def sweep():
        nonlocal X, Y
        X = update_classifiers(Y, R0, C, LAM)
        Y = update_instances(X, R0, C, LAM)

    sweep()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        sweep()
        times.append(time.perf_counter() - t)
    return {
        "sweep_s": float(np.median(times)),
        "data_mb": data_mb,
        "rss_before_mb": rss0,
        "peak_mb": _maxrss_mb(),
    }


def _worker_maxrss():
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024.0


def run_dask(n, repeats):
    import distributed

    from cfensemble.distributed import DaskBackend

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="8GiB",
    )
    client = distributed.Client(cluster)
    try:
        R0, C, X, Y = _data(n)
        t = time.perf_counter()
        be = DaskBackend(R0, C, client=client)
        be.set_Y(Y)
        distributed.wait(be._blocks + be._Y)
        place_s = time.perf_counter() - t
        del R0, C, Y  # the client keeps no copy: only blocks on the workers count

        def sweep():
            Xn = be.update_classifiers(LAM, label_aware=False)
            be.update_instances(Xn, LAM, label_aware=False)
            distributed.wait(be._Y)

        sweep()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            sweep()
            times.append(time.perf_counter() - t)
        workers = client.run(_worker_maxrss)
        return {
            "sweep_s": float(np.median(times)),
            "place_s": place_s,
            "n_blocks": len(be.bounds),
            "peak_mb": _maxrss_mb(),
            "worker_peak_mb": sorted(workers.values()),
        }
    finally:
        client.close()
        cluster.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["numpy", "dask"])
    ap.add_argument("--one", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.one:
        backend, n = args.one[0], int(args.one[1])
        res = (run_numpy if backend == "numpy" else run_dask)(n, args.repeats)
        print("RESULT " + json.dumps(res))
        return
    rows = []
    for n in args.sizes:
        for backend in args.backends:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                backend,
                str(n),
                "--repeats",
                str(args.repeats),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode != 0 or not line:
                print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
                rows.append((n, backend, None))
                continue
            res = json.loads(line[0][len("RESULT ") :])
            print(n, backend, res, flush=True)
            rows.append((n, backend, res))
    load = os.getloadavg()
    lines = [
        "# ALS scaling: in-memory vs Dask (2 local workers)",
        "",
        f"Command: `python benchmarks/scaling.py --sizes {' '.join(map(str, args.sizes))} "
        f"--repeats {args.repeats}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average after the run "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared with other jobs)  ",
        f"m={M}, d={D}, float64, exact Cholesky kernels; median of {args.repeats} sweeps "
        "(X-step + Y-step) after a warm-up sweep. Peak memory is ru_maxrss of each process "
        "(the numpy row includes its data: R0, C, Y).",
        "",
        "| n | backend | sec / sweep | data MB (R0+C+Y) | peak MB | notes |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for n, backend, res in rows:
        if res is None:
            lines.append(f"| {n:,} | {backend} | failed | | | see stderr of the run |")
        elif backend == "numpy":
            lines.append(
                f"| {n:,} | numpy | {res['sweep_s']:.3f} | {res['data_mb']:.0f} | "
                f"{res['peak_mb']:.0f} | RSS with data, before sweeps: "
                f"{res['rss_before_mb']:.0f} MB |"
            )
        else:
            w = res["worker_peak_mb"]
            lines.append(
                f"| {n:,} | dask (2 workers) | {res['sweep_s']:.3f} | "
                f"{(2 * M + D) * n * 8 / 2**20:.0f} | client {res['peak_mb']:.0f}, workers "
                f"{' / '.join(f'{x:.0f}' for x in w)} | {res['n_blocks']} blocks, placement "
                f"{res['place_s']:.1f} s |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
