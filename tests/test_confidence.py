import numpy as np
import pytest

from cfensemble.confidence import (
    Confidence,
    brier_reliability,
    certainty_confidence,
    label_aware,
    label_aware_strength,
)

R = np.array([[0.9, 0.5, np.nan, 0.1], [0.6, 0.2, 0.7, 0.4]])
OBS = ~np.isnan(R)
LABELS = np.array([1.0, 0.0, np.nan, 0.0])


def test_certainty():
    C = certainty_confidence(R, OBS, floor=0.05)
    assert C[0].tolist() == pytest.approx([0.8, 0.05, 0.0, 0.8])
    assert C[1].tolist() == pytest.approx([0.2, 0.6, 0.4, 0.2])


def test_label_aware_formula_and_modulates_not_replaces():
    C = np.full(R.shape, 2.0) * OBS
    Ct = label_aware(C, R, LABELS, alpha=1.0)
    assert Ct[0, 0] == pytest.approx(2.0 * (1 + 0.9))  # y=1: c (1 + alpha r)
    assert Ct[0, 1] == pytest.approx(2.0 * (1 + 0.5))  # y=0: c (1 + alpha (1 - r))
    assert Ct[1, 2] == pytest.approx(2.0)  # unlabeled: c
    assert Ct[0, 2] == 0.0  # missing stays zero
    assert np.array_equal(label_aware(C, R, LABELS, 0.0), C)


def test_label_aware_strength_follows_rho():
    assert label_aware_strength(1.0, 1.0) == 0.0
    assert label_aware_strength(1.0, 0.5) == 1.0
    assert label_aware_strength(1.0, 0.0) == 2.0


def test_calibration_ranks_classifiers_by_brier():
    q = brier_reliability(R, OBS, LABELS)
    # classifier 0 is right on every labeled cell, classifier 1 is not.
    assert q[0] > q[1]
    C = Confidence("calibration").fit_transform(R, OBS, LABELS)
    assert C[0, 0] == pytest.approx(q[0]) and C[0, 2] == 0.0


def test_adaptive_is_geometric_blend():
    conf = Confidence("adaptive").fit(R, OBS, LABELS)
    C = conf.transform(R, OBS)
    cert = certainty_confidence(R, OBS)
    np.testing.assert_allclose(C, np.sqrt(cert * conf.reliability_[:, None]) * OBS)


def test_callable_strategy_and_its_validation():
    C = Confidence(lambda R, obs, labels: np.full(R.shape, 3.0)).fit_transform(R, OBS, LABELS)
    assert C[0, 0] == 3.0 and C[0, 2] == 0.0
    with pytest.raises(ValueError, match="must be non-negative"):
        Confidence(lambda R, obs, labels: -np.ones(R.shape)).fit_transform(R, OBS, LABELS)


def test_unknown_strategy():
    with pytest.raises(ValueError, match=r"confidence must be one of .*got 'sure'"):
        Confidence("sure")
