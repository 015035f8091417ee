import numpy as np
import pytest

from cfensemble.synthetic import apply_missingness, make_ensemble


@pytest.fixture(scope="module")
def full():
    return make_ensemble(n_classifiers=8, n_instances=1000, random_state=0)


def test_random_removes_the_rate_and_keeps_every_instance(full):
    R = apply_missingness(full.R, 0.3, random_state=0)
    assert np.isnan(R).mean() == pytest.approx(0.3, abs=0.01)
    assert (~np.isnan(R)).sum(axis=0).min() >= 1
    assert np.array_equal(R[~np.isnan(R)], full.R[~np.isnan(R)])


def test_block_removes_one_group_for_a_share_of_instances(full):
    R = apply_missingness(full.R, 0.25, mode="block", group_share=0.5, random_state=0)
    miss = np.isnan(R)
    rows = np.flatnonzero(miss.any(axis=1))
    cols = np.flatnonzero(miss.any(axis=0))
    assert rows.size == 4  # half of the 8 classifiers
    assert cols.size == 500  # absent for half the instances
    assert miss[np.ix_(rows, cols)].all()  # all together: a modality
    given = apply_missingness(full.R, 0.25, mode="block", group=[0, 1], random_state=0)
    assert set(np.flatnonzero(np.isnan(given).any(axis=1))) == {0, 1}


def test_informative_uncertainty_removes_unsure_cells_more(full):
    R = apply_missingness(full.R, 0.3, mode="informative", random_state=0)
    miss = np.isnan(R)
    assert miss.mean() == pytest.approx(0.3, abs=0.01)
    certainty = np.abs(2 * full.R - 1)
    assert certainty[miss].mean() < certainty[~miss].mean() - 0.1


def test_informative_class_removes_positives_more(full):
    y = full.y_true
    R = apply_missingness(
        full.R, 0.2, mode="informative", informative="class", y=y, class_ratio=3.0, random_state=0
    )
    miss = np.isnan(R)
    assert miss[:, y == 1].mean() > 2.0 * miss[:, y == 0].mean()
    with pytest.raises(ValueError, match="needs y"):
        apply_missingness(full.R, 0.2, mode="informative", informative="class")


def test_missingness_validates(full):
    with pytest.raises(ValueError, match="mode"):
        apply_missingness(full.R, 0.2, mode="sometimes")
    with pytest.raises(ValueError, match="group"):
        apply_missingness(full.R, 0.2, mode="block", group=[9])
    assert np.array_equal(apply_missingness(full.R, 0.0), full.R)


def test_generator_and_dataset_helper_take_the_modes():
    from cfensemble.datasets import remove_predictions

    s = make_ensemble(
        n_classifiers=8, n_instances=600, missing_rate=0.25, missing_mode="block", random_state=0
    )
    miss = np.isnan(s.R)
    assert np.flatnonzero(miss.any(axis=1)).size == 4  # one group of half the classifiers
    full = make_ensemble(n_classifiers=8, n_instances=600, random_state=0)
    R = remove_predictions(full.R, 0.3, mode="informative", random_state=0)
    assert np.isnan(R).mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="missing_mode"):
        make_ensemble(n_instances=100, missing_rate=0.1, missing_mode="often")
