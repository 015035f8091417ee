"""A synthetic ensemble with the structure that makes combining classifiers hard.

Each base classifier u scores instance i with the logit

    l_ui = a_u,g(i) * delta * (2 y_i - 1)   competence that varies by instance subgroup g(i)
         + h_i                              instance hardness shared by every classifier
         + v_u^T f_i                        correlated errors: shared noise factors f_i
         + e_ui                             independent noise

and reports the miscalibrated probability r_ui = sigmoid(t_u l_ui + c_u). Because the
hardness and the shared factors hit every classifier alike, averaging cannot remove them:
mean aggregation stays far from perfect (PR-AUC about 0.4-0.8 at 10% positives by
default), while stacking and CF can learn which classifiers to trust.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from cfensemble._validation import check_scalar
from cfensemble.data import EnsembleData


@dataclass
class SyntheticEnsemble:
    """A generated ensemble.

    Attributes
    ----------
    R : ndarray of shape (m, n), NaN where a prediction is missing
    labels : ndarray of shape (n,), the training labels: 0/1 on labeled columns, NaN elsewhere
    y_true : ndarray of shape (n,), the true class of every instance
    subgroup : ndarray of shape (n,)
    labeled_idx, test_idx : ndarray of int, the labeled (train) and unlabeled (test) columns
    """

    R: np.ndarray
    labels: np.ndarray
    y_true: np.ndarray
    subgroup: np.ndarray
    labeled_idx: np.ndarray
    test_idx: np.ndarray

    @property
    def data(self) -> EnsembleData:
        return EnsembleData(self.R, self.labels)


def _stratified_split(y, labeled_fraction, rng):
    labeled = []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        k = int(round(labeled_fraction * idx.size))
        if 0 < labeled_fraction < 1:
            k = min(max(k, 1), idx.size - 1)  # both sides get each class
        labeled.append(idx[:k])
    labeled = np.sort(np.concatenate(labeled))
    test = np.setdiff1d(np.arange(y.size), labeled)
    return labeled, test


def make_ensemble(
    n_classifiers: int = 15,
    n_instances: int = 5000,
    positive_rate: float = 0.1,
    labeled_fraction: float = 0.5,
    missing_rate: float = 0.0,
    *,
    n_subgroups: int = 3,
    n_noise_factors: int = 3,
    signal: float = 1.5,
    hardness: float = 1.0,
    correlated_noise: float = 1.2,
    independent_noise: float = 0.5,
    miscalibration: float = 1.0,
    competence_range: tuple[float, float] = (0.2, 1.5),
    prior_shift: float = -1.0,
    random_state=None,
) -> SyntheticEnsemble:
    """Generate base-classifier probabilities with correlated errors.

    Parameters
    ----------
    n_classifiers, n_instances : int
    positive_rate : float in (0, 1)
        Fraction of positive instances (exact, rounded; at least 4 positives).
    labeled_fraction : float in [0, 1]
        Fraction of each class that is labeled (stratified).
    missing_rate : float in [0, 1)
        Fraction of cells removed at random (every instance keeps at least one).
    n_subgroups : int
        Instance subgroups; each classifier's competence a_u,g varies across them.
    n_noise_factors : int
        Shared noise factors behind the correlated errors.
    signal, hardness, correlated_noise, independent_noise : float
        Scales of the class signal and the three noise sources (logit units).
    miscalibration : float
        0 gives calibrated-looking scores (t_u = 1, c_u = 0); 1 gives temperatures in
        [0.5, 2] and offsets in [-1, 1].
    random_state : int, RandomState or None

    Returns
    -------
    SyntheticEnsemble

    Examples
    --------
    >>> import numpy as np
    >>> from cfensemble.synthetic import make_ensemble
    >>> s = make_ensemble(n_classifiers=5, n_instances=200, missing_rate=0.2, random_state=0)
    >>> s.R.shape, s.labels.shape
    ((5, 200), (200,))
    >>> round(float(np.isnan(s.R).mean()), 2)  # about missing_rate
    0.2
    >>> s.labeled_idx.size + s.test_idx.size
    200
    """
    check_scalar(n_classifiers, "n_classifiers", kind=numbers.Integral, low=1)
    check_scalar(n_instances, "n_instances", kind=numbers.Integral, low=10)
    check_scalar(
        positive_rate, "positive_rate", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False
    )
    check_scalar(labeled_fraction, "labeled_fraction", low=0.0, high=1.0)
    check_scalar(missing_rate, "missing_rate", low=0.0, high=1.0, high_inclusive=False)
    check_scalar(n_subgroups, "n_subgroups", kind=numbers.Integral, low=1)
    check_scalar(n_noise_factors, "n_noise_factors", kind=numbers.Integral, low=0)
    for name, val in [
        ("signal", signal),
        ("hardness", hardness),
        ("correlated_noise", correlated_noise),
        ("independent_noise", independent_noise),
        ("miscalibration", miscalibration),
    ]:
        check_scalar(val, name, low=0.0)
    rng = check_random_state(random_state)
    m, n = n_classifiers, n_instances

    n_pos = min(max(int(round(positive_rate * n)), 4), n - 4)
    y = np.zeros(n, dtype=np.int64)
    y[rng.choice(n, n_pos, replace=False)] = 1
    group = rng.randint(n_subgroups, size=n)

    # Every classifier sees the same latent score mu_i: the class signal blurred by instance
    # hardness (class overlap no combination can undo), scaled by its competence on the
    # instance's subgroup, plus correlated (shared factors) and independent errors.
    competence = rng.uniform(competence_range[0], competence_range[1], size=(m, n_subgroups))
    mu = signal * (2 * y - 1) + hardness * rng.standard_normal(n)
    F = rng.standard_normal((n_noise_factors, n))
    V = (
        np.abs(rng.standard_normal((m, n_noise_factors)))
        * correlated_noise
        / np.sqrt(max(n_noise_factors, 1))
    )
    logits = (
        competence[:, group] * mu[None, :] + V @ F + independent_noise * rng.standard_normal((m, n))
    )
    temp = np.exp(miscalibration * rng.uniform(np.log(0.5), np.log(2.0), size=m))
    offset = miscalibration * rng.uniform(-1.0, 1.0, size=m)
    R = 1.0 / (1.0 + np.exp(-(temp[:, None] * logits + offset[:, None] + prior_shift)))

    if missing_rate > 0:
        drop = rng.random_sample((m, n)) < missing_rate
        empty = drop.all(axis=0)
        keep = rng.randint(m, size=empty.sum())
        drop[keep, np.flatnonzero(empty)] = False
        R[drop] = np.nan

    labeled_idx, test_idx = _stratified_split(y, labeled_fraction, rng)
    labels = np.full(n, np.nan)
    labels[labeled_idx] = y[labeled_idx]
    return SyntheticEnsemble(R, labels, y, group, labeled_idx, test_idx)
