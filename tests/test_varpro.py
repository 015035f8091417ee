import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble.data import EnsembleData
from cfensemble.objective import cf_objective, class_weights
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.optimization._varpro import (
    VarproProblem,
    pack,
    project,
    unpack,
    varpro_value_and_grad,
)
from cfensemble.synthetic import make_ensemble


def _problem(
    missing_rate,
    *,
    rho=0.4,
    focal_gamma=0.0,
    l2=0.0,
    seed=0,
    C=None,
    aggregator_input="reconstruction",
):
    s = make_ensemble(
        n_classifiers=6, n_instances=120, missing_rate=missing_rate, random_state=seed
    )
    obs = ~np.isnan(s.R)
    rng = np.random.RandomState(seed)
    if C is None:
        C = np.where(obs, rng.uniform(0.2, 2.0, size=s.R.shape), 0.0)
    y = s.labels[s.labeled_idx]
    P = VarproProblem(
        R0=np.where(obs, s.R, 0.0),
        C=C,
        labeled_idx=s.labeled_idx,
        y=y,
        s=class_weights(y),
        n_observed=int(obs.sum()),
        rho=rho,
        lambda_reg=0.05,
        focal_gamma=focal_gamma,
        aggregator_l2=l2,
        chunk_size=50,
    )
    X = rng.standard_normal((3, 6))
    w = rng.standard_normal(6)
    return s, P, X, w, 0.3


@pytest.mark.parametrize(
    "missing_rate, rho, gamma, l2",
    [
        (0.0, 0.4, 0.0, 0.0),
        (0.3, 0.4, 0.0, 0.0),
        (0.3, 0.7, 2.0, 0.1),
        (0.0, 0.0, 0.0, 0.01),
        (0.3, 1.0, 0.0, 0.0),
    ],
)
def test_gradient_matches_central_differences(missing_rate, rho, gamma, l2):
    _, P, X, w, b = _problem(missing_rate, rho=rho, focal_gamma=gamma, l2=l2)
    d, m = X.shape
    theta = pack(X, w, b)

    def J(t):
        Xt, wt, bt = unpack(t, d, m)
        return varpro_value_and_grad(Xt, wt, bt, P, with_grad=False)[0]

    _, _, _, gX, gw, gb = varpro_value_and_grad(X, w, b, P)
    grad = pack(gX, gw, gb)
    h = 1e-6
    fd = np.array([(J(theta + h * e) - J(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9 * np.abs(fd).max())


def test_value_is_the_shared_objective_at_projected_factors():
    s, P, X, w, b = _problem(0.3)
    J, recon, sup = varpro_value_and_grad(X, w, b, P, with_grad=False)
    ref = cf_objective(
        s.R, P.C, s.labels, X, project(X, P), w, b, rho=P.rho, lambda_reg=P.lambda_reg
    )
    assert (J, recon, sup) == pytest.approx(tuple(ref), rel=1e-12)


def _fit(data, **kw):
    # The solver's mechanics at its previous defaults (rho=0.5: the supervised term moves X;
    # 'weighted': predictions use the jointly fitted w, b; 'certainty' confidence; the
    # random start, from which L-BFGS has a path to walk).
    params = dict(
        n_classifiers=data.n_classifiers,
        latent_dim=3,
        solver="varpro",
        rho=0.5,
        aggregator="weighted",
        confidence="certainty",
        init="random",
        random_state=0,
    )
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleTrainer(**params).fit(data)


@pytest.mark.parametrize("missing", [False, True])
def test_objective_never_rises(small_ensemble, missing_ensemble, missing):
    data = (missing_ensemble if missing else small_ensemble).data
    tr = _fit(data, max_iter=60)
    h = np.array(tr.history_["combined"])
    assert len(h) == tr.n_iter_ > 5
    assert np.all(np.diff(h) <= 1e-12 * np.abs(h[:-1]))
    assert tr.combined_loss(data) == pytest.approx(h[-1], rel=1e-10)


@pytest.mark.parametrize("agg_input", ["reconstruction", "filled", "both"])
def test_transductive_equals_inductive(missing_ensemble, agg_input):
    s = missing_ensemble
    tr = _fit(s.data, aggregator_input=agg_input)
    p = tr.predict()
    # every column, labeled ones included: Y*(X) is the same computation for all
    np.testing.assert_allclose(tr.predict(s.R), p, rtol=0, atol=1e-10)
    cols = np.r_[s.labeled_idx[:7], s.test_idx[:7]]
    np.testing.assert_allclose(tr.predict(s.R[:, cols]), p[cols], rtol=0, atol=1e-10)


def test_a_fit_that_stops_at_its_start_still_has_a_history(small_ensemble):
    # Complete R: from the SVD start L_sup does not depend on X ('filled' input) and the
    # warm-up sweeps leave L_recon's gradient below gtol, so L-BFGS makes no iteration; the
    # history then holds that point, as iteration 0 (the CLI prints its last entry).
    data = small_ensemble.data
    calls = []
    tr = CFEnsembleTrainer(
        solver="varpro", random_state=0, callback=lambda it, loss: calls.append(it)
    ).fit(data)
    assert tr.n_iter_ == 0 and tr.converged_
    assert calls == [0] and len(tr.history_["recon"]) == 1
    assert tr.history_["recon"][0] == pytest.approx(tr.objective(data).recon, rel=1e-10)


def test_converges_and_beats_initialization(small_ensemble):
    tr = _fit(small_ensemble.data, max_iter=500)
    assert tr.converged_
    assert tr.history_["combined"][-1] < tr.history_["combined"][0]


def test_options_change_the_fit(missing_ensemble):
    s = missing_ensemble
    base = _fit(s.data).predict()
    for kw in (
        {"focal_gamma": 2.0},
        {"aggregator_l2": 1.0},
        {"rho": 0.9},
        {"use_class_weights": False},
        {"confidence": "uniform"},
    ):
        assert np.abs(_fit(s.data, **kw).predict() - base).max() > 1e-3, kw
    C = np.random.RandomState(1).uniform(0.05, 3.0, size=s.R.shape)
    assert np.abs(_fit(EnsembleData(s.R, s.labels, C)).predict() - base).max() > 1e-3


def test_rho_one_is_pure_reconstruction(small_ensemble):
    tr = _fit(small_ensemble.data, rho=1.0, max_iter=50)
    assert tr.history_["combined"][-1] == pytest.approx(tr.history_["recon"][-1])


def test_no_label_leak(small_ensemble):
    # Same map for labeled and unlabeled columns: train and test PR-AUC stay close.
    from cfensemble.metrics import pr_auc

    s = make_ensemble(n_classifiers=10, n_instances=2000, random_state=4)
    tr = _fit(s.data, latent_dim=4)
    p = tr.predict()
    train = pr_auc(s.y_true[s.labeled_idx], p[s.labeled_idx])
    test = pr_auc(s.y_true[s.test_idx], p[s.test_idx])
    assert train - test < 0.1
