"""Baselines over R: mean, stacking, the HGB stacker (native NaN), best single."""

import numpy as np
import pytest

from cfensemble.baselines import (
    BASELINES,
    best_single,
    hgb_stacking,
    mean_aggregation,
    stacking,
)
from cfensemble.datasets import remove_predictions
from cfensemble.metrics import pr_auc
from cfensemble.synthetic import make_ensemble


@pytest.fixture(scope="module")
def ens():
    return make_ensemble(n_classifiers=8, n_instances=800, positive_rate=0.15, random_state=0)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_beats_chance(ens, name):
    p = BASELINES[name](ens.R, ens.labels)
    assert p.shape == (ens.R.shape[1],)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    test = ens.test_idx
    assert pr_auc(ens.y_true[test], p[test]) > 2 * ens.y_true[test].mean()


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_missing_cells(ens, name):
    R = remove_predictions(ens.R, 0.3, random_state=0)
    p = BASELINES[name](R, ens.labels)
    assert np.isfinite(p).all()


def test_hgb_takes_nan_natively_and_ignores_test_labels(ens):
    R = remove_predictions(ens.R, 0.3, random_state=0)
    p1 = hgb_stacking(R, ens.labels)
    # Fitted on labeled columns only: scores of test columns do not depend on other test
    # columns (inductive), so scoring a subset of them gives the same numbers.
    keep = np.r_[ens.labeled_idx, ens.test_idx[:50]]
    p2 = hgb_stacking(R[:, keep], ens.labels[keep])
    np.testing.assert_allclose(p2[-50:], p1[ens.test_idx[:50]])


def test_existing_signatures_unchanged(ens):
    # The original three keep their (R, labels) -> (n,) behaviour.
    np.testing.assert_allclose(mean_aggregation(ens.R), np.nanmean(ens.R, axis=0))
    assert stacking(ens.R, ens.labels, l2=1e-3).shape == (ens.R.shape[1],)
    assert best_single(ens.R, ens.labels).shape == (ens.R.shape[1],)
