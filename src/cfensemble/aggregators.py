"""Aggregators: turn a column of (reconstructed) predictions into one probability."""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from scipy.optimize import minimize

from cfensemble._validation import check_scalar
from cfensemble.exceptions import InvalidInputError
from cfensemble.objective import (
    aggregator_logits,
    focal_bce_from_logits,
    focal_bce_grad_logits,
    mean_logits,
    sigmoid,
)
from cfensemble.patterns import observed_patterns, pattern_index


def fit_weighted_logistic(
    Z: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    *,
    l2: float = 1e-3,
    focal_gamma: float = 0.0,
    w0: np.ndarray | None = None,
    b0: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> tuple[np.ndarray, float]:
    """Class-weighted (focal) logistic regression fitted to convergence with L-BFGS.

    Minimizes sum_i s_i FL(y_i, sigmoid(w . z_i + b)) / sum_i s_i + (l2 / 2) |w|^2, the
    supervised part of the shared objective.

    Parameters
    ----------
    Z : ndarray of shape (m, n_L)    inputs, one column per labeled instance
    y : ndarray of shape (n_L,)      0/1 labels
    sample_weight : ndarray of shape (n_L,)

    Returns
    -------
    w : ndarray of shape (m,), b : float
    """
    m = Z.shape[0]
    s = sample_weight / sample_weight.sum()
    if focal_gamma == 0.0:
        return _newton_logistic(Z, y, s, l2, w0, b0, tol=tol, max_iter=max_iter)

    def fun(theta):
        w, b = theta[:m], theta[m]
        z = aggregator_logits(Z, w, b)
        loss = float(s @ focal_bce_from_logits(z, y, focal_gamma)) + 0.5 * l2 * float(w @ w)
        g = s * focal_bce_grad_logits(z, y, focal_gamma)
        return loss, np.concatenate([Z @ g + l2 * w, [g.sum()]])

    theta0 = np.concatenate([np.zeros(m) if w0 is None else w0, [b0]])
    res = minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": tol},
    )
    return res.x[:m].copy(), float(res.x[m])


def _newton_logistic(Z, y, s, l2, w0, b0, *, tol, max_iter):
    """Weighted L2 logistic regression by damped Newton steps (IRLS).

    With m + 1 parameters the exact Hessian H = Za diag(s p (1 - p)) Za^T + l2 I_w is a
    tiny matrix, and Newton converges in a handful of steps where quasi-Newton needs
    dozens (this fit runs once per ALS sweep).
    """
    m = Z.shape[0]
    Za = np.vstack([Z, np.ones((1, Z.shape[1]))])
    theta = np.concatenate([np.zeros(m) if w0 is None else w0, [b0]])
    reg = np.full(m + 1, l2)
    reg[-1] = 0.0

    # reg as a diagonal penalty; the 1e-12 keeps H invertible when a feature is constant.
    theta, _ = _penalized_newton(
        Za,
        y,
        s,
        np.diag(reg),
        theta,
        tol=max(tol, 1e-12),
        max_iter=max_iter,
        jitter=1e-12,
        with_hessian=False,
    )
    return theta[:m].copy(), float(theta[m])


