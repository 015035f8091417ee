"""CFEnsembleTrainer: label-aware ALS (the seed's fast approximation) and variable projection."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from cfensemble._validation import check_dtype, check_option, check_scalar, warn_external
from cfensemble.aggregators import fit_weighted_logistic
from cfensemble.confidence import label_aware, label_aware_strength
from cfensemble.data import EnsembleData
from cfensemble.exceptions import NonFiniteError
from cfensemble.objective import (
    ObjectiveValue,
    aggregator_features,
    cf_objective,
    class_weights,
    n_aggregator_features,
)
from cfensemble.optimization._als import (
    DEFAULT_CHUNK,
    init_factors,
    update_classifiers,
    update_instances,
    weighted_sq_error,
)
from cfensemble.optimization._base import BaseCFTrainer, logger
from cfensemble.optimization._varpro import (
    VarproProblem,
    minimize_projected,
    varpro_value_and_grad,
)

SOLVERS = ("als", "varpro")
BACKENDS = ("numpy", "dask")
LINEAR_SOLVERS = ("cholesky", "cg")
DTYPES = ("float64", "float32")


class CFEnsembleTrainer(BaseCFTrainer):
    """CF-Ensemble by alternating least squares or by variable projection.

    Parameters
    ----------
    n_classifiers : int
        m, the number of rows of R.
    latent_dim : int, default=20
        d, the rank of the factorization. d >= m is full rank (reproduces R): a warning says so.
    rho : float in [0, 1], default=0.5
        Weight of reconstruction against supervision in L_CF. For ``solver='als'`` it sets
        the label-aware modulation strength alpha_eff = 2 (1 - rho) alpha (rho = 1: pure
        weighted factorization with the base confidence).
    lambda_reg : float >= 0, default=0.01
    max_iter : int >= 1, default=100
        ALS sweeps, or L-BFGS iterations for varpro.
    tol : float or None, default=None
        ALS: stop when the relative change of the (label-aware) weighted squared error per
        sweep falls below tol (None: 1e-3; ALS creeps slowly, and later sweeps barely move
        L_CF). varpro: L-BFGS stops when the relative change of J falls below tol
        (None: 1e-6).
    use_label_aware_confidence : bool, default=True
        ALS only: modulate the base confidence with labels (see ``confidence.label_aware``).
    label_aware_alpha : float >= 0, default=1.0
    solver : {'als', 'varpro'}, default='als'
    gtol : float, default=1e-6
        varpro: stop when the largest gradient entry falls below gtol.
    n_init_sweeps : int, default=5
        varpro: reconstruction-only ALS sweeps that initialize X before L-BFGS.
    confidence : {'uniform', 'certainty', 'calibration', 'adaptive'} or callable
        Base confidence, used unless ``EnsembleData`` carries a C of the user's.
    aggregator : {'weighted', 'mean'}
        'weighted': class-weighted logistic regression on R_hat (fitted to convergence).
    aggregator_input : {'filled', 'reconstruction', 'both'}, default='filled'
        What the aggregator sees: the observed predictions with missing cells filled from
        R_hat (on complete R this is stacking on R), R_hat alone (the seed's choice), or
        both stacked. 'filled' measured best on missing cells and ties stacking on
        complete R (benchmarks/results/), while R_hat alone loses to stacking there.
    aggregator_l2 : float, default=1e-3
        L2 penalty on the aggregator weights (part of L_sup).
    use_class_weights : bool, default=True
    focal_gamma : float >= 0, default=0.0
    chunk_size : int
        Instances per batched solve (memory is O(chunk_size d^2)).
    backend : {'numpy', 'dask'}, default='numpy'
        'dask': the instance axis is cut into blocks held on a Dask cluster (see
        ``cfensemble.distributed``); same results as 'numpy' to float tolerance.
    dask_client : distributed.Client, str or None
        backend='dask': a client or scheduler address; None: the active client, else a
        LocalCluster on 127.0.0.1.
    dask_block_size : int, optional
        backend='dask': instances per block (default: n / (2 workers), at least 1024).
    linear_solver : {'cholesky', 'cg'}, default='cholesky'
        ALS half-steps: exact batched Cholesky, or ``cg_steps`` warm-started conjugate
        gradient steps (approximate, cheaper per sweep). varpro always solves exactly.
    cg_steps : int, default=3
    dtype : {'float64', 'float32'}, default='float64'
        ALS factor precision (float32 halves memory traffic; the objective stays float64).
    random_state, verbose, callback
        ``callback(iteration, loss)`` is called after every iteration with L_CF.

    Attributes
    ----------
    X_ : ndarray of shape (latent_dim, n_classifiers)
    Y_ : ndarray of shape (latent_dim, n_instances)
    w_ : ndarray of shape (n_classifiers,)   b_ : float
    C_ : ndarray of shape (n_classifiers, n_instances), the base confidence used
    history_ : dict of lists 'combined', 'recon', 'sup', 'time' (one entry per iteration)
    n_iter_ : int    converged_ : bool
    """

    def __init__(
        self,
        n_classifiers: int,
        latent_dim: int = 20,
        rho: float = 0.5,
        lambda_reg: float = 0.01,
        max_iter: int = 100,
        tol: float | None = None,
        use_label_aware_confidence: bool = True,
        label_aware_alpha: float = 1.0,
        *,
        solver: str = "als",
        gtol: float = 1e-6,
        n_init_sweeps: int = 5,
        confidence="certainty",
        aggregator: str = "weighted",
        aggregator_input: str = "filled",
        aggregator_l2: float = 1e-3,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        chunk_size: int = DEFAULT_CHUNK,
        random_state=None,
        verbose: bool = False,
        callback=None,
        backend: str = "numpy",
        dask_client=None,
        dask_block_size: int | None = None,
        linear_solver: str = "cholesky",
        cg_steps: int = 3,
        dtype: str = "float64",
    ):
        self.backend = backend
        self.dask_client = dask_client
        self.dask_block_size = dask_block_size
        self.linear_solver = linear_solver
        self.cg_steps = cg_steps
        self.dtype = dtype
        self.max_iter = max_iter
        self.tol = tol
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.solver = solver
        self.gtol = gtol
        self.n_init_sweeps = n_init_sweeps
        super().__init__(
            n_classifiers,
            latent_dim,
            rho,
            lambda_reg,
            confidence=confidence,
            aggregator=aggregator,
            aggregator_input=aggregator_input,
            aggregator_l2=aggregator_l2,
            use_class_weights=use_class_weights,
            focal_gamma=focal_gamma,
            chunk_size=chunk_size,
            random_state=random_state,
            verbose=verbose,
            callback=callback,
        )

    def _validate_params(self) -> None:
        super()._validate_params()
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        if self.tol is not None:
            check_scalar(self.tol, "tol", low=0.0)
        check_scalar(self.gtol, "gtol", low=0.0)
        check_scalar(self.label_aware_alpha, "label_aware_alpha", low=0.0)
        check_scalar(self.n_init_sweeps, "n_init_sweeps", kind=numbers.Integral, low=0)
        check_option(self.solver, "solver", SOLVERS)
        check_option(self.backend, "backend", BACKENDS)
        check_option(self.linear_solver, "linear_solver", LINEAR_SOLVERS)
        dtype = check_dtype(self.dtype, "dtype", DTYPES)
        check_scalar(self.cg_steps, "cg_steps", kind=numbers.Integral, low=1)
        if self.dask_block_size is not None:
            check_scalar(self.dask_block_size, "dask_block_size", kind=numbers.Integral, low=1)
        if self.solver == "varpro" and (self.linear_solver != "cholesky" or dtype != "float64"):
            raise ValueError(
                "solver='varpro' needs exact float64 solves (its gradient assumes Y = Y*(X)): "
                f"got linear_solver={self.linear_solver!r}, dtype={self.dtype!r}"
            )
        if self.backend == "dask" and (self.linear_solver != "cholesky" or dtype != "float64"):
            raise ValueError(
                "backend='dask' supports linear_solver='cholesky' with dtype='float64', got "
                f"linear_solver={self.linear_solver!r}, dtype={self.dtype!r}"
            )
        if self.solver == "varpro" and self.aggregator != "weighted":
            raise ValueError(
                "aggregator must be 'weighted' with solver='varpro' (the projected objective "
                f"optimizes the aggregator's weights), got aggregator={self.aggregator!r}"
            )

    # ------------------------------------------------------------------ helpers
    def _objective_at(self, data, C, X, Y, w, b) -> ObjectiveValue:
        return cf_objective(
            data.R,
            C,
            data.labels,
            X,
            Y,
            None if self.aggregator == "mean" else w,
            b,
            rho=self.rho,
            lambda_reg=self.lambda_reg,
            use_class_weights=self.use_class_weights,
            focal_gamma=self.focal_gamma,
            aggregator_l2=self.aggregator_l2,
            aggregator_input=self.aggregator_input,
        )

    def _fit_aggregator(self, data, X, Y, y, s, w, b):
        lab = data.labeled_idx
        if self.aggregator == "mean" or lab.size == 0:
            return w, b
        return fit_weighted_logistic(
            aggregator_features(X.T @ Y[:, lab], data.R[:, lab], self.aggregator_input),
            y,
            s,
            l2=self.aggregator_l2,
            focal_gamma=self.focal_gamma,
            w0=w,
            b0=b,
        )

    def _fit(self, data: EnsembleData, C: np.ndarray, rng) -> None:
        m, n, d = data.n_classifiers, data.n_instances, self.latent_dim
        X, Y = init_factors(rng, d, m, n)
        lab = data.labeled_idx
        y = data.labels[lab]
        s = class_weights(y, self.use_class_weights)
        self.w_, self.b_ = np.zeros(n_aggregator_features(m, self.aggregator_input)), 0.0
        if self.backend == "dask":
            from cfensemble.distributed import _fit as dask_fit

            fit = dask_fit.fit_als if self.solver == "als" else dask_fit.fit_varpro
            return fit(self, data, C, X, Y, lab, y, s)
        if self.solver == "als":
            self._fit_als(data, C, X, Y, lab, y, s)
        else:
            self._fit_varpro(data, C, X, Y, lab, y, s)

    def _als_options(self, previous) -> dict:
        """Kernel options of the ALS half-steps (``previous``: the CG warm start)."""
        opts = {"chunk_size": self.chunk_size}
        if np.dtype(self.dtype) != np.float64:
            opts["dtype"] = np.dtype(self.dtype)
        if self.linear_solver == "cg":
            opts.update(method="cg", cg_steps=self.cg_steps, x0=previous)
        return opts

    @property
    def _tol(self) -> float:
        if self.tol is not None:
            return self.tol
        return 1e-3 if self.solver == "als" else 1e-6

    def _warn_not_converged(self) -> None:
        warn_external(
            f"{self.solver} did not converge in max_iter={self.max_iter} iterations "
            f"(tol={self._tol}); raise max_iter or tol",
            ConvergenceWarning,
        )

    # ------------------------------------------------------------------ ALS
    def _fit_als(self, data, C, X, Y, lab, y, s) -> None:
        R0 = data.R_filled(0.0)
        alpha_eff = (
            label_aware_strength(self.label_aware_alpha, self.rho)
            if self.use_label_aware_confidence
            else 0.0
        )
        # The user's (or strategy's) C is modulated, never replaced.
        Ct = label_aware(C, data.R, data.labels, alpha_eff) if alpha_eff > 0 else C
        self.C_label_aware_ = Ct
        w, b = self.w_, self.b_
        prev = np.inf
        self.converged_ = False
        for it in range(1, self.max_iter + 1):
            # x_u = (Y C~_u Y^T + lambda I)^-1 Y C~_u r_u, then y_i likewise with X fixed.
            X = update_classifiers(Y, R0, Ct, self.lambda_reg, **self._als_options(X))
            Y = update_instances(X, R0, Ct, self.lambda_reg, **self._als_options(Y))
            if not (np.isfinite(X).all() and np.isfinite(Y).all()):
                raise NonFiniteError(
                    f"ALS produced non-finite factors; raise lambda_reg (now {self.lambda_reg})"
                )
            w, b = self._fit_aggregator(data, X, Y, y, s, w, b)
            self._record(it, self._objective_at(data, C, X, Y, w, b))
            surrogate = weighted_sq_error(R0, Ct, X, Y, self.lambda_reg)
            self.n_iter_ = it
            if np.isfinite(prev) and abs(prev - surrogate) <= self._tol * max(abs(prev), 1e-300):
                self.converged_ = True
                break
            prev = surrogate
        self.X_, self.Y_, self.w_, self.b_ = X, Y, w, b
        if not self.converged_:
            self._warn_not_converged()

    # ------------------------------------------------------------------ varpro
    def _varpro_problem(self, data, C, lab, y, s) -> VarproProblem:
        return VarproProblem(
            R0=data.R_filled(0.0),
            C=C,
            labeled_idx=lab,
            y=y,
            s=s,
            n_observed=int(data.observed.sum()),
            rho=self.rho,
            lambda_reg=self.lambda_reg,
            focal_gamma=self.focal_gamma,
            aggregator_l2=self.aggregator_l2,
            chunk_size=self.chunk_size,
            aggregator_input=self.aggregator_input,
            R_labeled=data.R[:, lab],
        )

    def _fit_varpro(self, data, C, X, Y, lab, y, s) -> None:
        R0 = data.R_filled(0.0)
        for _ in range(self.n_init_sweeps):  # reconstruction-only warm start
            X = update_classifiers(Y, R0, C, self.lambda_reg, chunk_size=self.chunk_size)
            Y = update_instances(X, R0, C, self.lambda_reg, chunk_size=self.chunk_size)
        w, b = self._fit_aggregator(data, X, Y, y, s, self.w_, self.b_)
        problem = self._varpro_problem(data, C, lab, y, s)
        X, w, b, res = minimize_projected(
            lambda X, w, b, with_grad: varpro_value_and_grad(X, w, b, problem, with_grad=with_grad),
            X,
            w,
            b,
            max_iter=self.max_iter,
            ftol=self._tol,
            gtol=self.gtol,
            record=self._record,
        )
        Y = update_instances(X, R0, C, self.lambda_reg, chunk_size=self.chunk_size)
        if not (np.isfinite(X).all() and np.isfinite(Y).all() and np.isfinite(w).all()):
            # lambda_reg = 0 with missing cells leaves singular systems: NaN factors.
            raise NonFiniteError(
                f"varpro produced non-finite factors; raise lambda_reg (now {self.lambda_reg})"
            )
        if self.rho == 1.0:
            # J does not depend on (w, b) at rho = 1: fit the aggregator to the final factors.
            w, b = self._fit_aggregator(data, X, Y, y, s, w, b)
        self.X_, self.Y_, self.w_, self.b_ = X, Y, w, b
        self._finish_lbfgs(res)

    def _finish_lbfgs(self, res) -> None:
        """Store L-BFGS's outcome; warn when it stopped at max_iter."""
        self.n_iter_ = int(res.nit)
        self.converged_ = res.status == 0
        self.optimizer_message_ = str(res.message)
        logger.debug("varpro: %s after %d iterations", res.message, res.nit)
        if res.status == 1:
            self._warn_not_converged()
