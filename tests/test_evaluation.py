"""Repeated-CV evaluation on shared folds and R; paired comparison."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier

from cfensemble.baselines import BASELINES
from cfensemble.evaluation import (
    cf_method,
    cross_validate_predictions,
    fold_matrix,
    paired_comparison,
    repeated_cv,
)
from cfensemble.exceptions import InvalidInputError


def pool():
    return [
        ("lr", LogisticRegression(max_iter=500)),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


@pytest.fixture(scope="module")
def data():
    return make_classification(
        n_samples=200, n_features=6, n_informative=4, weights=[0.8], random_state=1
    )


def test_fold_matrix(data):
    X, y = data
    train, test = np.arange(150), np.arange(150, 200)
    R, labels = fold_matrix(X, y, train, test, estimators=pool(), inner_cv=3, random_state=0)
    assert R.shape == (3, 200)
    np.testing.assert_array_equal(labels[:150], y[:150])
    assert np.isnan(labels[150:]).all()
    # Test columns come from the pool refitted on the training rows.
    lr = LogisticRegression(max_iter=500).fit(X[train], y[train])
    np.testing.assert_allclose(R[0, 150:], lr.predict_proba(X[test])[:, 1])


def test_repeated_cv_shares_folds_and_R(data, tmp_path):
    X, y = data
    calls = []

    def spy(R, labels):
        calls.append((R.copy(), labels.copy()))
        return BASELINES["mean"](R, labels)

    methods = {"spy": spy, "also": spy, "cf_varpro": cf_method("varpro", random_state=0)}
    kw = dict(
        estimators=pool(),
        methods=methods,
        n_splits=3,
        n_repeats=1,
        inner_cv=2,
        missing_rates=(0.0, 0.3),
        cache_dir=tmp_path,
        cache_key="t",
    )
    df = repeated_cv(X, y, **kw)
    assert set(df.columns) >= {"repeat", "fold", "missing_rate", "method", "score"}
    assert len(df) == 3 * 2 * 3
    # Both methods saw the identical matrix in every (fold, missing rate).
    for k in range(0, len(calls), 2):
        np.testing.assert_array_equal(calls[k][0], calls[k + 1][0])
    assert np.isnan(calls[2][0]).mean() > 0.2  # the 30%-missing version of fold 0
    assert len(list(tmp_path.glob("t_*.npz"))) == 3
    # A second run reads the cached R and gives the same scores.
    df2 = repeated_cv(X, y, **kw)
    pd.testing.assert_frame_equal(df.drop(columns="seconds"), df2.drop(columns="seconds"))
    assert (df[df.method == "cf_varpro"]["score"] > y.mean()).all()


def test_repeated_cv_runs_a_subset_of_repeats(data):
    """A run split by repeat scores the folds of the full run (the benchmark grows so)."""
    X, y = data
    kw = dict(
        estimators=pool(),
        methods={"mean": BASELINES["mean"]},
        n_splits=3,
        n_repeats=2,
        inner_cv=2,
        missing_rates=(0.3,),
    )
    full = repeated_cv(X, y, **kw).drop(columns="seconds")
    second = repeated_cv(X, y, repeats=[1], **kw).drop(columns="seconds")
    assert set(second["repeat"]) == {1}
    pd.testing.assert_frame_equal(
        second.reset_index(drop=True), full[full.repeat == 1].reset_index(drop=True)
    )
    with pytest.raises(InvalidInputError, match=r"repeats must be .* \[0, 1\]"):
        repeated_cv(X, y, repeats=[2], **kw)


def test_paired_comparison():
    rows = []
    for fold in range(8):
        rows.append(dict(repeat=0, fold=fold, missing_rate=0.0, method="a", score=0.5 + fold))
        rows.append(dict(repeat=0, fold=fold, missing_rate=0.0, method="b", score=0.4 + fold))
    rows[-1]["score"] = rows[-2]["score"]  # one tie
    r = paired_comparison(pd.DataFrame(rows), "a", "b")
    assert (r["n"], r["wins"], r["ties"], r["losses"]) == (8, 7, 1, 0)
    assert r["mean_diff"] == pytest.approx(0.7 / 8)
    assert 0 < r["p_value"] < 0.05
    same = paired_comparison(pd.DataFrame(rows), "a", "a")
    assert same["ties"] == 8 and np.isnan(same["p_value"])


def test_cross_validate_predictions_hides_each_fold_and_scores_it():
    from cfensemble.metrics import pr_auc
    from cfensemble.synthetic import make_ensemble

    s = make_ensemble(n_classifiers=5, n_instances=300, missing_rate=0.2, random_state=0)
    labels = s.labels.copy()  # half NaN: never scored, never revealed
    seen = []

    def spy(R, fold_labels):
        seen.append(fold_labels.copy())
        return BASELINES["mean"](R, fold_labels)

    df = cross_validate_predictions(
        s.R, labels, {"spy": spy, "cf": cf_method("als", random_state=0)}, n_splits=3, n_repeats=2
    )
    assert len(df) == 3 * 2 * 2 and set(df["method"]) == {"spy", "cf"}
    lab = ~np.isnan(labels)
    hidden_total = np.zeros(labels.size, dtype=int)
    for k, fold_labels in enumerate(seen):
        hidden = lab & np.isnan(fold_labels)
        assert np.isnan(fold_labels[~lab]).all()  # the unlabeled stay unlabeled
        np.testing.assert_array_equal(fold_labels[lab & ~hidden], labels[lab & ~hidden])
        hidden_total += hidden
        score = pr_auc(labels[hidden], BASELINES["mean"](s.R, fold_labels)[hidden])
        assert df[df.method == "spy"]["score"].iloc[k] == pytest.approx(score)
    np.testing.assert_array_equal(hidden_total[lab], 2)  # each labeled instance once a repeat
    assert (df[df.method == "cf"]["score"] > labels[lab].mean()).all()
    few = labels.copy()
    few[np.flatnonzero(few == 1)[2:]] = 0
    with pytest.raises(InvalidInputError, match="3-fold CV needs at least 3 labeled"):
        cross_validate_predictions(s.R, few, {"spy": spy}, n_splits=3)