def predict_weighted(Z: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """p_i = sigmoid(w . Z[:, i] + b); Z (m, k) -> (k,)."""
    return sigmoid(aggregator_logits(Z, w, b))


def predict_mean(Z: np.ndarray) -> np.ndarray:
    """Mean aggregation of (reconstructed) probabilities, clipped to (0, 1); (m, k) -> (k,)."""
    return sigmoid(mean_logits(Z))


def mean_of_observed(R: np.ndarray) -> np.ndarray:
    """Mean of each column's observed cells; a column with none gets 0.5. (m, n) -> (n,)."""
    obs = ~np.isnan(R)
    cnt = obs.sum(axis=0)
    total = np.where(obs, R, 0.0).sum(axis=0)
    return np.where(cnt > 0, total / np.maximum(cnt, 1), 0.5)


# ---------------------------------------------------------------------- shrinkage
def count_weights(y: np.ndarray, use_class_weights: bool = True) -> np.ndarray:
    """Class-balanced weights that count the minority class once per instance.

    s_i = n_min / n_class(y_i): each class weighs n_min in total, so the weighted
    likelihood carries 2 n_min instances' worth of information, not n_L (a class weight
    must not make 15 positives look like 500). Ones when ``use_class_weights`` is False.
    y : (n_L,) 0/1 -> (n_L,).
    """
    y = np.asarray(y)
    if not use_class_weights:
        return np.ones(y.shape[0])
    n_pos = int(np.count_nonzero(y == 1))
    n_neg = y.shape[0] - n_pos
    n_min = max(min(n_pos, n_neg), 1)
    return np.where(y == 1, n_min / max(n_pos, 1), n_min / max(n_neg, 1))


def _penalized_newton(
    Za, y, s, Pen, theta, *, tol=1e-10, max_iter=100, jitter=1e-10, with_hessian=True
):
    """argmin_theta sum_i s_i BCE(y_i, sigmoid(theta . za_i)) + theta^T Pen theta / 2.

    Damped Newton (IRLS) with a full penalty matrix Pen (k, k): with k small the exact
    Hessian H = Za diag(s p (1 - p)) Za^T + Pen is a tiny matrix, and Newton converges in a
    handful of steps where quasi-Newton needs dozens. ``jitter`` I is added to H.
    Returns theta (k,) and the data Hessian Za diag(s p (1 - p)) Za^T (k, k) at it (None
    when ``with_hessian`` is False).
    """

    def loss_at(t):
        z = t @ Za
        return float(s @ focal_bce_from_logits(z, y)) + 0.5 * float(t @ Pen @ t), z

    # The logits of the accepted point are kept (z), not formed again; the Hessian is
    # formed only when a step is taken or returned (this runs once per ALS sweep).
    loss, z = loss_at(theta)
    for _ in range(max_iter):
        p = sigmoid(z)
        g = Za @ (s * (p - y)) + Pen @ theta
        if np.max(np.abs(g)) <= tol:
            break
        H = (Za * (s * p * (1.0 - p))) @ Za.T + Pen + jitter * np.eye(Za.shape[0])
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = g
        t, decrease = 1.0, float(g @ step)
        while t > 1e-10:
            trial = theta - t * step
            new, z_new = loss_at(trial)
            if new <= loss - 1e-4 * t * decrease:
                break
            t *= 0.5
        else:
            break
        theta, prev, loss, z = trial, loss, new, z_new
        if prev - loss <= 1e-15 * max(abs(prev), 1.0):
            break
    if not with_hessian:
        return theta, None
    p = sigmoid(z)
    return theta, (Za * (s * p * (1.0 - p))) @ Za.T


def fit_shrinkage_logistic(
    Z: np.ndarray,
    y: np.ndarray,
    *,
    strength="auto",
    use_class_weights: bool = True,
    l2: float = 1e-3,
    max_evidence_iter: int = 50,
) -> tuple[np.ndarray, float, float]:
    """Logistic stacking whose weights are shrunk toward equal weights.

    Minimizes sum_i s_i BCE(y_i, sigmoid(w . z_i + b)) + (lam / 2) |w - w_bar 1|^2
    + (l2 / 2) |w|^2 with ``count_weights`` s (each class counts n_min instances) and w_bar
    the mean weight: only the *differences* between the classifiers' weights are shrunk,
    so lam -> inf gives equal weights (the ranking of the mean) and lam -> 0 plain stacking.

    ``strength='auto'`` sets lam by empirical Bayes (MacKay's evidence fixed point for
    the prior w - w_bar 1 ~ N(0, I / lam) on the m - 1 directions orthogonal to 1):

        gamma = (m - 1) - lam tr(P Sigma_w),  lam <- gamma / |P w|^2,

    with Sigma the inverse Hessian at the optimum and P = I - 11^T / m. gamma counts the
    directions the labels determine; with few labels gamma -> 0 and lam grows without
    bound, so the weights go to equal weights as the labels go to zero.

    Parameters
    ----------
    Z : ndarray of shape (m, n_L), inputs of the labeled instances
    y : ndarray of shape (n_L,), 0/1
    strength : 'auto' or float >= 0
    use_class_weights : bool, default=True
    l2 : float >= 0, small ridge on every weight (keeps separable data finite)
    max_evidence_iter : int, fixed-point iterations of the evidence update

    Returns
    -------
    w : ndarray of shape (m,), b : float, lam : float (the strength used)
    """
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m = Z.shape[0]
    s = count_weights(y, use_class_weights)
    Za = np.vstack([Z, np.ones((1, Z.shape[1]))])
    P = np.zeros((m + 1, m + 1))
    P[:m, :m] = np.eye(m) - 1.0 / m
    ridge = np.zeros((m + 1, m + 1))
    ridge[:m, :m] = l2 * np.eye(m)
    theta = np.zeros(m + 1)
    if strength != "auto":
        lam = float(strength)
        theta, _ = _penalized_newton(Za, y, s, lam * P + ridge, theta)
        return theta[:m].copy(), float(theta[m]), lam
    lam = 1.0
    lam_max = 1e8
    for _ in range(max_evidence_iter):
        Pen = lam * P + ridge
        theta, H = _penalized_newton(Za, y, s, Pen, theta)
        Sigma = np.linalg.pinv(H + Pen + 1e-10 * np.eye(m + 1))
        gamma = (m - 1) - lam * float(np.trace(P @ Sigma))
        dev = P[:m, :m] @ theta[:m]
        ss = float(dev @ dev)
        new = lam_max if ss <= gamma / lam_max else max(gamma, 0.0) / ss
        new = min(max(new, 1e-6), lam_max)
        if abs(np.log(new) - np.log(lam)) < 1e-3:
            lam = new
            break
        lam = new
    theta, _ = _penalized_newton(Za, y, s, lam * P + ridge, theta)
    return theta[:m].copy(), float(theta[m]), lam


# ---------------------------------------------------------------------- auto
#: Below this many labeled instances of the smaller class, 'auto' moves toward the mean.
AUTO_MIN_CLASS = 20
AUTO_L2 = 0.1
#: The stacking models of 'auto' are fitted on at most this many labeled columns.
AUTO_MAX_COLUMNS = 2**16
_LOGIT_CLIP = 1e-4


def logit_features(Z: np.ndarray) -> np.ndarray:
    """logit(clip(Z, 1e-4, 1 - 1e-4)): stacking inputs on the scale the classifiers vote on."""
    P = np.clip(Z, _LOGIT_CLIP, 1.0 - _LOGIT_CLIP)
    return np.log(P) - np.log1p(-P)


class AutoAggregator(NamedTuple):
    """The fitted parts of ``aggregator='auto'`` (see :func:`fit_auto_aggregator`).

    Attributes
    ----------
    w : ndarray of shape (f,) or (f + m,)
        Stacking weights on the logits of all f inputs (the fill) and, when the labeled
        columns had missing cells, on the m missing-cell indicators: the model of the
        columns with every classifier observed, and of patterns without a model of their
        own.
    b : float
        Its intercept.
    single : int
        The classifier with the best PR-AUC on the labeled instances.
    mix : float in [0, 1]
        t, the share of the two learned parts (1 with enough labels).
    patterns : bool ndarray of shape (k, m)
        The observed sets (True = observed) that have a reduced-feature model; k = 0 on
        complete R (and in model files written before these models).
    pattern_w : ndarray of shape (k, len(w))
        Their weights, zero on the logits of the classifiers a pattern lacks.
    pattern_b : ndarray of shape (k,)
    """

    w: np.ndarray
    b: float
    single: int
    mix: float
    patterns: np.ndarray = np.zeros((0, 0), dtype=bool)
    pattern_w: np.ndarray = np.zeros((0, 0))
    pattern_b: np.ndarray = np.zeros(0)


def auto_stacking_features(Z: np.ndarray, missing: np.ndarray | None, n_weights: int):
    """The stacking part's inputs: logit(Z), with the rows of ``missing`` (as 0/1) below
    when the weights have them (n_weights > len(Z)); zeros when ``missing`` is None."""
    L = logit_features(Z)
    if n_weights <= L.shape[0]:
        return L
    M = np.zeros((n_weights - L.shape[0], L.shape[1])) if missing is None else missing
    return np.vstack([L, np.asarray(M, dtype=np.float64)])


def stacking_subsample(y: np.ndarray, max_columns: int = AUTO_MAX_COLUMNS):
    """The labeled columns the stacking models of 'auto' are fitted on; (n_L,) 0/1 ->
    sorted int indices, or None for all of them (n_L <= max_columns).

    Above ``max_columns``: up to half of them from the smaller class (all of it when it has
    fewer), the rest from the larger, drawn without replacement with a fixed seed. The
    loss is class-weighted (balanced), so drawing the classes in other proportions than
    the data's leaves the objective's target the same.
    """
    y = np.asarray(y)
    if y.size <= max_columns:
        return None
    rng = np.random.RandomState(0)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y != 1)
    small, large = (pos, neg) if pos.size <= neg.size else (neg, pos)
    k = min(small.size, max_columns // 2)
    keep = [rng.choice(small, k, replace=False), rng.choice(large, max_columns - k, replace=False)]
    return np.sort(np.concatenate(keep))


def fit_auto_aggregator(
    Z: np.ndarray,
    y: np.ndarray,
    missing: np.ndarray | None = None,
    *,
    patterns: np.ndarray | None = None,
    use_class_weights: bool = True,
    l2: float = AUTO_L2,
    max_columns: int = AUTO_MAX_COLUMNS,
) -> AutoAggregator:
    """The 'auto' aggregator: combine the simple combiners instead of choosing one.

    p_i = (1 - 2t/3) mean_{u observed} r_ui + (t/3) sigmoid(w_g . f_i + b_g) + (t/3) z_{s,i},

    the average of three combiners that each win somewhere: the mean of the observed
    cells (of Z's columns when R is not given to :func:`predict_auto`), class-weighted
    logistic stacking (L2 ``l2`` on the class-weighted mean loss), and the single
    classifier s with the best PR-AUC on the labeled instances.

    The stacking part is a reduced-feature model per missingness pattern (Saar-Tsechansky
    and Provost, JMLR 2007: predict an instance with a model of the features it has
    rather than of imputed ones). For column i with observed set S = g(i), f_i holds the
    logits of S's classifiers (the fill supplies cells of S that a labeled column lacks)
    and the m missing-cell indicators (1 - S at prediction: which classifiers abstained,
    which tells something where a classifier abstains when unsure); (w_g, b_g) is fitted
    on every labeled column. Complete columns, and patterns beyond ``AUTO_MAX_PATTERNS``,
    use the model of all classifiers (their logits, filled where missing, and the
    indicators). On the real-data benchmark's informative regime this scored 0.5732 mean
    PR-AUC against 0.5684 for one model on all logits and indicators, and tied it
    elsewhere (benchmarks/results/defaults_probe.md, section 8).

    With more than ``max_columns`` labeled columns the stacking models (the full one and
    each pattern's, warm-started from it) are fitted on :func:`stacking_subsample`'s
    columns: up to 129 logistic models of at most 2m + 1 parameters gain nothing from
    millions of rows but time (at n_L = 5 * 10^5, m = 15: 30 s for all columns). The single
    classifier is chosen on the same columns, by PR-AUC with each class weighted back to
    its share of all labeled columns; the ramp t counts every labeled column.

    Choosing among the three parts by inner cross-validation on a few hundred labeled rows
    was noise (issue 12); their average was never far from the best of them. With few
    labels the two learned parts move toward the mean: t = min(1, n_min / 20), n_min the
    labeled count of the smaller class (0 with one class only: the mean).

    Parameters
    ----------
    Z : ndarray of shape (f, n_L), the (filled) predictions of the labeled instances
        (f = m, or a multiple of m when the aggregator sees several inputs per classifier)
    y : ndarray of shape (n_L,), 0/1
    missing : bool ndarray of shape (m, n_L), optional
        Which cells of R were missing in the labeled columns: the indicators (when any
        is), and the patterns when ``patterns`` is None.
    patterns : bool ndarray of shape (k, m), optional
        The observed sets to model (True = observed); transductively, those of every fitted
        column (:func:`cfensemble.patterns.observed_patterns`), which reads no label.
    use_class_weights : bool, default=True
    l2 : float >= 0, default=0.1
    max_columns : int >= 2, default=AUTO_MAX_COLUMNS (65,536)
        At most this many labeled columns fit the stacking models.

    Returns
    -------
    AutoAggregator
    """
    from cfensemble.metrics import pr_auc
    from cfensemble.objective import class_weights

    check_scalar(max_columns, "max_columns", kind=numbers.Integral, low=2)
    Z = np.asarray(Z, dtype=np.float64)  # clipped to [0, 1] below, on the columns used
    y = np.asarray(y, dtype=np.float64)
    f = Z.shape[0]
    if missing is not None:
        missing = np.asarray(missing, dtype=bool)
    if patterns is None:
        patterns = observed_patterns(~missing) if missing is not None else np.zeros((0, f))
    patterns = np.asarray(patterns, dtype=bool)
    m = patterns.shape[1] if patterns.shape[0] else (missing.shape[0] if missing is not None else f)
    if f % m:
        raise InvalidInputError(
            f"Z has {f} rows, expected a multiple of the {m} classifiers that patterns has "
            "columns for; pass patterns of shape (k, m) for Z of m (or 2m) rows"
        )
    use_missing = missing is not None and bool(np.any(missing))
    n_w = f + m if use_missing else f
    k = patterns.shape[0]
    n_pos = int(np.count_nonzero(y == 1))
    n_min = min(n_pos, y.size - n_pos)
    if n_min == 0:
        return AutoAggregator(np.zeros(n_w), 0.0, 0, 0.0, patterns, np.zeros((k, n_w)), np.zeros(k))
    keep = stacking_subsample(y, max_columns)
    Zs, ys = (Z, y) if keep is None else (Z[:, keep], y[keep])
    Zs = np.clip(Zs, 0.0, 1.0)
    Ms = None if not use_missing else (missing if keep is None else missing[:, keep])
    # The single classifier's PR-AUC on the same columns, each class weighted back to its
    # share of all labeled columns (the subsample holds up to half the smaller class).
    sw = None
    if keep is not None:
        k_pos = float(ys.sum())
        sw = np.where(ys == 1, n_pos / k_pos, (y.size - n_pos) / (ys.size - k_pos))
    F = auto_stacking_features(Zs, Ms, n_w)
    s = class_weights(ys, use_class_weights)
    w, b = fit_weighted_logistic(F, ys, s, l2=l2)
    W = np.zeros((k, n_w))
    B = np.zeros(k)
    for g, S in enumerate(patterns):
        # The logits of S's classifiers (every input of each), and the indicators; from
        # the full model's weights on them (the same optimum, fewer Newton steps).
        inputs = np.concatenate([np.tile(S, f // m), np.ones(n_w - f, dtype=bool)])
        W[g, inputs], B[g] = fit_weighted_logistic(F[inputs], ys, s, l2=l2, w0=w[inputs], b0=b)
    scores = [pr_auc(ys, Zs[u], sample_weight=sw) for u in range(f)]
    mix = min(1.0, n_min / AUTO_MIN_CLASS)
    return AutoAggregator(w, float(b), int(np.argmax(scores)), mix, patterns, W, B)


def predict_auto_stacking(Z: np.ndarray, agg: AutoAggregator, missing=None) -> np.ndarray:
    """The stacking part of 'auto' alone; Z (f, k) clipped to [0, 1], ``missing`` (m, k)
    bool or None (no cell missing) -> (k,) probabilities.

    z_i = w_g . f_i + b_g for the columns whose observed set g has a model of its own,
    w . f_i + b (all classifiers) for the others; f_i = logits and indicators.
    """
    F = auto_stacking_features(Z, missing, np.shape(agg.w)[0])
    z = np.asarray(agg.w) @ F + agg.b
    if missing is not None and len(agg.patterns):
        g = pattern_index(~missing, agg.patterns)
        order = np.argsort(g, kind="stable")  # the columns grouped by pattern
        groups, starts = np.unique(g[order], return_index=True)
        for gk, cols in zip(groups, np.split(order, starts[1:]), strict=True):
            if gk >= 0:
                z[cols] = agg.pattern_w[gk] @ F[:, cols] + agg.pattern_b[gk]
    return sigmoid(z)


def predict_auto_mean(Z: np.ndarray, R=None) -> np.ndarray:
    """The mean part of 'auto' alone; Z (f, k) clipped to [0, 1], R (m, k) with NaN where
    missing, or None -> (k,): the mean of R's observed cells (a column with none, or no
    R: the mean of Z)."""
    mean = Z.mean(axis=0)
    if R is None:
        return mean
    # The observed cells only: where abstention is informative (a classifier leaving out
    # the instances it is unsure of), filled cells dilute it (defaults_probe.md).
    return np.where((~np.isnan(R)).any(axis=0), mean_of_observed(R), mean)


def predict_auto(Z: np.ndarray, agg: AutoAggregator, R=None) -> np.ndarray:
    """The 'auto' aggregator's probabilities (see :func:`fit_auto_aggregator`); (f, k) -> (k,).

    ``R``: ndarray (m, k) with NaN where missing, the predictions behind Z. The mean part
    averages R's observed cells (a column with none: the mean of Z), R's missing cells
    are the indicators, and each column's observed set picks its stacking model. Without
    R: the mean of Z and the model of all classifiers, no cell missing.
    """
    missing = None if R is None else np.isnan(R)
    # Reconstructed cells can leave [0, 1]: clip so every part is a probability.
    Z = np.clip(Z, 0.0, 1.0)
    p = (1.0 - 2.0 * agg.mix / 3.0) * predict_auto_mean(Z, R)
    if agg.mix > 0:
        stack = predict_auto_stacking(Z, agg, missing)
        p = p + (agg.mix / 3.0) * (stack + Z[agg.single])
    return p
