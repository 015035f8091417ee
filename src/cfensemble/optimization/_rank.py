"""Choosing the rank of the factorization from the data, without labels.

The way recommender systems do it: hide a random share of the observed cells, fit the
weighted factorization R ~ X^T Y at each candidate rank d on the rest, and measure the
confidence-weighted squared error on the hidden cells,

    err(d) = sum_{(u,i) in H} c_ui (r_ui - x_u^T y_i)^2 / sum_{(u,i) in H} c_ui.

The rank kept is the smallest one whose held-out error is within one standard error of
the best (the one-standard-error rule: a simpler model unless the data clearly want more),
and never more than m - 1 (rank m reproduces R exactly and denoises nothing).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_random_state

from cfensemble._validation import check_option, check_scalar
from cfensemble.exceptions import InvalidInputError, NonFiniteError
from cfensemble.optimization._als import (
    INITS,
    start_factors,
    update_classifiers,
    update_instances,
)

DEFAULT_MAX_RANK = 10


class RankSelection(NamedTuple):
    """Outcome of :func:`select_rank`.

    rank : int, the chosen rank
    candidates : ndarray of int, the ranks tried
    errors : ndarray of shape (len(candidates),), mean held-out weighted squared error
    std_errors : ndarray of shape (len(candidates),), its standard error
    """

    rank: int
    candidates: np.ndarray
    errors: np.ndarray
    std_errors: np.ndarray


def max_rank(n_classifiers: int) -> int:
    """The largest rank that still denoises: m - 1 (1 when m is 1)."""
    return max(1, int(n_classifiers) - 1)


def holdout_mask(observed: np.ndarray, share: float, rng) -> np.ndarray:
    """A random share of the observed cells to hide, every column keeping one cell.

    observed : bool ndarray (m, n). Returns bool ndarray (m, n), True = hidden.
    """
    cells = np.flatnonzero(observed)
    k = int(round(share * cells.size))
    hide = np.zeros(observed.shape, dtype=bool)
    hide.flat[rng.choice(cells, size=k, replace=False)] = True
    # A column with every observed cell hidden cannot be fitted: give one back.
    empty = np.flatnonzero(observed.any(axis=0) & ~(observed & ~hide).any(axis=0))
    for i in empty:
        hide[rng.choice(np.flatnonzero(hide[:, i])), i] = False
    return hide


def _fit_factors(R0, C, d, lambda_reg, n_sweeps, tol, rng, init="random"):
    # Weighted ALS: x_u = (Y C_u Y^T + lambda I)^-1 Y C_u r_u, then y_i likewise, from the
    # SVD start of the cells it may read (C > 0: neither missing nor hidden) or a random one.
    X, Y = start_factors(init, R0, C > 0, d, rng)
    prev = np.inf
    for _ in range(n_sweeps):
        X = update_classifiers(Y, R0, C, lambda_reg)
        Y = update_instances(X, R0, C, lambda_reg)
        E = R0 - X.T @ Y
        loss = float(np.sum(C * E * E))
        if not np.isfinite(loss):
            raise NonFiniteError(
                f"choosing the rank (latent_dim='auto'): the rank-{d} fit produced non-finite "
                f"factors; raise lambda_reg (now {lambda_reg}) or give latent_dim as an int"
            )
        if np.isfinite(prev) and abs(prev - loss) <= tol * max(prev, 1e-300):
            break
        prev = loss
    return X, Y


def select_rank(
    R,
    C=None,
    *,
    candidates=None,
    holdout: float = 0.1,
    n_repeats: int = 2,
    lambda_reg: float = 0.01,
    n_sweeps: int = 50,
    tol: float = 1e-4,
    one_standard_error: bool = True,
    patience: int | None = 2,
    init: str = "random",
    random_state=None,
) -> RankSelection:
    """The factorization rank that best predicts held-out observed cells.

    Parameters
    ----------
    R : ndarray of shape (m, n), NaN where a prediction is missing
    C : ndarray of shape (m, n), optional
        Confidence of each cell (zero where missing); uniform when omitted.
    candidates : iterable of int, optional
        Ranks to try; default 1 .. min(m - 1, 10). Ranks above m - 1 are dropped.
    holdout : float in (0, 1), default=0.1
        Share of the observed cells hidden per repeat.
    n_repeats : int >= 1, default=2
        Independent hold-outs; errors are averaged over them.
    lambda_reg : float >= 0, default=0.01
    n_sweeps : int >= 1, default=50
        ALS sweeps per fit (stopping earlier when the loss changes by less than ``tol``).
    one_standard_error : bool, default=True
        Keep the smallest rank within one standard error of the best; False keeps the best.
    patience : int or None, default=2
        Stop trying larger ranks once this many in a row are worse than the best so far
        (None tries every candidate). The held-out error of a weighted factorization is
        U-shaped in the rank, so this saves the fits that could not win.
    init : {'random', 'svd'}, default='random'
        The start of each fit: small random factors, or the balanced SVD factors of the
        cells the fit may read (``_als.svd_factors``, the trainers' default start). From
        the random start the ``n_sweeps`` sweeps stop early, short of the optimum, and
        that regularizes: from the SVD start the fits converge and the search chose
        rank m - 1 in 6 of 24 real-data matrices, against 1 of 24 from the random start
        (benchmarks/results/als_init.md). The random start is the one the defaults were
        measured with.
    random_state : int, RandomState or None

    Returns
    -------
    RankSelection

    Notes
    -----
    The standard error of each rank's error is that of the mean over the hidden cells of
    the per-cell difference to the best rank (paired: the same cells for every rank),
    which is what the one-standard-error rule needs.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise InvalidInputError(f"R must be 2-D (n_classifiers, n_instances), got shape {R.shape}")
    check_scalar(holdout, "holdout", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_scalar(n_repeats, "n_repeats", kind=numbers.Integral, low=1)
    check_scalar(lambda_reg, "lambda_reg", low=0.0)
    check_scalar(n_sweeps, "n_sweeps", kind=numbers.Integral, low=1)
    check_option(init, "init", INITS)
    m = R.shape[0]
    top = max_rank(m)
    if candidates is None:
        cand = np.arange(1, min(top, DEFAULT_MAX_RANK) + 1)
    else:
        cand = np.unique(np.asarray(list(candidates), dtype=np.int64))
        if cand.size == 0 or cand.min() < 1:
            raise InvalidInputError(f"candidates must be ranks >= 1, got {list(candidates)}")
        cand = cand[cand <= top]
        if cand.size == 0:
            cand = np.array([top])
    observed = ~np.isnan(R)
    C = observed.astype(np.float64) if C is None else np.where(observed, np.asarray(C), 0.0)
    if cand.size == 1:
        return RankSelection(int(cand[0]), cand, np.zeros(1), np.zeros(1))
    rng = check_random_state(random_state)
    R0 = np.where(observed, R, 0.0)
    hides = [holdout_mask(observed, holdout, rng) for _ in range(n_repeats)]
    seeds = rng.randint(np.iinfo(np.int32).max, size=n_repeats)
    c = np.concatenate([C[h] for h in hides])
    c = c / c.sum()
    rows = []  # per rank: weighted squared errors of every hidden cell, all repeats
    for d in cand:
        errs = []
        for hide, seed in zip(hides, seeds, strict=True):
            X, Y = _fit_factors(
                R0,
                np.where(hide, 0.0, C),
                int(d),
                lambda_reg,
                n_sweeps,
                tol,
                np.random.RandomState(seed),
                init,
            )
            errs.append((R0[hide] - (X.T @ Y)[hide]) ** 2)
        rows.append(np.concatenate(errs))
        scores = np.array([r @ c for r in rows])
        # Larger ranks only overfit more once two in a row are worse than the best.
        if patience is not None and len(rows) - 1 - int(np.argmin(scores)) >= patience:
            break
    cand = cand[: len(rows)]
    E = np.array(rows)
    errors = E @ c
    best = int(np.argmin(errors))
    # Paired standard error of each rank's difference to the best, over hidden cells.
    D = E - E[best]
    n_eff = 1.0 / np.sum(c * c)
    var = (D * D) @ c - (D @ c) ** 2
    std_errors = np.sqrt(np.maximum(var, 0.0) / max(n_eff - 1.0, 1.0))
    if one_standard_error:
        ok = np.flatnonzero(errors - errors[best] <= std_errors)
        chosen = int(cand[ok.min()])
    else:
        chosen = int(cand[best])
    return RankSelection(chosen, cand, errors, std_errors)
