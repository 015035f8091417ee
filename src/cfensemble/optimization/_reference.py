"""Slow, obviously correct per-row reference solvers, for tests and the speed benchmark."""

from __future__ import annotations

import numpy as np


def solve_factors_reference(F, T, W, lambda_reg):
    """One np.linalg.solve per column; same contract as ``_als.solve_factors``."""
    d = F.shape[0]
    Z = np.empty((d, T.shape[1]))
    for j in range(T.shape[1]):
        A = F @ np.diag(W[:, j]) @ F.T + lambda_reg * np.eye(d)
        Z[:, j] = np.linalg.solve(A, F @ (W[:, j] * T[:, j]))
    return Z


def update_instances_reference(X, R0, C, lambda_reg):
    return solve_factors_reference(X, R0, C, lambda_reg)


def update_classifiers_reference(Y, R0, C, lambda_reg):
    return solve_factors_reference(Y, R0.T, C.T, lambda_reg)
