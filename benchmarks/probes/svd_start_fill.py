"""Probe (the SVD start): which fill of the missing cells gives the best start.

The SVD start needs a complete matrix F to decompose. Candidates for a missing r_ui: the
classifier's observed mean (row), the instance's observed mean (col), the two-way additive
fit (row + col - the column's mean of row means, clipped to [0, 1]), and zeros scaled by
1 / (observed share) (the spectral start of matrix completion). Each starts plain weighted
ALS (uniform confidence on the observed cells, lambda 0.01, rank 2, written out here in
NumPy so that nothing but the start differs) on als_extrapolation.py's real-data matrices
in the three missing regimes; 'random_long' is the random start run for 1,500 sweeps.
Printed per matrix: sweeps to the relative-change rule (1e-3) / final objective over the
best any start reached; then the median, the maximum and how many ended above 1.01.

    PYTHONPATH=src python benchmarks/probes/svd_start_fill.py \
        breast_cancer,pima,biopsy,birthwt,digits,spam7
"""

import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, "benchmarks")
from als_extrapolation import REGIMES, pool_R

from cfensemble.synthetic import apply_missingness

LAM = 0.01


def run(R0, M, d, sweeps, X0=None, seed=0, tol=1e-3):
    # Weighted ALS: x_u = (Y M_u Y^T + lambda I)^-1 Y M_u r_u, y_i likewise; from X0 (or a
    # random X), Y first. Returns (sweep the rule held, final objective).
    m, n = R0.shape
    I = LAM * np.eye(d)

    def ystep(X):
        A = np.einsum("dm,em,mn->nde", X, X, M) + I
        return np.linalg.solve(A, (X @ (M * R0)).T[..., None])[..., 0].T

    def xstep(Y):
        A = np.einsum("dn,en,mn->mde", Y, Y, M) + I
        return np.linalg.solve(A, (Y @ (M * R0).T).T[..., None])[..., 0].T

    def f(X, Y):
        E = R0 - X.T @ Y
        return float(np.sum(M * E * E)) + LAM * (np.sum(X * X) + np.sum(Y * Y))

    X = 0.1 * np.random.RandomState(seed).standard_normal((d, m)) if X0 is None else X0
    Y = ystep(X)
    prev, stop = f(X, Y), None
    for it in range(1, sweeps + 1):
        X = xstep(Y)
        Y = ystep(X)
        J = f(X, Y)
        if stop is None and abs(prev - J) <= tol * prev:
            stop = it
        prev = J
    return stop, J


def svd_X(F, d):
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    return (U[:, :d] * np.sqrt(s[:d])).T


out = {}
for name in sys.argv[1].split(","):
    R, _ = pool_R(name)
    for reg, kw in REGIMES.items():
        if kw is None:
            continue
        Rm = apply_missingness(R, random_state=0, **kw)
        M = (~np.isnan(Rm)).astype(float)
        R0 = np.nan_to_num(Rm)
        mu_r = (M * R0).sum(1) / M.sum(1)
        mu_c = (M * R0).sum(0) / np.maximum(M.sum(0), 1)
        mr_c = (M * mu_r[:, None]).sum(0) / np.maximum(M.sum(0), 1)
        fills = {
            "row": np.where(M > 0, R0, mu_r[:, None]),
            "col": np.where(M > 0, R0, mu_c[None, :]),
            "twoway": np.where(M > 0, R0, np.clip(mu_r[:, None] + (mu_c - mr_c)[None, :], 0, 1)),
            "zero_scaled": R0 / M.mean(),
        }
        res = {"random_long": run(R0, M, 2, 1500)}
        for k, F in fills.items():
            res[k] = run(R0, M, 2, 200, X0=svd_X(F, 2))
        best = min(v[1] for v in res.values())
        for k, v in res.items():
            out.setdefault(k, []).append(v[1] / best)
        cells = " ".join(f"{k}:{v[0]}/{v[1] / best:.4f}" for k, v in res.items())
        print(f"{name:13s} {reg:12s} {cells}", flush=True)
for k, v in out.items():
    v = np.array(v)
    print(k, "median", np.median(v).round(4), "max", v.max().round(4), "n>1.01", (v > 1.01).sum())
