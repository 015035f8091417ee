"""The library's defaults (issue 12): rank 'auto', aggregator 'auto', solver-dependent rho."""

import numpy as np
import pytest

from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.data import EnsembleData
from cfensemble.objective import aggregator_features
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.patterns import observed_patterns, pattern_index
from cfensemble.synthetic import apply_missingness, make_ensemble


@pytest.fixture(scope="module")
def ens():
    return make_ensemble(n_classifiers=8, n_instances=600, missing_rate=0.3, random_state=2)


@pytest.fixture(scope="module")
def fitted(ens):
    return CFEnsembleTrainer(8, random_state=0).fit(ens.data)


def test_defaults_choose_the_rank_below_m(fitted):
    tr = fitted
    assert tr.latent_dim == "auto" and tr.aggregator == "auto"
    assert tr.rho is None and tr.rho_ == 1.0  # None: the solver's default, resolved in fit
    assert 2 <= tr.latent_dim_ <= 7 and tr.X_.shape[0] == tr.latent_dim_
    assert tr.rank_candidates_[0] == 2 and tr.rank_errors_.shape == tr.rank_candidates_.shape
    assert CFEnsembleTrainer(8, solver="varpro")._rho() == 1.0
    assert CFEnsembleTrainer(8, latent_dim=3).fit(fitted_data(fitted)).latent_dim_ == 3


def test_default_als_factors_read_no_label(ens):
    # rho = 1 (every solver's default): ALS's label-aware confidence is off, so the factors
    # (and the rank) are made the same way for labeled and unlabeled columns; only the
    # aggregator reads labels. Flipping every label leaves X and Y unchanged.
    labels = ens.labels.copy()
    lab = ~np.isnan(labels)
    flipped = labels.copy()
    flipped[lab] = 1.0 - labels[lab]
    a = CFEnsembleTrainer(8, random_state=0).fit(EnsembleData(ens.R, labels))
    b = CFEnsembleTrainer(8, random_state=0).fit(EnsembleData(ens.R, flipped))
    assert a.latent_dim_ == b.latent_dim_
    np.testing.assert_array_equal(a.X_, b.X_)
    np.testing.assert_array_equal(a.Y_, b.Y_)
    assert not np.allclose(a.predict(), b.predict())
    # At rho = 0.5 the labels shape the labeled columns' confidence, hence the factors.
    c = CFEnsembleTrainer(8, rho=0.5, random_state=0).fit(EnsembleData(ens.R, labels))
    d = CFEnsembleTrainer(8, rho=0.5, random_state=0).fit(EnsembleData(ens.R, flipped))
    assert not np.allclose(c.Y_, d.Y_)


def fitted_data(tr):
    return EnsembleData(tr._fit_R, tr._fit_labels)


def test_auto_is_the_documented_blend_of_labeled_columns_only(ens, fitted):
    tr = fitted
    lab = ens.labeled_idx
    Z_all = aggregator_features(tr.reconstruct(), ens.R, "filled")
    miss = np.isnan(ens.R)
    # The patterns of every column (no label read), the models fitted on the labeled ones.
    patterns = observed_patterns(~miss)
    parts = fit_auto_aggregator(Z_all[:, lab], ens.labels[lab], miss[:, lab], patterns=patterns)
    # logits and missing-cell indicators, for all classifiers and per pattern
    assert parts.w.shape == (16,) and parts.pattern_w.shape == (len(patterns), 16)
    assert len(patterns) > 20  # 30% of 8 cells missing at random: many observed sets
    np.testing.assert_allclose(tr.predict(), predict_auto(Z_all, parts, ens.R), rtol=0, atol=1e-8)
    np.testing.assert_array_equal(tr.auto_patterns_, patterns)
    assert parts.mix == 1.0  # 30 labeled positives: more than 20
    p = tr.predict()
    assert np.all((p >= 0) & (p <= 1))


