"""DaskEnsembleData: R as a dask array chunked over instances, for ``fit`` without gathering.

``CFEnsembleTrainer(backend='dask').fit(DaskEnsembleData(R, labels))`` keeps R, its
confidence and the label-aware confidence lazy: the Dask backend builds its blocks from the
array's column chunks on the workers. What the trainer holds on the client is small (the
labels, the labeled columns, |Omega|) until fitting ends; the fitted model then keeps R in
memory, as it keeps Y_ (transductive ``predict()`` reads both).
"""

from __future__ import annotations

import numpy as np

from cfensemble._validation import check_labels
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InvalidInputError
from cfensemble.patterns import AUTO_MAX_PATTERNS, merge_counts, pattern_counts, top_patterns


class DaskEnsembleData(EnsembleData):
    """:class:`~cfensemble.data.EnsembleData` over a dask array.

    Parameters
    ----------
    R : dask array of shape (n_classifiers, n_instances)
        Probabilities in [0, 1], NaN where missing; chunked over instances (the rows are
        merged into one chunk here). Checked in one pass (its min and max).
    labels : array-like of shape (n_instances,), optional
        0, 1 or NaN (unlabeled); in memory.

    Attributes
    ----------
    R : dask array of shape (m, n), float64
    observed : dask array of shape (m, n), bool
    labels : ndarray of shape (n,)
    C : None
        The confidence comes from the trainer's strategy.
    labeled_idx, unlabeled_idx : ndarray of int
    """

    def __init__(self, R, labels=None):
        import dask.array as da

        R = da.asarray(R)
        if R.ndim != 2:
            raise InvalidInputError(
                f"R must be 2-D (n_classifiers, n_instances), got shape {R.shape}"
            )
        R = R.astype(np.float64).rechunk({0: -1})
        lo, hi = da.compute(da.nanmin(R), da.nanmax(R))
        if np.isfinite(lo) and (lo < 0.0 or hi > 1.0):
            raise InvalidInputError(
                "R must hold probabilities in [0, 1] (NaN for a missing prediction), "
                f"got values in [{lo:.4g}, {hi:.4g}]"
            )
        self.R = R
        self.labels = check_labels(labels, R.shape[1], "labels", n_classifiers=R.shape[0])
        self.observed = ~da.isnan(R)
        self.C = None
        self.labeled_idx = np.flatnonzero(~np.isnan(self.labels))
        self.unlabeled_idx = np.flatnonzero(np.isnan(self.labels))

    @property
    def missing_rate(self) -> float:
        return 1.0 - float(self.observed.mean().compute())

    def observed_patterns(self, max_patterns: int = AUTO_MAX_PATTERNS) -> np.ndarray:
        """As :meth:`EnsembleData.observed_patterns`, counted per column chunk on the
        workers (only the distinct packed sets and their counts come back)."""
        import dask

        blocks = self.observed.to_delayed().ravel()  # one row chunk: a block per column chunk
        parts = dask.compute(*[dask.delayed(pattern_counts)(b) for b in blocks])
        return top_patterns(*merge_counts(parts), self.n_classifiers, max_patterns)

    def R_filled(self, fill: float = 0.0, dtype=None):
        """R with missing cells replaced by ``fill``, lazily (a dask array, of ``dtype``)."""
        import dask.array as da

        out = da.where(self.observed, self.R, fill)
        return out if dtype is None else out.astype(dtype)
