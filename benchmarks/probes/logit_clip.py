"""Probe (issue 12): the clip of the logit features in 'auto''s per-pattern stacking part.

logit(clip(z, c, 1 - c)) with c = 1e-4 (the library's), 1e-3, 1e-2, 3e-2: a tree's exact
0/1 probabilities become logits of -9.2/+9.2 at 1e-4, points of high leverage for the
logistic stacker. Offline on auto_parts.py's stored fills; 'auto' refitted per clip, as it
was when this ran (section 8a: the pattern models without missing-cell indicators).

    PYTHONPATH=src python benchmarks/probes/logit_clip.py A.pkl[,B.pkl,...]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"
sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, load_fills, print_groups, score_fills, with_baselines

import cfensemble.aggregators as A
from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.patterns import observed_patterns

CLIPS = (1e-4, 1e-3, 1e-2, 3e-2)


def clipped(e):
    """'auto' (section 8: pattern models without indicators) refitted at every clip."""
    R, Z, lab, y, miss = fold_inputs(e)
    pats = observed_patterns(~miss)
    out = {}
    for clip in CLIPS:
        A._LOGIT_CLIP = clip
        out[f"clip{clip:g}"] = predict_auto(Z, fit_auto_aggregator(Z[:, lab], y, patterns=pats), R)
    A._LOGIT_CLIP = 1e-4
    return out


allr, _ = with_baselines(score_fills(load_fills(sys.argv[1]), clipped))
allr.to_csv(os.environ.get("PROBE_CSV", "/tmp/logit_clip.csv"), index=False)
print_groups(allr, [f"clip{c:g}" for c in CLIPS])
