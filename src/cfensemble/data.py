"""EnsembleData: the probability matrix R, its labels and its observed cells."""

from __future__ import annotations

import numpy as np

from cfensemble._validation import (
    check_confidence,
    check_dtype,
    check_labels,
    check_probability_matrix,
    warn_external,
)
from cfensemble.confidence import CHUNK_CELLS
from cfensemble.exceptions import InvalidInputError
from cfensemble.patterns import AUTO_MAX_PATTERNS, observed_patterns

_R_DTYPES = ("float64", "float32")


class EnsembleData:
    """Base-classifier predictions with (partial) labels.

    Parameters
    ----------
    R : array-like of shape (n_classifiers, n_instances)
        ``R[u, i]`` is classifier u's probability that instance i is positive; NaN where u
        gave no prediction (a missing cell: zero confidence, left out of every loss). A
        NumPy masked array's masked cells are missing too. Every classifier (row) needs at
        least one prediction (a row with none carries no information: drop it); an instance
        (column) with none is allowed: its factor is the regularized solution of no
        equations, zero, and the trainers' ``predict`` gives it the positive share of the
        fitted labels, with a warning (the aggregator would read a reconstruction of zeros
        as a confident negative).
    labels : array-like of shape (n_instances,), optional
        0, 1, or NaN for unlabeled instances (the test set, used transductively).
        ``None`` means every instance is unlabeled; masked entries are unlabeled.
    C : array-like of shape (n_classifiers, n_instances), optional
        A confidence matrix of the user's own. It is honoured by every trainer (label-aware
        confidence modulates it, never replaces it). Cells where R is missing get zero
        confidence whatever C says there.
    dtype : {'float64', 'float32'} or None, default=None
        The dtype R is held in (None: float64). 'float32' halves the largest array of a
        big fit: with ``CFEnsembleTrainer(dtype='float32')`` nothing of R's size is then
        float64 (the model file still stores R in float64).

    Attributes
    ----------
    R : ndarray of shape (m, n)          float64 (or ``dtype``), NaN where missing
    labels : ndarray of shape (n,)       float64, NaN where unlabeled
    C : ndarray of shape (m, n) or None
    observed : ndarray of shape (m, n)   bool, True where R is present
    labeled_idx, unlabeled_idx : ndarray of int
    """

    def __init__(self, R, labels=None, C=None, *, dtype=None):
        dtype = np.float64 if dtype is None else check_dtype(dtype, "dtype", _R_DTYPES)
        self.R = check_probability_matrix(R, "R", dtype=dtype)
        m, n = self.R.shape
        self.labels = check_labels(labels, n, "labels", n_classifiers=m)
        if m > n:
            # Fewer instances than classifiers: almost always R given as instances x
            # classifiers (a DataFrame's layout), which fits without any other complaint.
            warn_external(
                f"R has {m} rows (classifiers) and {n} columns (instances), more classifiers "
                "than instances: R must be (n_classifiers, n_instances); pass R.T if its "
                "rows are instances"
            )
        self.observed = ~np.isnan(self.R)
        empty_rows = np.flatnonzero(~self.observed.any(axis=1))
        if empty_rows.size == m:
            raise InvalidInputError(
                f"R holds no prediction at all: all {m * n} cells are missing (NaN)"
            )
        if empty_rows.size:
            raise InvalidInputError(
                f"R's row(s) {empty_rows[:10].tolist()} (classifiers) hold no prediction at "
                "all: every cell is missing; drop those classifiers"
            )
        if C is not None:
            C = check_confidence(C, (m, n), "C")
            C = np.where(self.observed, C, 0.0)
        self.C = C
        self.labeled_idx = np.flatnonzero(~np.isnan(self.labels))
        self.unlabeled_idx = np.flatnonzero(np.isnan(self.labels))

    @property
    def n_classifiers(self) -> int:
        return self.R.shape[0]

    @property
    def n_instances(self) -> int:
        return self.R.shape[1]

    m = n_classifiers
    n = n_instances

    @property
    def n_labeled(self) -> int:
        return self.labeled_idx.size

    @property
    def labeled_mask(self) -> np.ndarray:
        """Boolean mask of shape (n,), True for labeled instances."""
        return ~np.isnan(self.labels)

    @property
    def y_labeled(self) -> np.ndarray:
        """Labels of the labeled instances, int array of shape (n_labeled,)."""
        return self.labels[self.labeled_idx].astype(np.int64)

    @property
    def missing_rate(self) -> float:
        return 1.0 - self.observed.mean()

    def observed_patterns(self, max_patterns: int = AUTO_MAX_PATTERNS) -> np.ndarray:
        """The most frequent observed sets of the columns; (k, m) bool (see
        :func:`cfensemble.patterns.observed_patterns`)."""
        return observed_patterns(self.observed, max_patterns)

    def R_filled(self, fill: float = 0.0, dtype=np.float64) -> np.ndarray:
        """R with missing cells replaced by ``fill`` (they carry zero confidence).

        Written column chunk by column chunk into an array of ``dtype`` (float32 for a
        float32 fit: no float64 temporary of R's size).
        """
        out = np.empty(self.R.shape, dtype=dtype)
        step = max(1, CHUNK_CELLS // max(1, self.R.shape[0]))
        for a in range(0, self.R.shape[1], step):
            b = a + step
            out[:, a:b] = np.where(self.observed[:, a:b], self.R[:, a:b], fill)
        return out

    def __repr__(self) -> str:
        return (
            f"EnsembleData(n_classifiers={self.n_classifiers}, n_instances={self.n_instances}, "
            f"n_labeled={self.n_labeled}, missing_rate={self.missing_rate:.3f})"
        )
