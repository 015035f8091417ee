"""Probe (issue 12, `default` informative): the per-pattern stacking part with missing-cell
indicators added (Pfi): for a column with observed set S, logistic stacking on the logits
of S's classifiers (the CF fill where a labeled column lacks one) plus the m missing-cell
indicators of each labeled column, so that a pattern's abstentions can move its score
(informative missingness) while the fill of the classifiers it lacks is never read.
Offline on auto_parts.py's stored fills, against the 'auto' of section 8 (Pf, no
indicators). Pfi has since become the library's 'auto' stacking part: the probe calls it.

    PYTHONPATH=src python benchmarks/probes/pattern_indicators.py A.pkl[,B.pkl,...] [regimes]
"""

import os
import sys

for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[k] = "1"

sys.path.insert(0, "benchmarks/probes")
from auto_candidates import fold_inputs, run_probe

from cfensemble.aggregators import fit_auto_aggregator, predict_auto, predict_auto_stacking
from cfensemble.patterns import observed_patterns


def candidates(e):
    """auto = section 8's (pattern models, no indicators); c_Pfi = with indicators (the
    library's 'auto' since, fitted with the labeled columns' missing cells)."""
    R, Z, lab, y, miss = fold_inputs(e)
    pats = observed_patterns(~miss)
    agg = fit_auto_aggregator(Z[:, lab], y, patterns=pats)
    p = predict_auto(Z, agg, R)
    if agg.mix > 0 and miss.any():
        agg_i = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=pats)
        return {
            "auto": p,
            "c_Pfi": predict_auto(Z, agg_i, R),
            "Pfi": predict_auto_stacking(Z, agg_i, miss),
        }
    return {"auto": p, "c_Pfi": p, "Pfi": p}


allr = run_probe(candidates, ["auto", "c_Pfi", "Pfi"])
print(
    allr[allr.regime.eq("informative") & allr.dataset.eq("default")]
    .groupby(["rate", "method"])["score"]
    .mean()
    .unstack()[["auto", "c_Pfi", "Pfi", "hindsight"]]
    .round(3)
)
