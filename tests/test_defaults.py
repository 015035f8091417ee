"""The library's defaults (issue 12): rank 'auto', aggregator 'auto', solver-dependent rho."""

import numpy as np
import pytest

from cfensemble.aggregators import fit_auto_aggregator, predict_auto
from cfensemble.data import EnsembleData
from cfensemble.objective import aggregator_features
from cfensemble.optimization import CFEnsembleTrainer
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
    assert tr.rho is None and tr.rho_ == 0.5  # None: the solver's default, resolved in fit
    assert 2 <= tr.latent_dim_ <= 7 and tr.X_.shape[0] == tr.latent_dim_
    assert tr.rank_candidates_[0] == 2 and tr.rank_errors_.shape == tr.rank_candidates_.shape
    assert CFEnsembleTrainer(8, solver="varpro")._rho() == 1.0
    assert CFEnsembleTrainer(8, latent_dim=3).fit(fitted_data(fitted)).latent_dim_ == 3


def fitted_data(tr):
    return EnsembleData(tr._fit_R, tr._fit_labels)


def test_auto_is_the_documented_blend_of_labeled_columns_only(ens, fitted):
    tr = fitted
    lab = ens.labeled_idx
    Z_all = aggregator_features(tr.reconstruct(), ens.R, "filled")
    miss = np.isnan(ens.R)
    parts = fit_auto_aggregator(Z_all[:, lab], ens.labels[lab], miss[:, lab])
    assert parts.w.shape == (16,)  # logits and missing-cell indicators
    np.testing.assert_allclose(tr.predict(), predict_auto(Z_all, *parts, ens.R), rtol=0, atol=1e-8)
    assert parts.mix == 1.0  # 30 labeled positives: more than 20
    p = tr.predict()
    assert np.all((p >= 0) & (p <= 1))


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
    np.testing.assert_allclose(predict_auto(Z, *parts), Z.mean(axis=0))
    # ... of the observed cells when R is given.
    R = np.where(rng.uniform(size=Z.shape) < 0.3, np.nan, Z)
    np.testing.assert_allclose(predict_auto(Z, *parts, R), np.nanmean(R, axis=0))
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
