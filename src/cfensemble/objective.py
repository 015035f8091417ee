"""The one CF-Ensemble objective, shared by every optimizer, every history and every test.

Notation (docs/design.md): X is (d, m) classifier factors, Y is (d, n) instance factors,
R_hat = X^T Y, Omega the observed cells, C >= 0 the confidence (zero off Omega), L the
labeled instances with labels y_i and class weights s_i, the aggregator (w, b) with
p_i = sigmoid(w . R_hat[:, i] + b).

    L_recon = ( sum_Omega c_ui (r_ui - x_u^T y_i)^2 + lambda (|X|_F^2 + |Y|_F^2) ) / |Omega|
    L_sup   = sum_{i in L} s_i FL_gamma(y_i, p_i) / sum_{i in L} s_i  +  (l2 / 2) |w|^2
    L_CF    = rho * L_recon + (1 - rho) * L_sup

FL_gamma is binary cross-entropy times the focal factor (1 - p_t)^gamma (gamma = 0: plain
BCE). Both terms are means, so rho weighs them alike whatever m and n are.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cfensemble.exceptions import InvalidParameterError

EPS = 1e-12


class ObjectiveValue(NamedTuple):
    """L_CF and its two parts."""

    total: float
    recon: float
    sup: float


def class_weights(y: np.ndarray, use_class_weights: bool = True) -> np.ndarray:
    """Balanced weights s_i = n_L / (2 n_class(y_i)); ones when switched off.

    y : ndarray of shape (n_L,) with values 0/1. Returns ndarray of shape (n_L,).
    """
    y = np.asarray(y)
    if not use_class_weights:
        return np.ones(y.shape[0])
    n_pos = np.count_nonzero(y == 1)
    n_neg = y.shape[0] - n_pos
    s = np.empty(y.shape[0])
    s[y == 1] = y.shape[0] / (2.0 * max(n_pos, 1))
    s[y != 1] = y.shape[0] / (2.0 * max(n_neg, 1))
    return s


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of -|z| only, so it never overflows: 1 / (1 + e^-z) for z >= 0, e^z / (1 + e^z)
    # below (the same numbers as splitting z by sign, without the masked copies).
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def focal_bce_from_logits(z: np.ndarray, y: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    """Per-instance focal binary cross-entropy from logits z; shapes (k,) -> (k,).

    BCE = log(1 + e^z) - y z (stable); focal factor (1 - p_t)^gamma, p_t = p if y=1 else 1-p.
    """
    bce = np.logaddexp(0.0, z) - y * z
    if gamma == 0.0:
        return bce
    p_t = np.exp(-bce)  # p_t = exp(-BCE) exactly
    return (1.0 - p_t) ** gamma * bce


def focal_bce_grad_logits(z: np.ndarray, y: np.ndarray, gamma: float = 0.0) -> np.ndarray:
    """d FL_gamma / dz, shape (k,).

    With p_t as above and sgn = +1 for y=1, -1 for y=0:
    dFL/dz = sgn [gamma (1 - p_t)^gamma p_t log p_t - (1 - p_t)^(gamma + 1)], which is p - y
    at gamma = 0.
    """
    p = sigmoid(z)
    if gamma == 0.0:
        return p - y
    bce = np.logaddexp(0.0, z) - y * z
    p_t = np.exp(-bce)
    sgn = 2.0 * y - 1.0
    return sgn * (gamma * (1.0 - p_t) ** gamma * p_t * (-bce) - (1.0 - p_t) ** (gamma + 1.0))


def reconstruction_loss(
    R: np.ndarray, C: np.ndarray, X: np.ndarray, Y: np.ndarray, lambda_reg: float
) -> float:
    """L_recon; R (m, n) with NaN for missing, C (m, n), X (d, m), Y (d, n)."""
    return cf_objective(
        R, C, np.full(R.shape[1], np.nan), X, Y, None, 0.0, rho=1.0, lambda_reg=lambda_reg
    ).recon


def supervised_loss(
    logits: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray,
    focal_gamma: float = 0.0,
    w: np.ndarray | None = None,
    aggregator_l2: float = 0.0,
) -> float:
    """L_sup from the aggregator's logits on labeled instances, shapes (n_L,)."""
    loss = focal_bce_from_logits(logits, y, focal_gamma)
    val = float(np.sum(sample_weight * loss) / np.sum(sample_weight))
    if aggregator_l2 and w is not None:
        val += 0.5 * aggregator_l2 * float(np.dot(w, w))
    return val