def test_observed_patterns_most_frequent_first_without_complete_or_empty():
    obs = np.array(
        [
            [1, 1, 1, 0, 0, 0, 1, 0],
            [1, 0, 0, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 1, 0, 0],
        ],
        dtype=bool,
    )
    # Columns (observed sets): complete x1, {0,2} x2, {1,2} x3, {0,1} x1, empty x1.
    pats = observed_patterns(obs)
    np.testing.assert_array_equal(pats, [[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(observed_patterns(obs, max_patterns=1), [[0, 1, 1]])
    np.testing.assert_array_equal(pattern_index(obs, pats), [-1, 1, 1, 0, 0, 0, 2, -1])
    assert observed_patterns(np.ones((3, 5), dtype=bool)).shape == (0, 3)
    assert observed_patterns(np.ones((9, 0), dtype=bool)).shape == (0, 9)
    # More than 8 classifiers: patterns span two packed bytes.
    wide = np.ones((10, 4), dtype=bool)
    wide[9, :2] = False
    np.testing.assert_array_equal(pattern_index(wide, observed_patterns(wide)), [0, 0, -1, -1])


@pytest.mark.parametrize("m", [1, 8, 9, 15, 64, 65])
def test_unique_rows_is_numpy_unique_by_rows(m):
    # The fast path (one big-endian integer per row of <= 8 bytes) keeps np.unique's
    # output and order, on which the choice among tied patterns depends.
    from cfensemble.patterns import packed_columns, unique_rows

    obs = np.random.RandomState(m).uniform(size=(m, 3000)) < 0.8
    obs[:, :500] = obs[:, :1]  # one frequent pattern
    P = packed_columns(obs)
    want = np.unique(P, axis=0, return_inverse=True, return_counts=True)
    got = unique_rows(P, return_inverse=True, return_counts=True)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(unique_rows(P), want[0])


def test_auto_stacking_fits_on_a_capped_subsample_of_the_labeled_columns():
    from cfensemble.aggregators import stacking_subsample
    from cfensemble.exceptions import InvalidParameterError

    s = make_ensemble(n_classifiers=6, n_instances=3000, positive_rate=0.05, random_state=5)
    R = apply_missingness(s.R, 0.2, mode="block", random_state=0)
    miss = np.isnan(R)
    Z = np.where(miss, 0.5, R)
    lab = s.labeled_idx
    y = s.labels[lab]
    pats = observed_patterns(~miss)
    keep = stacking_subsample(y, 400)
    # Every labeled positive (fewer than half the cap), the rest negatives; sorted, unique.
    assert keep.size == 400 and np.all(np.diff(keep) > 0)
    assert y[keep].sum() == y.sum() < 200
    assert stacking_subsample(y, y.size) is None
    capped = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=pats, max_columns=400)
    sub = fit_auto_aggregator(Z[:, lab][:, keep], y[keep], miss[:, lab][:, keep], patterns=pats)
    np.testing.assert_allclose(capped.w, sub.w, atol=1e-8)
    np.testing.assert_allclose(capped.pattern_w, sub.pattern_w, atol=1e-8)
    # The ramp counts every labeled column; the single classifier is chosen on the
    # subsample by PR-AUC with each class weighted back to its share of all of them
    # (here all positives are kept, so the negatives weigh n_neg / k_neg).
    from cfensemble.metrics import pr_auc

    full = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=pats)
    assert capped.mix == full.mix
    n_neg = y.size - y.sum()
    sw = np.where(y[keep] == 1, 1.0, n_neg / (keep.size - y.sum()))
    Zk = np.clip(Z[:, lab][:, keep], 0, 1)
    want = np.argmax([pr_auc(y[keep], Zk[u], sample_weight=sw) for u in range(6)])
    assert capped.single == want == full.single
    # A common class: at most half the cap from it.
    y2 = (np.arange(y.size) % 3 == 0).astype(float)
    assert y2[stacking_subsample(y2, 400)].sum() == 200
    with pytest.raises(InvalidParameterError, match="max_columns"):
        fit_auto_aggregator(Z[:, lab], y, miss[:, lab], max_columns=1)


def test_auto_stacking_is_a_reduced_feature_model_per_pattern():
    # Block missingness: classifiers 0-2 absent for a third of the instances. Their
    # stacking model is logistic regression on the logits of classifiers 3-5 and the
    # missing-cell indicators, fitted on every labeled column; the filled values of their
    # missing cells cannot move it.
    s = make_ensemble(n_classifiers=6, n_instances=600, random_state=4, labeled_fraction=0.5)
    R = s.R.copy()
    R[:3, 400:] = np.nan
    miss = np.isnan(R)
    rng = np.random.RandomState(0)
    Z = np.where(miss, rng.uniform(size=R.shape), R)  # any fill
    lab = s.labeled_idx
    y = s.labels[lab]
    agg = fit_auto_aggregator(Z[:, lab], y, miss[:, lab], patterns=observed_patterns(~miss))
    np.testing.assert_array_equal(agg.patterns, [[0, 0, 0, 1, 1, 1]])
    assert agg.w.shape == (12,) and np.all(agg.pattern_w[0, :3] == 0)
    from cfensemble.aggregators import AUTO_L2, fit_weighted_logistic, logit_features
    from cfensemble.objective import class_weights, sigmoid

    F = np.vstack([logit_features(Z[3:, lab]), miss[:, lab]])
    w, b = fit_weighted_logistic(F, y, class_weights(y), l2=AUTO_L2)
    np.testing.assert_allclose(agg.pattern_w[0, 3:], w, atol=1e-8)
    np.testing.assert_allclose(agg.pattern_b[0], b, atol=1e-8)
    p = predict_auto(Z, agg, R)
    Z2 = Z.copy()
    other = [u for u in range(3) if u != agg.single]
    Z2[other, 400:] = rng.uniform(size=(len(other), 200))  # another fill of the missing cells
    np.testing.assert_allclose(predict_auto(Z2, agg, R)[400:], p[400:], atol=1e-12)
    # A pattern the fit never saw: the model of all classifiers on the fill, with the
    # column's indicators.
    R3 = R.copy()
    R3[4, :5] = np.nan
    F3 = np.vstack([logit_features(Z[:, :5]), np.isnan(R3[:, :5])])
    full = sigmoid(agg.w @ F3 + agg.b)
    mean = np.nanmean(R3[:, :5], axis=0)
    t = agg.mix
    expected = (1 - 2 * t / 3) * mean + t / 3 * (full + Z[agg.single, :5])
    np.testing.assert_allclose(predict_auto(Z, agg, R3)[:5], expected, atol=1e-12)


def test_auto_never_uses_test_labels(ens):
    # The same R and labeled columns, the unlabeled columns' true classes changed: the
    # fitted model and its predictions cannot change.
    other = ens.y_true.copy()
    other[ens.test_idx] = 1 - other[ens.test_idx]
    a = CFEnsembleTrainer(8, random_state=0).fit(EnsembleData(ens.R, ens.labels))
    labels = np.where(np.isin(np.arange(other.size), ens.labeled_idx), other, np.nan)
    b = CFEnsembleTrainer(8, random_state=0).fit(EnsembleData(ens.R, labels))
    np.testing.assert_array_equal(a.predict(), b.predict())
    # ... while the labeled columns' labels do move it.
    flipped = labels.copy()
    flipped[ens.labeled_idx[:40]] = 1 - flipped[ens.labeled_idx[:40]]
    c = CFEnsembleTrainer(8, random_state=0).fit(EnsembleData(ens.R, flipped))
    assert np.abs(c.predict() - a.predict()).max() > 1e-3


def test_label_scarce_auto_moves_to_the_mean():
    rng = np.random.RandomState(0)
    Z = rng.uniform(size=(6, 300))
    y = np.zeros(300)
    for n_pos, mix in ((40, 1.0), (10, 0.5), (2, 0.1), (0, 0.0)):
        y[:] = 0
        y[:n_pos] = 1
        parts = fit_auto_aggregator(Z, y)
        assert parts.mix == pytest.approx(mix)
    # No positive at all: exactly the mean.
    np.testing.assert_allclose(predict_auto(Z, parts), Z.mean(axis=0))
    # ... of the observed cells when R is given.
    R = np.where(rng.uniform(size=Z.shape) < 0.3, np.nan, Z)
    np.testing.assert_allclose(predict_auto(Z, parts, R), np.nanmean(R, axis=0))
    s = make_ensemble(
        n_classifiers=6, n_instances=400, positive_rate=0.05, random_state=0, labeled_fraction=0.1
    )
    tr = CFEnsembleTrainer(6, random_state=0).fit(s.data)  # one or two labeled positives
    assert tr.auto_mix_ < 0.2 and np.isfinite(tr.predict()).all()


def test_shrinkage_aggregator_in_the_trainer(ens):
    tr = CFEnsembleTrainer(8, aggregator="shrinkage", random_state=0).fit(ens.data)
    assert tr.shrinkage_ > 0 and tr.w_.shape == (8,)
    p = tr.predict()
    assert p.shape == (600,) and np.all((p > 0) & (p < 1))


def test_varpro_default_is_not_worse_than_als_on_missing_cells():
    # The varpro fix: rho defaults to 1 for varpro (at rho=0.5 its supervised term overfit
    # X through the missing cells). Block missingness, same data for both solvers.
    from cfensemble.metrics import pr_auc

    s = make_ensemble(n_classifiers=8, n_instances=1500, random_state=3)
    R = apply_missingness(s.R, 0.25, mode="block", random_state=0)
    data = EnsembleData(R, s.labels)
    scores = {
        solver: pr_auc(
            s.y_true[s.test_idx],
            CFEnsembleTrainer(8, solver=solver, random_state=0).fit(data).predict()[s.test_idx],
        )
        for solver in ("als", "varpro")
    }
    assert scores["varpro"] >= scores["als"] - 0.01


def test_auto_model_survives_save_and_load(ens, fitted, tmp_path):
    path = fitted.save(tmp_path / "auto.cfe")
    back = CFEnsembleTrainer.load(path)
    assert back.latent_dim == "auto" and back.latent_dim_ == fitted.latent_dim_
    np.testing.assert_allclose(back.predict(ens.R[:, :50]), fitted.predict(ens.R[:, :50]))


def test_auto_patterns_must_fit_the_inputs():
    rng = np.random.RandomState(0)
    Z = rng.uniform(size=(5, 50))
    y = (rng.uniform(size=50) < 0.5).astype(float)
    with pytest.raises(ValueError, match="Z has 5 rows, expected a multiple of the 3"):
        fit_auto_aggregator(Z, y, patterns=np.array([[True, False, True]]))
    # Two inputs per classifier ('both'): a pattern covers both of a classifier's rows.
    miss = np.zeros((3, 50), dtype=bool)
    miss[1, :10] = True
    agg = fit_auto_aggregator(np.vstack([Z[:3], Z[:3]]), y, miss, patterns=[[True, False, True]])
    # 6 inputs, then 3 indicators; the pattern's model leaves out classifier 1's two inputs
    assert agg.pattern_w.shape == (1, 9) and np.all(agg.pattern_w[0, [1, 4]] == 0)
    assert agg.pattern_w[0, 7] != 0  # classifier 1's indicator (the others never vary)
