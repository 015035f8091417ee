"""Probe (issue 12): the L2 strength of 'auto''s stacking part. It is 0.1 on the
class-weighted *mean* loss whatever the number of labeled columns n_L, i.e. a prior that
tightens as n_L grows (0.1 n_L on the summed loss); the confirmation sets, the largest
(2,000-2,400 labeled rows), are where 'auto' trails stacking on complete R. Candidates:
fixed l2 in {0.01, 0.03, 0.3} and l2 = k / n_L (a fixed pseudo-count on the summed loss)
for k in {20, 50}.

Offline on auto_parts.py's stored fills.

    PYTHONPATH=src python benchmarks/probes/stacking_l2.py A.pkl[,B.pkl] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.patterns import observed_patterns

FIXED = (0.01, 0.03, 0.3)
PER_N = (20, 50)
CANDS = [*(f"l2_{v:g}" for v in FIXED), *(f"l2_{k}/n" for k in PER_N)]


def candidates(e):
    R, Z, lab, y, miss = fold_inputs(e)
    pats = observed_patterns(~miss)

    def auto(l2):
        return predict_auto(
            Z, fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=pats, l2=l2), R
        )

    out = {"auto": auto(0.1)}
    out.update({f"l2_{v:g}": auto(v) for v in FIXED})
    out.update({f"l2_{k}/n": auto(k / y.size) for k in PER_N})
    return out


if __name__ == "__main__":
    run_probe(candidates, ["auto", *CANDS])
