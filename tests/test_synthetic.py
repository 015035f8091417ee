import numpy as np
import pytest

from cfensemble.baselines import mean_aggregation
from cfensemble.metrics import pr_auc
from cfensemble.synthetic import make_ensemble


def test_shapes_and_split():
    s = make_ensemble(n_classifiers=6, n_instances=500, positive_rate=0.1, random_state=0)
    assert s.R.shape == (6, 500)
    assert s.y_true.sum() == 50
    assert np.isnan(s.labels[s.test_idx]).all()
    assert np.array_equal(s.labels[s.labeled_idx], s.y_true[s.labeled_idx])
    assert set(np.unique(s.y_true[s.test_idx])) == {0, 1}
    assert ((s.R > 0) & (s.R < 1)).all()


def test_deterministic():
    a = make_ensemble(n_instances=300, random_state=3)
    b = make_ensemble(n_instances=300, random_state=3)
    assert np.array_equal(a.R, b.R) and np.array_equal(a.y_true, b.y_true)


def test_missing_rate_and_no_empty_column():
    s = make_ensemble(n_instances=2000, missing_rate=0.3, random_state=0)
    assert np.isnan(s.R).mean() == pytest.approx(0.3, abs=0.02)
    assert (~np.isnan(s.R)).sum(axis=0).min() >= 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_is_not_saturated(seed):
    # The bar: mean aggregation's PR-AUC between 0.3 and 0.85 at 10% positives.
    s = make_ensemble(random_state=seed)
    score = pr_auc(s.y_true, mean_aggregation(s.R))
    assert 0.3 < score < 0.85


def _mean_abs_error_correlation(s):
    # Correlation across classifiers of the logits within each (class, subgroup) cell,
    # which removes the signal and leaves the errors.
    logit = np.log(s.R) - np.log1p(-s.R)
    resid = logit.copy()
    for cls in (0, 1):
        for g in np.unique(s.subgroup):
            cell = (s.y_true == cls) & (s.subgroup == g)
            resid[:, cell] -= logit[:, cell].mean(axis=1, keepdims=True)
    corr = np.corrcoef(resid)
    return np.abs(corr[np.triu_indices_from(corr, 1)]).mean()


def test_errors_are_correlated():
    shared = make_ensemble(n_instances=3000, random_state=0)
    independent = make_ensemble(
        n_instances=3000, hardness=0.0, correlated_noise=0.0, random_state=0
    )
    assert _mean_abs_error_correlation(independent) < 0.05
    assert _mean_abs_error_correlation(shared) > 0.15


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"positive_rate": 1.5}, "positive_rate must be < 1"),
        ({"missing_rate": 1.0}, "missing_rate must be < 1"),
        ({"n_classifiers": 0}, "n_classifiers must be >= 1"),
        ({"labeled_fraction": -0.1}, "labeled_fraction must be >= 0"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ensemble(**kwargs)
