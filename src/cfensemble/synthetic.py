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

from cfensemble._validation import check_option, check_scalar
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InvalidInputError, InvalidParameterError


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
    missing_mode: str = "random",
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
        Fraction of cells removed (every instance keeps at least one).
    missing_mode : {'random', 'block', 'informative'}, default='random'
        How they are removed (:func:`apply_missingness`; 'informative' makes a classifier
        abstain more often where it is unsure).
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
    check_option(missing_mode, "missing_mode", MISSING_MODES)
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

    if missing_rate > 0 and missing_mode == "random":
        # (kept as it was: the same seed gives the same ensemble as before)
        drop = rng.random_sample((m, n)) < missing_rate
        empty = drop.all(axis=0)
        keep = rng.randint(m, size=empty.sum())
        drop[keep, np.flatnonzero(empty)] = False
        R[drop] = np.nan
    elif missing_rate > 0:
        R = apply_missingness(R, missing_rate, mode=missing_mode, random_state=rng)

    labeled_idx, test_idx = _stratified_split(y, labeled_fraction, rng)
    labels = np.full(n, np.nan)
    labels[labeled_idx] = y[labeled_idx]
    return SyntheticEnsemble(R, labels, y, group, labeled_idx, test_idx)


MISSING_MODES = ("random", "block", "informative")
INFORMATIVE_KINDS = ("uncertainty", "class")


def apply_missingness(
    R,
    rate: float,
    *,
    mode: str = "random",
    group_share: float = 0.5,
    group=None,
    informative: str = "uncertainty",
    y=None,
    class_ratio: float = 3.0,
    random_state=None,
) -> np.ndarray:
    """A copy of R with predictions removed the way real ensembles lose them.

    Parameters
    ----------
    R : array-like of shape (m, n), NaN where already missing
    rate : float in [0, 1)
        Target share of the observed cells to remove.
    mode : {'random', 'block', 'informative'}, default='random'
        'random': cells uniformly at random. 'block': a group of classifiers (those of one
        modality) is absent, all together, for a random share of the instances (that share
        is rate / group share, so the removed fraction is about ``rate``). 'informative':
        cells drawn with probabilities that depend on the instance: with
        ``informative='uncertainty'`` a classifier abstains more often where it is unsure,
        weight 1 - |2 r_ui - 1| + 0.05 (a score of 0.5 is 21 times likelier to be missing
        than a score of 0 or 1); with ``informative='class'`` cells of positive instances
        are ``class_ratio`` times likelier to be missing (needs ``y``).
    group_share : float in (0, 1), default=0.5
        'block': share of the classifiers in the absent group (drawn at random).
    group : sequence of int, optional
        'block': the absent group's row indices (overrides ``group_share``).
    informative : {'uncertainty', 'class'}, default='uncertainty'
    y : array-like of shape (n,), 0/1, optional
        True classes, for ``informative='class'``.
    class_ratio : float > 0, default=3.0
    random_state : int, RandomState or None

    Every instance keeps at least one observed prediction (an instance nobody scored is not
    a prediction problem), so the removed fraction can fall slightly short of ``rate``.

    Returns
    -------
    ndarray of shape (m, n)
    """
    check_scalar(rate, "rate", low=0.0, high=1.0, high_inclusive=False)
    check_option(mode, "mode", MISSING_MODES)
    check_option(informative, "informative", INFORMATIVE_KINDS)
    check_scalar(group_share, "group_share", low=0.0, high=1.0, low_inclusive=False)
    check_scalar(class_ratio, "class_ratio", low=0.0, low_inclusive=False)
    R, observed = observed_copy(R)
    rng = check_random_state(random_state)
    m, n = R.shape
    target = int(round(rate * observed.sum()))
    drop = np.zeros((m, n), dtype=bool)
    if target == 0:
        return R
    if mode == "random":
        cells = np.flatnonzero(observed)
        drop.flat[rng.choice(cells, size=target, replace=False)] = True
    elif mode == "block":
        if group is None:
            k = min(max(int(round(group_share * m)), 1), max(m - 1, 1))
            rows = rng.choice(m, size=k, replace=False)
        else:
            rows = np.unique(np.asarray(group, dtype=np.int64))
            if rows.size == 0 or rows.min() < 0 or rows.max() >= m:
                raise InvalidParameterError(
                    f"group must hold row indices in [0, {m}), got {list(group)}"
                )
        share = min(1.0, rate * m / rows.size)
        cols = rng.choice(n, size=int(round(share * n)), replace=False)
        drop[np.ix_(rows, cols)] = True
    else:
        if informative == "uncertainty":
            weight = 1.0 - np.abs(2.0 * np.nan_to_num(R, nan=0.5) - 1.0) + 0.05
        else:
            if y is None:
                raise InvalidParameterError(
                    "informative='class' needs y, the true class of each column"
                )
            y = np.asarray(y)
            if y.shape != (n,):
                raise InvalidInputError(f"y must have shape ({n},), got {y.shape}")
            weight = np.where(y[None, :] == 1, class_ratio, 1.0) * np.ones((m, 1))
        cells = np.flatnonzero(observed)
        p = weight.flat[cells]
        drop.flat[rng.choice(cells, size=target, replace=False, p=p / p.sum())] = True
    return remove_cells(R, observed, drop, rng)


