import numpy as np
import pytest

from cfensemble.objective import (
    cf_objective,
    class_weights,
    focal_bce_from_logits,
    focal_bce_grad_logits,
    reconstruction_loss,
    sigmoid,
)


def test_class_weights_balanced():
    y = np.array([1, 0, 0, 0])
    s = class_weights(y)
    # n_L / (2 n_class): positives 4/2, negatives 4/6; both classes weigh the same in total.
    assert s.tolist() == pytest.approx([2.0, 2 / 3, 2 / 3, 2 / 3])
    assert s[y == 1].sum() == pytest.approx(s[y == 0].sum())
    assert class_weights(y, False).tolist() == [1, 1, 1, 1]


def test_objective_by_hand():
    R = np.array([[0.2, np.nan, 0.9], [0.4, 0.6, 0.1]])
    C = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 1.0]])
    labels = np.array([0.0, 1.0, np.nan])
    X = np.array([[0.5, -0.3]])  # d=1, m=2
    Y = np.array([[0.4, 1.0, -0.2]])
    w, b = np.array([1.0, 2.0]), -0.5
    lam, rho, l2 = 0.1, 0.3, 0.2
    R_hat = X.T @ Y
    fit = sum(
        C[u, i] * (R[u, i] - R_hat[u, i]) ** 2
        for u in range(2)
        for i in range(3)
        if not np.isnan(R[u, i])
    )
    recon = (fit + lam * (np.sum(X**2) + np.sum(Y**2))) / 5
    z = w @ R_hat[:, :2] + b
    p = 1 / (1 + np.exp(-z))
    bce = np.array([-np.log(1 - p[0]), -np.log(p[1])])
    sup = bce.mean() + 0.5 * l2 * (w @ w)  # one per class: equal class weights
    val = cf_objective(R, C, labels, X, Y, w, b, rho=rho, lambda_reg=lam, aggregator_l2=l2)
    assert val.recon == pytest.approx(recon, rel=1e-12)
    assert val.sup == pytest.approx(sup, rel=1e-12)
    assert val.total == pytest.approx(rho * recon + (1 - rho) * sup, rel=1e-12)
    assert reconstruction_loss(R, C, X, Y, lam) == pytest.approx(recon, rel=1e-12)


def test_no_labels_means_no_supervised_term():
    R = np.array([[0.2, 0.3]])
    val = cf_objective(
        R,
        np.ones((1, 2)),
        np.array([np.nan, np.nan]),
        np.ones((1, 1)),
        np.ones((1, 2)) * 0.25,
        np.ones(1),
        0.0,
        rho=0.5,
        lambda_reg=0.0,
    )
    assert val.sup == 0.0 and val.total == pytest.approx(0.5 * val.recon)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_gradient_matches_finite_differences(gamma):
    z = np.linspace(-6, 6, 25)
    for y in (np.zeros_like(z), np.ones_like(z)):
        h = 1e-6
        fd = (focal_bce_from_logits(z + h, y, gamma) - focal_bce_from_logits(z - h, y, gamma)) / (
            2 * h
        )
        np.testing.assert_allclose(focal_bce_grad_logits(z, y, gamma), fd, rtol=1e-6, atol=1e-9)


def test_focal_down_weights_easy_examples():
    z = np.array([4.0])
    y = np.array([1.0])
    assert focal_bce_from_logits(z, y, 2.0)[0] < 1e-3 * focal_bce_from_logits(z, y, 0.0)[0]


def test_sigmoid_is_stable():
    p = sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    assert p.tolist() == [0.0, 0.5, 1.0]
    assert focal_bce_from_logits(np.array([-800.0]), np.array([1.0]))[0] == pytest.approx(800.0)
