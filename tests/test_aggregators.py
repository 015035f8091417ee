import numpy as np
import pytest

from cfensemble.aggregators import fit_weighted_logistic, mean_of_observed, predict_weighted
from cfensemble.objective import class_weights, focal_bce_grad_logits


def _data(seed=0, n=800):
    rng = np.random.RandomState(seed)
    Z = rng.uniform(size=(6, n))
    y = (rng.uniform(size=n) < 0.05 + 0.4 * Z[0] * Z[1]).astype(float)
    return Z, y, class_weights(y)


@pytest.mark.parametrize("l2", [0.0, 1e-3, 1.0])
def test_newton_fit_is_stationary(l2):
    Z, y, s = _data()
    w, b = fit_weighted_logistic(Z, y, s, l2=l2)
    p = predict_weighted(Z, w, b)
    sw = s / s.sum()
    grad = np.concatenate([Z @ (sw * (p - y)) + l2 * w, [np.sum(sw * (p - y))]])
    assert np.abs(grad).max() < 1e-9


def test_newton_agrees_with_quasi_newton_route():
    # focal_gamma > 0 takes L-BFGS; a vanishing gamma makes it the same problem.
    Z, y, s = _data(1)
    w, b = fit_weighted_logistic(Z, y, s)
    w2, b2 = fit_weighted_logistic(Z, y, s, focal_gamma=1e-300)
    np.testing.assert_allclose(w, w2, atol=1e-5)
    assert b == pytest.approx(b2, abs=1e-5)


def test_focal_fit_is_stationary():
    Z, y, s = _data(2)
    w, b = fit_weighted_logistic(Z, y, s, focal_gamma=2.0, l2=1e-3)
    sw = s / s.sum()
    g = sw * focal_bce_grad_logits(w @ Z + b, y, 2.0)
    assert np.abs(Z @ g + 1e-3 * w).max() < 1e-6


def test_separable_data_stays_finite():
    Z = np.array([[0.1, 0.2, 0.8, 0.9]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    w, b = fit_weighted_logistic(Z, y, np.ones(4), l2=1e-3)
    assert np.isfinite(w).all() and np.isfinite(b)
    assert predict_weighted(Z, w, b)[2] > 0.9


def test_mean_of_observed():
    R = np.array([[0.2, np.nan], [0.4, np.nan]])
    assert mean_of_observed(R).tolist() == pytest.approx([0.3, 0.5])