def observed_copy(R) -> tuple[np.ndarray, np.ndarray]:
    """A float64 copy of R (2-D, NaN = missing) and its observed mask, both (m, n)."""
    R = np.array(R, dtype=np.float64, copy=True)
    if R.ndim != 2:
        raise InvalidInputError(f"R must be 2-D (n_classifiers, n_instances), got shape {R.shape}")
    return R, ~np.isnan(R)


def remove_cells(R: np.ndarray, observed: np.ndarray, drop: np.ndarray, rng) -> np.ndarray:
    """R with the observed cells of ``drop`` set to NaN, in place; (m, n) -> (m, n).

    Every instance that had a prediction keeps one: an instance left with nothing gets one
    of its removed cells back (an instance nobody scored is not a prediction problem).
    """
    drop &= observed
    empty = np.flatnonzero(~(observed & ~drop).any(axis=0) & observed.any(axis=0))
    for i in empty:
        drop[rng.choice(np.flatnonzero(drop[:, i])), i] = False
    R[drop] = np.nan
    return R


def make_low_rank(
    n_classifiers: int = 12,
    n_instances: int = 600,
    rank: int = 3,
    *,
    noise: float = 0.02,
    scale: float = 0.15,
    missing_rate: float = 0.0,
    random_state=None,
) -> np.ndarray:
    """Predictions with a planted rank, cells removed at random.

    R = clip(0.5 1 1^T + scale X^T Y / sqrt(rank - 1) + noise E, 0, 1) with X (rank - 1, m),
    Y (rank - 1, n) and E standard normal: the level 0.5 is one rank-1 component and the
    rank - 1 others are the classifiers' shared deviations, so before noise R has exactly
    ``rank`` nonzero singular values. Used to check that
    :func:`cfensemble.rank.select_rank` recovers the rank.

    Returns
    -------
    ndarray of shape (n_classifiers, n_instances), NaN where removed
    """
    check_scalar(n_classifiers, "n_classifiers", kind=numbers.Integral, low=2)
    check_scalar(n_instances, "n_instances", kind=numbers.Integral, low=2)
    check_scalar(rank, "rank", kind=numbers.Integral, low=1)
    check_scalar(noise, "noise", low=0.0)
    check_scalar(scale, "scale", low=0.0)
    rng = check_random_state(random_state)
    k = rank - 1
    X = rng.standard_normal((k, n_classifiers))
    Y = rng.standard_normal((k, n_instances))
    signal = scale * (X.T @ Y) / np.sqrt(max(k, 1))
    R = np.clip(0.5 + signal + noise * rng.standard_normal(signal.shape), 0.0, 1.0)
    return apply_missingness(R, missing_rate, random_state=rng) if missing_rate > 0 else R
