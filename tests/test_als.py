import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from cfensemble.data import EnsembleData
from cfensemble.metrics import pr_auc
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.optimization._als import (
    EXTRAPOLATION,
    init_factors,
    next_extrapolation,
    solve_factors,
    svd_factors,
    update_classifiers,
    update_instances,
)
from cfensemble.optimization._reference import (
    solve_factors_reference,
    update_classifiers_reference,
    update_instances_reference,
)


def _problem(rng, m=7, n=300, d=4, missing=0.2):
    R = rng.uniform(size=(m, n))
    C = rng.uniform(0.1, 2.0, size=(m, n))
    C[rng.uniform(size=(m, n)) < missing] = 0.0
    R0 = np.where(C > 0, R, 0.0)
    X, Y = init_factors(rng, d, m, n, scale=1.0)
    return R0, C, X, Y


def test_half_steps_equal_reference(rng):
    R0, C, X, Y = _problem(rng)
    np.testing.assert_allclose(
        update_instances(X, R0, C, 0.1), update_instances_reference(X, R0, C, 0.1), atol=1e-8
    )
    np.testing.assert_allclose(
        update_classifiers(Y, R0, C, 0.1),
        update_classifiers_reference(Y, R0, C, 0.1),
        atol=1e-8,
    )


def test_chunked_equals_unchunked(rng):
    R0, C, X, _ = _problem(rng)
    full = solve_factors(X, R0, C, 0.05, chunk_size=10_000)
    np.testing.assert_allclose(solve_factors(X, R0, C, 0.05, chunk_size=7), full, atol=1e-12)
    np.testing.assert_allclose(solve_factors_reference(X, R0, C, 0.05), full, atol=1e-8)