def aggregator_logits(R_hat: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """z_i = w . R_hat[:, i] + b; R_hat (m, k), w (m,) -> (k,)."""
    return w @ R_hat + b


AGGREGATOR_INPUTS = ("reconstruction", "filled", "both")


def aggregator_features(
    R_hat: np.ndarray, R: np.ndarray, kind: str = "reconstruction", *, missing=None
):
    """What the aggregator sees for each instance.

    'reconstruction': R_hat (m, k), the original CF-Ensemble formulation's choice.
    'filled': the observed predictions, missing cells filled from R_hat (m, k); on complete
    R this is R itself, so the aggregator nests stacking.
    'both': the filled matrix stacked over R_hat (2m, k).

    Parameters
    ----------
    R_hat : ndarray of shape (m, k)
    R : ndarray of shape (m, k), NaN where missing
    kind : {'reconstruction', 'filled', 'both'}
    missing : ndarray of bool, shape (m, k), optional
        ``np.isnan(R)`` when the caller already holds it (a loop over the same R).
    """
    if kind == "reconstruction":
        return R_hat
    filled = np.where(np.isnan(R) if missing is None else missing, R_hat, R)
    if kind == "filled":
        return filled
    if kind == "both":
        return np.vstack([filled, R_hat])
    raise InvalidParameterError(
        f"aggregator_input must be one of {list(AGGREGATOR_INPUTS)}, got {kind!r}"
    )


def aggregator_input_jacobian(w: np.ndarray, R: np.ndarray, kind: str) -> np.ndarray:
    """u_i = dz_i / dR_hat[:, i] for z_i = w . features_i + b; returns (m, k).

    R : ndarray of shape (m, k), NaN where missing (only missing cells come from R_hat
    under 'filled').
    """
    m = R.shape[0]
    if kind == "reconstruction":
        return np.broadcast_to(w[:, None], R.shape)
    missing = np.isnan(R)
    if kind == "filled":
        return w[:, None] * missing
    return w[:m, None] * missing + w[m:, None]


def n_aggregator_features(m: int, kind: str) -> int:
    return 2 * m if kind == "both" else m


def mean_logits(R_hat: np.ndarray) -> np.ndarray:
    """Logits of the mean aggregator: logit(clip(mean_u R_hat[u, i])); (m, k) -> (k,)."""
    p = np.clip(R_hat.mean(axis=0), 1e-6, 1.0 - 1e-6)
    return np.log(p) - np.log1p(-p)


def cf_value(
    fit: float, sq_norms: float, n_observed: int, sup: float, *, rho: float, lambda_reg: float
) -> ObjectiveValue:
    """L_CF from its parts: the one place where the objective is assembled.

    L_recon = (fit + lambda sq_norms) / |Omega| and L_CF = rho L_recon + (1 - rho) L_sup.
    Every NumPy path and every backend (which only sum ``fit`` and |Y|^2 over their blocks)
    goes through here; the PyTorch trainer has an autograd twin tested equal.

    Parameters
    ----------
    fit : float
        sum over Omega of c_ui (r_ui - x_u^T y_i)^2.
    sq_norms : float
        |X|_F^2 + |Y|_F^2.
    n_observed : int
        |Omega| (at least 1 is used).
    sup : float
        L_sup (see :func:`supervised_term`); 0 without labels.
    rho, lambda_reg : float

    Returns
    -------
    ObjectiveValue
    """
    recon = (fit + lambda_reg * sq_norms) / max(int(n_observed), 1)
    return ObjectiveValue(rho * recon + (1.0 - rho) * sup, recon, sup)


def supervised_term(
    R_hat,
    R,
    y,
    s,
    w,
    b,
    *,
    focal_gamma=0.0,
    aggregator_l2=0.0,
    aggregator_input="reconstruction",
) -> float:
    """L_sup on the labeled columns.

    Parameters
    ----------
    R_hat : ndarray of shape (m, n_L)
        Reconstruction X^T Y_L of the labeled columns.
    R : ndarray of shape (m, n_L)
        Their predictions, NaN where missing.
    y, s : ndarray of shape (n_L,)
        Labels 0/1 and class weights.
    w : ndarray of shape (m,) (2m under aggregator_input='both') or None
        None: the mean aggregator (b ignored).
    b : float
    focal_gamma, aggregator_l2 : float
    aggregator_input : {'reconstruction', 'filled', 'both'}

    Returns
    -------
    float (0.0 when n_L = 0)
    """
    if y.shape[0] == 0:
        return 0.0
    Z = aggregator_features(R_hat, R, aggregator_input)
    return supervised_from_features(
        Z, y, s, w, b, focal_gamma=focal_gamma, aggregator_l2=aggregator_l2
    )


def supervised_from_features(Z, y, s, w, b, *, focal_gamma=0.0, aggregator_l2=0.0) -> float:
    """L_sup from the aggregator's inputs Z (``aggregator_features``) of the labeled columns.

    :func:`supervised_term` is this after forming Z; a loop that already holds Z (it fitted
    the aggregator on it) calls this directly. Z : (m, n_L) (2m under 'both'); y, s :
    (n_L,); w : (m,) or None (the mean aggregator); returns 0.0 when n_L = 0.
    """
    if y.shape[0] == 0:
        return 0.0
    z = mean_logits(Z) if w is None else aggregator_logits(Z, w, b)
    return supervised_loss(z, y, s, focal_gamma, w, aggregator_l2)


def cf_objective(
    R: np.ndarray,
    C: np.ndarray,
    labels: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    w: np.ndarray | None,
    b: float,
    *,
    rho: float,
    lambda_reg: float,
    use_class_weights: bool = True,
    focal_gamma: float = 0.0,
    aggregator_l2: float = 0.0,
    aggregator_input: str = "reconstruction",
) -> ObjectiveValue:
    """L_CF at the given parameters.

    Parameters
    ----------
    R : ndarray of shape (m, n), NaN where missing
    C : ndarray of shape (m, n), confidence, zero where missing
    labels : ndarray of shape (n,), 0/1/NaN
    X : ndarray of shape (d, m)
    Y : ndarray of shape (d, n)
    w : ndarray of shape (m,) (2m under aggregator_input='both') or None
        Aggregator weights; None means the mean aggregator (b is then ignored).
    b : float
    aggregator_input : {'reconstruction', 'filled', 'both'}
        What the aggregator sees (see :func:`aggregator_features`).
    """
    observed = ~np.isnan(R)
    E = np.where(observed, np.nan_to_num(R) - X.T @ Y, 0.0)
    fit = float(np.sum(C * E * E))
    lab = ~np.isnan(labels)
    y = labels[lab]
    sup = supervised_term(
        X.T @ Y[:, lab],
        R[:, lab],
        y,
        class_weights(y, use_class_weights),
        w,
        b,
        focal_gamma=focal_gamma,
        aggregator_l2=aggregator_l2,
        aggregator_input=aggregator_input,
    )
    sq_norms = float(np.sum(X * X)) + float(np.sum(Y * Y))
    return cf_value(fit, sq_norms, int(observed.sum()), sup, rho=rho, lambda_reg=lambda_reg)
