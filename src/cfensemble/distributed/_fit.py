"""ALS and varpro fitting loops of ``CFEnsembleTrainer(backend='dask')``.

They mirror ``CFEnsembleTrainer._fit_als`` / ``_fit_varpro`` step for step (same
initialization, same aggregator fit, same stopping rules, same L_CF in ``history_``), with
every O(n) quantity computed on the cluster by :class:`DaskBackend`; the tests assert that
both backends give the same factors and losses to 1e-8.
"""

from __future__ import annotations

import logging

import numpy as np

from cfensemble.aggregators import fit_weighted_logistic
from cfensemble.confidence import label_aware, label_aware_strength
from cfensemble.exceptions import NonFiniteError
from cfensemble.objective import (
    ObjectiveValue,
    aggregator_features,
    aggregator_logits,
    mean_logits,
    supervised_loss,
)
from cfensemble.optimization._varpro import minimize_projected

from ._backend import DaskBackend

logger = logging.getLogger("cfensemble")


def _aggregator(trainer, data, X, Y_L, y, s, w, b):
    lab = data.labeled_idx
    if trainer.aggregator == "mean" or lab.size == 0:
        return w, b
    return fit_weighted_logistic(
        aggregator_features(X.T @ Y_L, data.R[:, lab], trainer.aggregator_input),
        y,
        s,
        l2=trainer.aggregator_l2,
        focal_gamma=trainer.focal_gamma,
        w0=w,
        b0=b,
    )


def _objective(trainer, data, fit, ysq, X, Y_L, y, s, w, b) -> ObjectiveValue:
    """cf_objective (objective.py) from the backend's sums and the labeled columns."""
    n_obs = max(int(data.observed.sum()), 1)
    recon = (fit + trainer.lambda_reg * (float(np.sum(X * X)) + ysq)) / n_obs
    sup = 0.0
    lab = data.labeled_idx
    if lab.size:
        Z = aggregator_features(X.T @ Y_L, data.R[:, lab], trainer.aggregator_input)
        weighted = trainer.aggregator != "mean"
        z = aggregator_logits(Z, w, b) if weighted else mean_logits(Z)
        sup = supervised_loss(
            z, y, s, trainer.focal_gamma, w if weighted else None, trainer.aggregator_l2
        )
    rho = trainer.rho
    return ObjectiveValue(rho * recon + (1.0 - rho) * sup, recon, sup)


def _backend(trainer, data, C, Ct, s):
    lab = data.labeled_idx
    return DaskBackend(
        data.R_filled(0.0),
        C,
        Ct=Ct,
        labels=data.labels,
        sample_weight=s,
        R_labeled=data.R[:, lab],
        client=trainer.dask_client,
        block_size=trainer.dask_block_size,
    )


def fit_als(trainer, data, C, X, Y, lab, y, s) -> None:
    """Label-aware ALS with the instance axis on a Dask cluster."""
    alpha_eff = (
        label_aware_strength(trainer.label_aware_alpha, trainer.rho)
        if trainer.use_label_aware_confidence
        else 0.0
    )
    Ct = label_aware(C, data.R, data.labels, alpha_eff) if alpha_eff > 0 else C
    trainer.C_label_aware_ = Ct
    be = _backend(trainer, data, C, Ct, s)
    try:
        be.set_Y(Y)
        w, b = trainer.w_, trainer.b_
        prev = np.inf
        lam = trainer.lambda_reg
        trainer.converged_ = False
        for it in range(1, trainer.max_iter + 1):
            X = be.update_classifiers(lam)
            be.update_instances(X, lam)
            Y_L = be.labeled_Y()
            fit, fit_t, ysq = be.sq_error(X)
            if not (np.isfinite(X).all() and np.isfinite(ysq)):
                raise NonFiniteError(
                    f"ALS produced non-finite factors; raise lambda_reg (now {lam})"
                )
            w, b = _aggregator(trainer, data, X, Y_L, y, s, w, b)
            trainer._record(it, _objective(trainer, data, fit, ysq, X, Y_L, y, s, w, b))
            surrogate = fit_t + lam * (float(np.sum(X * X)) + ysq)
            trainer.n_iter_ = it
            if np.isfinite(prev) and abs(prev - surrogate) <= trainer._tol * max(abs(prev), 1e-300):
                trainer.converged_ = True
                break
            prev = surrogate
        trainer.X_, trainer.Y_, trainer.w_, trainer.b_ = X, be.gather_Y(), w, b
    finally:
        be.close()
    if not trainer.converged_:
        trainer._warn_not_converged()


def fit_varpro(trainer, data, C, X, Y, lab, y, s) -> None:
    """Variable projection with J and its gradient summed over blocks on a Dask cluster."""
    be = _backend(trainer, data, C, None, s)
    lam = trainer.lambda_reg
    try:
        be.set_Y(Y)
        for _ in range(trainer.n_init_sweeps):  # reconstruction-only warm start
            X = be.update_classifiers(lam, label_aware=False)
            be.update_instances(X, lam, label_aware=False)
        w, b = _aggregator(trainer, data, X, be.labeled_Y(), y, s, trainer.w_, trainer.b_)
        cfg = {
            "rho": trainer.rho,
            "lambda_reg": lam,
            "focal_gamma": trainer.focal_gamma,
            "aggregator_l2": trainer.aggregator_l2,
            "aggregator_input": trainer.aggregator_input,
            "n_observed": int(data.observed.sum()),
            "n_labeled": int(lab.size),
        }
        X, w, b, res = minimize_projected(
            lambda X, w, b, with_grad: be.varpro_value_and_grad(X, w, b, cfg, with_grad=with_grad),
            X,
            w,
            b,
            max_iter=trainer.max_iter,
            ftol=trainer._tol,
            gtol=trainer.gtol,
            record=trainer._record,
        )
        be.update_instances(X, lam, label_aware=False)
        if trainer.rho == 1.0:
            w, b = _aggregator(trainer, data, X, be.labeled_Y(), y, s, w, b)
        trainer.X_, trainer.Y_, trainer.w_, trainer.b_ = X, be.gather_Y(), w, b
    finally:
        be.close()
    trainer._finish_lbfgs(res)
