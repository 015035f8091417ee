"""Probe (issue 12, after the SVD start shipped): the rank search of latent_dim='auto' from
the SVD start instead of its random one.

The trainers start from the balanced SVD factors (init='svd'); the rank search still fits
each candidate rank from small random factors for at most 50 sweeps. This runs the
real-data benchmark's default CF row (cf_als) with ``select_rank``'s default start set to
'svd', writing the scores as a --csv-only part (defaults_probe.md section 11).

    PYTHONPATH=src python benchmarks/probes/rank_search_start.py OUT.csv
"""

import sys

sys.path.insert(0, "benchmarks")
import cfensemble.optimization._rank as rank_module

rank_module.select_rank.__kwdefaults__["init"] = "svd"
import real_data

real_data.main(["--methods", "cf_als", "--csv-only", sys.argv[1]])
