"""Confidence strategies: how much each observed cell of R counts in the reconstruction.

A strategy is fitted on the training data (some use labels) and then turns any prediction
matrix into a confidence matrix of the same shape, zero on missing cells. Fold-in of new
instances uses the same fitted strategy with no labels, exactly as unlabeled training
columns were treated.

Strategies (by name)::

    uniform      c_ui = 1.
    certainty    c_ui = max(2 |r_ui - 0.5|, floor): confident predictions count more (default).
    calibration  c_ui = q_u, one weight per classifier from its Brier score B_u on labeled
                 instances: q_u = max(1 - 4 B_u, floor) (a constant 0.5 predictor has B=0.25).
    adaptive     c_ui = sqrt(certainty_ui * calibration_u): the geometric mean, so a cell is
                 trusted when its classifier is reliable *and* it is far from 0.5.
    label_aware  is not a base strategy but a modulation (see label_aware()).

A callable ``f(R, observed, labels) -> C`` is accepted as a strategy too; it is called with
all-NaN labels at fold-in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cfensemble._validation import check_confidence
from cfensemble.exceptions import InvalidParameterError

DEFAULT_FLOOR = 0.05
#: Cells per column chunk of the elementwise passes over R (8 MB of float64).
CHUNK_CELLS = 1 << 20


def uniform_confidence(R: np.ndarray, observed: np.ndarray, dtype=np.float64) -> np.ndarray:
    """c_ui = 1 on observed cells. Shapes (m, n) -> (m, n), in ``dtype``."""
    return observed.astype(dtype)


def certainty_confidence(
    R: np.ndarray, observed: np.ndarray, floor: float = DEFAULT_FLOOR
) -> np.ndarray:
    """c_ui = max(2 |r_ui - 0.5|, floor) on observed cells. Shapes (m, n) -> (m, n).

    Examples
    --------
    >>> import numpy as np
    >>> from cfensemble.confidence import certainty_confidence
    >>> R = np.array([[0.9, 0.5, np.nan]])
    >>> certainty_confidence(R, ~np.isnan(R))
    array([[0.8 , 0.05, 0.  ]])
    """
    # The floor keeps a prediction of exactly 0.5 in the fit: it still says "undecided".
    # (np.where, not nan_to_num(nan=...): dask arrays take the same code.)
    c = np.maximum(2.0 * np.abs(np.where(np.isnan(R), 0.5, R) - 0.5), floor)
    return np.where(observed, c, 0.0)


def brier_reliability(
    R: np.ndarray, observed: np.ndarray, labels: np.ndarray, floor: float = DEFAULT_FLOOR
) -> np.ndarray:
    """Per-classifier reliability q_u = max(1 - 4 B_u, floor) from labeled cells.

    Returns ndarray of shape (m,). A classifier with no labeled observed cell gets 1.
    """
    lab = ~np.isnan(labels)
    q = np.ones(R.shape[0])
    if not lab.any():
        return q
    Rl, Ol, yl = R[:, lab], observed[:, lab], labels[lab]
    sq = np.where(Ol, (np.nan_to_num(Rl) - yl[None, :]) ** 2, 0.0)
    counts = Ol.sum(axis=1)
    has = counts > 0
    brier = sq.sum(axis=1)[has] / counts[has]
    q[has] = np.maximum(1.0 - 4.0 * brier, floor)
    return q


def label_aware(
    C: np.ndarray, R: np.ndarray, labels: np.ndarray, alpha: float, *, dtype=None
) -> np.ndarray:
    """The label-aware modulation of a base confidence C (from the original CF-Ensemble
    formulation, the paper's objective this library started from).

    For labeled y=1: c~ = c (1 + alpha r); y=0: c~ = c (1 + alpha (1 - r)); unlabeled: c~ = c.
    Cells that agree with the label are trusted more. Shapes (m, n) -> (m, n); C is never
    replaced, only multiplied. Elementwise, so R and C may be dask arrays.

    ``dtype``: of the result for NumPy inputs (default float64); the products are formed in
    float64 and rounded once (float32 for a float32 fit, which then holds no float64 copy).
    """
    pos = (labels == 1.0).astype(float)[None, :]
    neg = (labels == 0.0).astype(float)[None, :]
    if not (isinstance(R, np.ndarray) and isinstance(C, np.ndarray)):  # dask: lazily
        return C * _label_factor(R, pos, neg, alpha)
    # NumPy: column chunks, so the temporaries are chunk-sized, not (m, n) each.
    dt = np.result_type(C, np.float64) if dtype is None else np.dtype(dtype)
    out = np.empty(np.broadcast_shapes(C.shape, R.shape), dtype=dt)
    step = max(1, CHUNK_CELLS // max(1, R.shape[0]))
    for a in range(0, R.shape[1], step):
        b = a + step
        out[:, a:b] = C[:, a:b] * _label_factor(R[:, a:b], pos[:, a:b], neg[:, a:b], alpha)
    return out


def _label_factor(R, pos, neg, alpha):
    Rz = np.nan_to_num(R)  # NaN -> 0 (R is finite elsewhere)
    # Exactly 1 + alpha r, 1 + alpha (1 - r) or 1 per column (the other terms are 0).
    return 1.0 + alpha * (pos * Rz + neg * (1.0 - Rz))


class Confidence:
    """A fitted confidence strategy.

    Parameters
    ----------
    strategy : {'uniform', 'certainty', 'calibration', 'adaptive'} or callable
    floor : float
        Smallest confidence an observed cell gets under 'certainty', 'calibration' and
        'adaptive'.
    """

    def __init__(self, strategy: str | Callable = "certainty", floor: float = DEFAULT_FLOOR):
        if not callable(strategy) and strategy not in STRATEGIES:
            raise InvalidParameterError(
                f"confidence must be one of {sorted(STRATEGIES)} or a callable "
                f"f(R, observed, labels) -> C, got {strategy!r}"
            )
        self.strategy = strategy
        self.floor = floor
        self.reliability_: np.ndarray | None = None

    def fit(self, R: np.ndarray, observed: np.ndarray, labels: np.ndarray) -> Confidence:
        """Learn what the strategy needs from labeled instances (per-classifier reliability)."""
        if self.strategy in ("calibration", "adaptive"):
            self.reliability_ = brier_reliability(R, observed, labels, self.floor)
        return self

    def transform(
        self, R: np.ndarray, observed: np.ndarray, labels: np.ndarray | None = None, dtype=None
    ) -> np.ndarray:
        """Confidence matrix of shape (m, n) for predictions R, zero where not observed.

        ``dtype``: that of the result (None: float64). 'uniform' is written in it directly
        (a float32 fit holds no float64 C); the other strategies are computed in float64
        and cast.
        """
        if self.strategy == "uniform":
            return uniform_confidence(R, observed, np.float64 if dtype is None else dtype)
        if labels is None:
            labels = np.full(R.shape[1], np.nan)
        C = self._transform(R, observed, labels)
        return C if dtype is None else C.astype(dtype, copy=False)

    def _transform(self, R, observed, labels) -> np.ndarray:
        s = self.strategy
        if callable(s):
            C = check_confidence(s(R, observed, labels), R.shape, "confidence(R, observed, labels)")
            return np.where(observed, C, 0.0)
        if s == "certainty":
            return certainty_confidence(R, observed, self.floor)
        q = self.reliability_ if self.reliability_ is not None else np.ones(R.shape[0])
        if s == "calibration":
            return np.where(observed, q[:, None], 0.0)
        # adaptive
        cert = certainty_confidence(R, observed, self.floor)
        return np.where(observed, np.sqrt(cert * q[:, None]), 0.0)

    def fit_transform(self, R, observed, labels, dtype=None) -> np.ndarray:
        return self.fit(R, observed, labels).transform(R, observed, labels, dtype)


STRATEGIES = ("uniform", "certainty", "calibration", "adaptive")


def label_aware_strength(alpha: float, rho: float) -> float:
    """Effective modulation strength used by the ALS trainer: alpha_eff = 2 (1 - rho) alpha.

    rho = 1 switches the modulation off (pure weighted factorization with the base C);
    rho = 0.5 gives alpha itself (the original formulation's strength); rho = 0 doubles it.
    """
    return 2.0 * (1.0 - rho) * alpha