def _fit(data, **kw):
    params = dict(n_classifiers=data.n_classifiers, latent_dim=3, random_state=0, max_iter=40)
    params.update(kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleTrainer(**params).fit(data)


def test_original_api_by_keyword(small_ensemble):
    s = small_ensemble
    m = s.R.shape[0]
    with pytest.warns(UserWarning, match="full rank"):
        tr = CFEnsembleTrainer(
            n_classifiers=m,
            latent_dim=20,
            rho=0.5,
            lambda_reg=0.01,
            max_iter=100,
            use_label_aware_confidence=True,
            label_aware_alpha=1.0,
            random_state=0,
        ).fit(EnsembleData(s.R, s.labels))
    assert tr.predict().shape == (s.R.shape[1],)
    assert tr.predict(s.R[:, :10]).shape == (10,)
    assert np.isfinite(tr.combined_loss(s.data))
    assert set(tr.history_) >= {"combined", "recon", "sup"}
    assert len(tr.history_["combined"]) == tr.n_iter_
    assert tr.X_.shape == (20, m) and tr.Y_.shape == (20, s.R.shape[1])


def test_beats_mean_on_synthetic(small_ensemble):
    s = small_ensemble
    tr = _fit(s.data)
    t = s.test_idx
    assert pr_auc(s.y_true[t], tr.predict()[t]) > pr_auc(s.y_true[t], s.R[:, t].mean(axis=0))


def test_rho_one_objective_never_increases(small_ensemble):
    tr = _fit(small_ensemble.data, rho=1.0, max_iter=30, tol=0.0)
    h = np.array(tr.history_["combined"])
    assert len(h) == 30
    assert np.all(np.diff(h) <= 1e-12 * h[:-1])
    # with rho = 1 the objective is the reconstruction alone
    assert tr.history_["combined"][-1] == pytest.approx(tr.history_["recon"][-1])


def test_next_extrapolation_grows_on_success_and_backs_off_on_failure():
    e = EXTRAPOLATION
    beta, cap = next_extrapolation(0.5, 1.0, accepted=True)
    assert beta == pytest.approx(0.5 * e["gamma"]) and cap == 1.0  # the cap never exceeds 1
    beta, cap = next_extrapolation(0.99, 0.99, accepted=True)
    assert beta == 0.99 and cap == pytest.approx(0.99 * e["gamma_cap"])  # beta <= its cap
    beta, cap = next_extrapolation(0.8, 1.0, accepted=False)
    assert beta == pytest.approx(0.8 / e["eta"]) and cap == 0.8  # the cap remembers 0.8


@pytest.mark.parametrize("rho", [1.0, 0.5])
def test_extrapolation_keeps_als_monotone_and_lowers_the_objective(missing_ensemble, rho):
    # The quantity the half-steps lower, sum c~ (r - x^T y)^2 + lambda (|X|^2 + |Y|^2), is
    # L_recon at rho = 1 (c~ = c): extrapolated sweeps keep it falling, and after 40 sweeps it
    # is lower than plain ALS's (beta = 0 is plain ALS: X_e = X_hat).
    data = missing_ensemble.data
    fits = {}
    for beta0 in (0.0, EXTRAPOLATION["beta0"]):
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(EXTRAPOLATION, "beta0", beta0)
            fits[beta0] = _fit(data, rho=rho, tol=0.0, max_iter=40, init="random")
    plain, extra = fits[0.0], fits[EXTRAPOLATION["beta0"]]
    if rho == 1.0:
        for tr in (plain, extra):
            h = np.array(tr.history_["recon"])
            assert np.all(np.diff(h) <= 1e-12 * h[:-1])
        assert extra.history_["recon"][-1] < plain.history_["recon"][-1]
    assert not np.allclose(extra.X_, plain.X_)  # the extrapolation did act


def test_rejected_extrapolation_falls_back_to_plain_als(missing_ensemble):
    # A far too long first step (beta = 20) raises the objective: the sweep falls back to
    # the plain step, so the objective still never increases, and beta shrinks until the
    # steps are accepted.
    import cfensemble.optimization._trainer as trainer_module

    outcomes = []

    def recording(beta, cap, accepted):
        outcomes.append(accepted)
        return next_extrapolation(beta, cap, accepted)

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(EXTRAPOLATION, "beta0", 20.0)
        mp.setitem(EXTRAPOLATION, "cap0", 20.0)
        mp.setattr(trainer_module, "next_extrapolation", recording)
        tr = _fit(missing_ensemble.data, rho=1.0, tol=0.0, max_iter=30, init="random")
    assert not outcomes[0] and outcomes.count(False) >= 2 and outcomes[-1]
    h = np.array(tr.history_["recon"])
    assert np.all(np.diff(h) <= 1e-12 * h[:-1])


def test_svd_factors_are_balanced_and_exact_on_a_low_rank_matrix(rng):
    # Complete R of rank 3: X^T Y = R, and X X^T = Y Y^T = S (the balance a stationary
    # point of the ridge-penalized factorization has).
    R = rng.uniform(size=(6, 3)) @ rng.uniform(size=(3, 80)) / 3
    X, Y = svd_factors(R, np.ones(R.shape, dtype=bool), 3, rng)
    np.testing.assert_allclose(X.T @ Y, R, atol=1e-10)
    np.testing.assert_allclose(X @ X.T, Y @ Y.T, atol=1e-10)
    np.testing.assert_allclose(X @ X.T, np.diag(np.diag(X @ X.T)), atol=1e-10)


def test_svd_factors_fill_missing_cells_with_the_instances_mean(rng):
    # X^T Y is the rank-d truncated SVD of F: missing cells at the mean of the instance's
    # observed cells, or at the classifier's own mean for an instance nobody scored; the
    # same in column chunks of 2 instances as in one pass.
    import cfensemble.optimization._als as als_module

    R = rng.uniform(size=(5, 40))
    R[rng.uniform(size=R.shape) < 0.3] = np.nan
    R[:, 7] = np.nan
    observed = ~np.isnan(R)
    col = np.nanmean(np.where(observed.any(axis=0), R, 0.0), axis=0)
    F = np.where(observed, R, col)
    F[:, 7] = np.nanmean(R, axis=1)
    U, s, Vt = np.linalg.svd(F, full_matrices=False)
    expected = (U[:, :2] * s[:2]) @ Vt[:2]
    X, Y = svd_factors(R, observed, 2, rng)
    np.testing.assert_allclose(X.T @ Y, expected, atol=1e-10)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(als_module, "CHUNK_CELLS", 10)
        Xc, Yc = svd_factors(R, observed, 2, rng)
    np.testing.assert_allclose(Xc.T @ Yc, expected, atol=1e-10)


def test_svd_factors_beyond_the_rank_of_R_start_no_factor_at_zero(rng):
    # R of rank 1: the second and third components have no energy and get random rows.
    R = np.outer(rng.uniform(size=4), rng.uniform(size=30))
    X, Y = svd_factors(R, np.ones(R.shape, dtype=bool), 3, rng)
    assert np.isfinite(X).all() and np.isfinite(Y).all()
    assert np.all(np.abs(X).sum(axis=1) > 0) and np.all(np.abs(Y).sum(axis=1) > 0)


def test_svd_init_converges_in_a_few_sweeps(missing_ensemble):
    # From small random factors ALS spends most sweeps moving scale between X and Y; from
    # the balanced SVD start it meets the default stopping rule within 15 sweeps, at an
    # L_recon no higher than the random start's after 100.
    data = missing_ensemble.data
    svd = _fit(data, rho=1.0, max_iter=100)
    rand = _fit(data, rho=1.0, max_iter=100, tol=0.0, init="random")
    assert svd.converged_ and svd.n_iter_ <= 15
    assert svd.history_["recon"][-1] <= rand.history_["recon"][-1] * (1 + 1e-3)


def test_combined_loss_matches_history(small_ensemble):
    tr = _fit(small_ensemble.data)
    assert tr.combined_loss(small_ensemble.data) == pytest.approx(tr.history_["combined"][-1])


@pytest.mark.parametrize(
    "params, rtol",
    [
        ({"latent_dim": 3}, 1e-11),  # d < m: primal kernel
        ({"latent_dim": 12}, 1e-11),  # d > m: dual kernel, residual from the dual solution
        ({"latent_dim": 3, "confidence": "certainty", "aggregator_input": "both"}, 1e-11),
        ({"latent_dim": 3, "linear_solver": "cg"}, 1e-11),
        ({"latent_dim": 3, "rho": 1.0}, 1e-11),
        ({"latent_dim": 12, "dtype": "float32"}, 1e-6),
    ],
    ids=["primal", "dual", "certainty-both", "cg", "rho1", "float32"],
)
def test_history_is_cf_objective_at_every_sweep(missing_ensemble, params, rtol):
    """history_[k] is L_CF (cf_objective) at the factors and aggregator after sweep k + 1.

    A fit stopped after k sweeps holds exactly those factors (the loop is deterministic),
    so each entry of a 4-sweep history is checked against the objective of that fit.
    """
    data = missing_ensemble.data
    kw = dict(aggregator="weighted", tol=0.0, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = CFEnsembleTrainer(max_iter=4, **kw).fit(data)
        for k in range(1, 5):
            tr = CFEnsembleTrainer(max_iter=k, **kw).fit(data)
            ref = tr.objective(data)
            assert full.history_["combined"][k - 1] == pytest.approx(ref.total, rel=rtol)
            assert full.history_["recon"][k - 1] == pytest.approx(ref.recon, rel=rtol)
            assert full.history_["sup"][k - 1] == pytest.approx(ref.sup, rel=rtol, abs=1e-15)


@pytest.mark.parametrize("agg_input", ["filled", "reconstruction"])
def test_rho_changes_predictions(missing_ensemble, agg_input):
    # (with 'filled' inputs the factors act through the missing cells)
    p1 = _fit(missing_ensemble.data, rho=0.9, aggregator_input=agg_input).predict()
    p2 = _fit(missing_ensemble.data, rho=0.2, aggregator_input=agg_input).predict()
    assert np.abs(p1 - p2).max() > 1e-3


def test_supplied_confidence_changes_predictions(missing_ensemble):
    s = missing_ensemble
    base = _fit(s.data).predict()
    C = np.random.RandomState(5).uniform(0.05, 3.0, size=s.R.shape)
    user = _fit(EnsembleData(s.R, s.labels, C=C))
    assert np.abs(user.predict() - base).max() > 1e-3
    # the user's C is what the objective uses (zero on missing cells), label-aware modulated it
    np.testing.assert_array_equal(user.C_, np.where(np.isnan(s.R), 0.0, C))
    lab = s.labeled_idx
    assert not np.allclose(user.C_label_aware_[:, lab], C[:, lab])
    np.testing.assert_array_equal(user.C_label_aware_[:, s.test_idx], user.C_[:, s.test_idx])


def test_fold_in_reproduces_transductive_for_unlabeled_column(small_ensemble):
    s = small_ensemble
    tr = _fit(s.data)
    t = s.test_idx[:25]
    np.testing.assert_allclose(tr.predict(s.R[:, t]), tr.predict()[t], atol=1e-8)


@pytest.mark.parametrize("solver", ["als", "varpro"])
def test_instances_without_any_prediction_get_the_base_rate(missing_ensemble, solver):
    # A column no classifier scored has a zero factor, a reconstruction of zeros, and the
    # aggregators read that as a confident negative (p ~ 1e-4 under 'auto'): it gets the
    # labeled base rate instead, with a warning, transductively and by fold-in.
    s = missing_ensemble
    R = s.R.copy()
    empty = s.test_idx[:3]
    R[:, empty] = np.nan
    with pytest.warns(UserWarning, match=r"3 instance\(s\) hold no prediction .* base rate"):
        tr = _fit(EnsembleData(R, s.labels), solver=solver)
    rate = np.nanmean(s.labels)
    with pytest.warns(UserWarning, match=r"3 instance\(s\) hold no prediction .* base rate"):
        p = tr.predict()
    np.testing.assert_allclose(p[empty], rate)
    others = np.setdiff1d(np.arange(R.shape[1]), empty)
    assert np.all(p[others] != rate)
    R_new = s.R[:, s.test_idx[:4]].copy()
    R_new[:, 1] = np.nan
    with pytest.warns(UserWarning, match=r"1 instance\(s\) .*columns \[1\]"):
        q = tr.predict(R_new)
    assert q[1] == pytest.approx(rate) and np.all(q[[0, 2, 3]] != rate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where every column has a prediction
        tr.predict(s.R[:, s.test_idx[:4]])


def test_labeled_instances_without_any_prediction_do_not_train_auto(missing_ensemble):
    # Their reconstruction is zeros (logits of -9.2 for every input): 'auto' is fitted on the
    # labeled columns some classifier scored, and only on those.
    from cfensemble.aggregators import fit_auto_aggregator
    from cfensemble.objective import aggregator_features

    s = missing_ensemble
    R = s.R.copy()
    empty, scored = s.labeled_idx[:5], s.labeled_idx[5:]
    R[:, empty] = np.nan
    data = EnsembleData(R, s.labels)
    with pytest.warns(UserWarning, match="do not train the final aggregator"):
        tr = _fit(data, rho=1.0)

    def refit(cols):
        Z = aggregator_features(tr.X_.T @ tr.Y_[:, cols], R[:, cols], "filled")
        patterns = data.observed_patterns()
        return fit_auto_aggregator(Z, s.labels[cols], np.isnan(R[:, cols]), patterns=patterns)

    np.testing.assert_allclose(tr.auto_w_, refit(scored).w)
    assert not np.allclose(tr.auto_w_, refit(s.labeled_idx).w)  # they would have moved it


def test_missing_cells_end_to_end(missing_ensemble):
    s = missing_ensemble
    for solver in ("als", "varpro"):
        tr = _fit(s.data, solver=solver)
        p = tr.predict()
        assert np.isfinite(p).all()
        t = s.test_idx
        assert pr_auc(s.y_true[t], p[t]) > 2 * s.y_true.mean()  # well above chance
        R_new = s.R[:, t[:5]].copy()
        R_new[:, 0] = np.nan
        R_new[0, 0] = 0.7  # a column with a single prediction still folds in
        assert np.isfinite(tr.predict(R_new)).all()


def test_mean_aggregator(small_ensemble):
    tr = _fit(small_ensemble.data, aggregator="mean", aggregator_input="reconstruction")
    np.testing.assert_allclose(tr.predict(), np.clip(tr.reconstruct().mean(axis=0), 1e-6, 1 - 1e-6))


def test_callback_and_convergence_warning(small_ensemble):
    calls = []
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        tr = CFEnsembleTrainer(
            small_ensemble.R.shape[0],
            latent_dim=3,
            max_iter=3,
            tol=0.0,
            callback=lambda it, loss: calls.append((it, loss)),
        ).fit(small_ensemble.data)
    assert [c[0] for c in calls] == [1, 2, 3]
    assert not tr.converged_


def test_converges_with_default_tol(small_ensemble):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        tr = CFEnsembleTrainer(small_ensemble.R.shape[0], latent_dim=3, max_iter=500).fit(
            small_ensemble.data
        )
    assert tr.converged_ and tr.n_iter_ < 500


def test_deterministic(small_ensemble):
    a = _fit(small_ensemble.data).predict()
    b = _fit(small_ensemble.data).predict()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"latent_dim": 0}, ValueError, "latent_dim must be >= 1, got 0"),
        ({"latent_dim": 2.5}, TypeError, "latent_dim must be Integral"),
        ({"rho": 1.5}, ValueError, r"rho must be <= 1.0, got 1.5"),
        ({"rho": -0.1}, ValueError, r"rho must be >= 0.0, got -0.1"),
        ({"lambda_reg": -1}, ValueError, "lambda_reg must be >= 0.0, got -1"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1, got 0"),
        ({"solver": "sgd"}, ValueError, r"solver must be one of \['als', 'varpro'\], got 'sgd'"),
        ({"aggregator": "max"}, ValueError, "aggregator must be one of"),
        ({"confidence": "sure"}, ValueError, "confidence must be one of"),
        ({"solver": "varpro", "aggregator": "mean"}, ValueError, "aggregator must be 'auto'"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        ({"init": "nndsvd"}, ValueError, r"init must be one of \['random', 'svd'\], got 'nndsvd'"),
    ],
)
def test_bad_parameters(kwargs, exc, match, small_ensemble):
    tr = CFEnsembleTrainer(n_classifiers=8, **kwargs)  # stores, checks nothing (scikit-learn)
    with pytest.raises(exc, match=match):
        tr.fit(small_ensemble.data)


def test_predict_on_a_transposed_r_new_says_so(small_ensemble):
    tr = _fit(small_ensemble.data)
    with pytest.raises(ValueError, match=r"got 10; it has 8 columns: pass R_new\.T"):
        tr.predict(small_ensemble.R[:, :10].T)


def test_fit_called_like_a_scikit_learn_estimator_says_what_it_takes(small_ensemble):
    with pytest.raises(TypeError, match=r"fit takes one argument, EnsembleData\(R, labels\)"):
        CFEnsembleTrainer().fit(small_ensemble.R, small_ensemble.labels)


def test_bad_data(small_ensemble):
    s = small_ensemble
    tr = CFEnsembleTrainer(n_classifiers=5, latent_dim=2)
    with pytest.raises(ValueError, match="n_classifiers=5 but R has 8 rows"):
        tr.fit(s.data)
    with pytest.raises(TypeError, match="data must be a cfensemble.data.EnsembleData"):
        CFEnsembleTrainer(n_classifiers=8).fit(s.R)
    one_class = np.where(s.labels == 1, np.nan, s.labels)
    with pytest.raises(ValueError, match=r"both classes .* classes \[0\]"):
        CFEnsembleTrainer(n_classifiers=8, latent_dim=2).fit(EnsembleData(s.R, one_class))


def test_predict_errors(small_ensemble):
    tr = CFEnsembleTrainer(n_classifiers=8, latent_dim=2)
    with pytest.raises(NotFittedError, match="not fitted"):
        tr.predict()
    tr = _fit(small_ensemble.data)
    with pytest.raises(ValueError, match="R_new must have n_classifiers=8 rows .* got 3"):
        tr.predict(np.full((3, 4), 0.5))
    with pytest.raises(ValueError, match=r"R_new must hold probabilities in \[0, 1\]"):
        tr.predict(np.full((8, 4), 2.0))


def test_warnings_point_at_the_callers_line(small_ensemble):
    with pytest.warns(ConvergenceWarning) as record:
        CFEnsembleTrainer(8, latent_dim=2, max_iter=1).fit(small_ensemble.data)
    assert record[0].filename == __file__
