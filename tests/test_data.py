import warnings

import numpy as np
import pytest

from cfensemble.data import EnsembleData

R_OK = np.array([[0.1, 0.9, 0.5], [0.2, np.nan, 0.7]])


def test_attributes():
    d = EnsembleData(R_OK, [0, 1, np.nan])
    assert (d.n_classifiers, d.n_instances) == (2, 3)
    assert d.observed.tolist() == [[True, True, True], [True, False, True]]
    assert d.labeled_idx.tolist() == [0, 1]
    assert d.unlabeled_idx.tolist() == [2]
    assert d.y_labeled.tolist() == [0, 1]
    assert d.R_filled()[1, 1] == 0.0
    assert d.missing_rate == pytest.approx(1 / 6)
    assert "n_labeled=2" in repr(d)


def test_labels_none_means_all_unlabeled():
    d = EnsembleData(R_OK)
    assert d.n_labeled == 0


def test_user_confidence_zeroed_on_missing_cells():
    d = EnsembleData(R_OK, None, C=np.full((2, 3), 2.0))
    assert d.C[1, 1] == 0.0 and d.C[0, 0] == 2.0


@pytest.mark.parametrize(
    "R, labels, C, exc, match",
    [
        (np.array([0.1, 0.2]), None, None, ValueError, "R must be 2-D"),
        (np.zeros((0, 3)), None, None, ValueError, "R must not be empty"),
        ([["a", "b"]], None, None, TypeError, "R must be a 2-D array of numbers"),
        (np.array([[0.1, 1.2]]), None, None, ValueError, r"R must hold probabilities in \[0, 1\]"),
        (np.array([[0.1, -0.2]]), None, None, ValueError, r"got values in \[-0.2"),
        (np.array([[0.1, np.inf]]), None, None, ValueError, "R must not contain infinite"),
        (R_OK, [0, 1], None, ValueError, "expected length 3, got 2"),
        # as many labels as R has rows: R was probably given instances x classifiers
        (R_OK, [0, 1], None, ValueError, r"R has 2 rows, as many as labels.*pass R\.T"),
        (R_OK, [0, 1, 2], None, ValueError, r"labels must hold 0, 1 or NaN.*\[2.0\]"),
        (R_OK, [[0, 1, 1]], None, ValueError, "labels must be 1-D"),
        (R_OK, ["x", "y", "z"], None, TypeError, "labels must be numbers"),
        (R_OK, None, np.ones((3, 2)), ValueError, r"C must have the shape of R \(2, 3\)"),
        (R_OK, None, -np.ones((2, 3)), ValueError, "C must be non-negative"),
        (R_OK, None, np.full((2, 3), np.nan), ValueError, "C must not contain NaN"),
        (R_OK, None, np.full((2, 3), np.inf), ValueError, "C must not contain infinite"),
    ],
)
def test_bad_input(R, labels, C, exc, match):
    with pytest.raises(exc, match=match):
        EnsembleData(R, labels, C)


def test_more_classifiers_than_instances_warns_that_r_may_be_transposed():
    R = np.random.RandomState(0).uniform(size=(6, 4))  # 6 instances x 4 classifiers, as given
    with pytest.warns(UserWarning, match=r"R has 6 rows .* and 4 columns .*pass R\.T"):
        EnsembleData(R)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EnsembleData(R.T)  # (4 classifiers, 6 instances): no warning


def test_text_in_R_and_one_dimensional_R_new_are_named():
    import pandas as pd

    from cfensemble.exceptions import InputTypeError, InvalidInputError
    from cfensemble.optimization import CFEnsembleTrainer
    from cfensemble.synthetic import make_ensemble

    df = pd.DataFrame({"id": ["a", "b", "c"], "c1": [0.1, 0.2, 0.3], "c2": [0.3, 0.4, 0.5]})
    with pytest.raises(InputTypeError, match=r"row\(s\) \[0\] hold text, ids or names"):
        EnsembleData(df.T)
    s = make_ensemble(n_classifiers=5, n_instances=200, random_state=0)
    tr = CFEnsembleTrainer(latent_dim=2, random_state=0).fit(EnsembleData(s.R, s.labels))
    with pytest.raises(InvalidInputError, match=r"R_new.reshape\(-1, 1\)"):
        tr.predict(s.R[:, 0])
