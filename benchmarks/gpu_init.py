"""The SVD start on the GPU: ALS and varpro on backend='torch', SVD start against random.

One prepared script for a machine with a GPU. Problem: ``make_ensemble(n_classifiers=15,
n_instances=n, positive_rate=0.1, labeled_fraction=0.5, missing_rate=0.3,
random_state=0)``, latent_dim 8, aggregator 'weighted', every other parameter the
trainer's default (rho = 1, tol 1e-3 for ALS and 1e-6 for varpro, max_iter 100), on
``backend='torch', device=--device``. Each fit is timed as a user calls it (``fit()``
wall time, the start computed on the host included); median over ``--repeats``.

Usage (on the GPU machine, from the repository root):
    python benchmarks/gpu_init.py                       # -> benchmarks/results/gpu_init.md
    python benchmarks/gpu_init.py --device cpu --n 20000 --out /tmp/gpu_init.md
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
import warnings
from pathlib import Path

from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu_init.md"))
    args = ap.parse_args(argv)
    s = make_ensemble(
        n_classifiers=15,
        n_instances=args.n,
        positive_rate=0.1,
        labeled_fraction=0.5,
        missing_rate=0.3,
        random_state=0,
    )
    warnings.simplefilter("ignore")  # an unconverged fit is reported as such
    device_name = args.device
    rows = []
    for solver in ("als", "varpro"):
        for init in ("svd", "random"):
            times = []
            for _ in range(args.repeats):
                tr = CFEnsembleTrainer(
                    15,
                    8,
                    solver=solver,
                    backend="torch",
                    device=args.device,
                    init=init,
                    aggregator="weighted",
                    random_state=0,
                )
                t0 = time.perf_counter()
                tr.fit(s.data)
                times.append(time.perf_counter() - t0)
            device_name = tr.device_
            row = (solver, init, tr.n_iter_, tr.converged_, tr.history_["recon"][-1], times)
            rows.append(row)
            print(row, flush=True)
    lines = [
        "# The SVD start on the GPU",
        "",
        f"Command: `python benchmarks/gpu_init.py --device {args.device} --n {args.n} "
        f"--repeats {args.repeats}`; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} "
        f"UTC; {platform.machine()}, device {device_name}"
        + (f" ({_gpu_name()})" if device_name.startswith("cuda") else "")
        + ".",
        "",
        f"m = 15, n = {args.n:,}, 30% of cells missing at random, d = 8, backend='torch', "
        "the trainer's defaults otherwise (aggregator 'weighted'). `fit()` wall time, the "
        "start computed on the host included; median of the repeats.",
        "",
        "| solver | start | iterations | stopped by tol | L_recon at the end | fit s (median) |",
        "|---|---|---|---|---|---|",
    ]
    for solver, init, it, conv, recon, times in rows:
        lines.append(
            f"| {solver} | {init} | {it} | {'yes' if conv else 'no (max_iter)'} | {recon:.6g} "
            f"| {statistics.median(times):.2f} |"
        )
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name()


if __name__ == "__main__":
    main()
