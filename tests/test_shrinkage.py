import numpy as np
import pytest

from cfensemble.aggregators import count_weights, fit_shrinkage_logistic, fit_weighted_logistic
from cfensemble.objective import class_weights
from cfensemble.synthetic import make_ensemble


@pytest.fixture(scope="module")
def ens():
    return make_ensemble(n_classifiers=8, n_instances=4000, positive_rate=0.1, random_state=0)


def _subset(ens, n_pos, seed=0):
    rng = np.random.RandomState(seed)
    y = ens.y_true
    idx = np.r_[
        rng.choice(np.flatnonzero(y == 1), n_pos, replace=False),
        rng.choice(np.flatnonzero(y == 0), 9 * n_pos, replace=False),
    ]
    return ens.R[:, idx], y[idx].astype(float)


def _spread(w):
    return np.std(w) / abs(np.mean(w))


def test_infinite_strength_gives_equal_weights_and_zero_gives_stacking(ens):
    Z, y = _subset(ens, 100)
    w, _, _ = fit_shrinkage_logistic(Z, y, strength=1e9)
    assert _spread(w) < 1e-4
    w0, b0, _ = fit_shrinkage_logistic(Z, y, strength=0.0, l2=1e-3 * 2 * 100)
    ws, bs = fit_weighted_logistic(Z, y, class_weights(y), l2=1e-3)
    # Same objective up to the overall scale of the sample weights (2 n_min against 1).
    np.testing.assert_allclose(w0, ws, rtol=1e-4, atol=1e-4)


def test_auto_strength_goes_to_equal_weights_as_labels_go_to_zero(ens):
    spreads, lams = [], []
    for n_pos in (200, 20, 2):
        Z, y = _subset(ens, n_pos)
        w, _, lam = fit_shrinkage_logistic(Z, y)
        spreads.append(_spread(w))
        lams.append(lam)
    assert lams[0] < lams[2]
    assert spreads[0] > spreads[2]
    assert spreads[2] < 0.01  # two positives: (nearly) equal weights


def test_count_weights_count_the_minority_once():
    y = np.r_[np.ones(5), np.zeros(95)]
    s = count_weights(y)
    assert s[y == 1].sum() == pytest.approx(5) and s[y == 0].sum() == pytest.approx(5)
    assert np.array_equal(count_weights(y, False), np.ones(100))
