"""CFEnsembleTrainer: label-aware ALS and variable projection, one loop each, any backend.

Label-aware ALS is the fast approximation of the original CF-Ensemble formulation (the
paper's objective this library started from); varpro minimizes the exact projected L_CF.
Each loop runs once, whatever the backend: it asks a backend (``cfensemble._registry``:
in-memory NumPy or Dask) for every O(n) quantity and keeps only O(m d) state itself.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from cfensemble._parallel import blas_limited, check_n_jobs, effective_threads, torch_threads
from cfensemble._params import store_params
from cfensemble._registry import BACKENDS, NUMPY_SOLVERS, backend_class
from cfensemble._validation import (
    check_device,
    check_dtype,
    check_option,
    check_scalar,
    warn_external,
)
from cfensemble.aggregators import fit_weighted_logistic
from cfensemble.confidence import label_aware, label_aware_strength
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InvalidParameterError, NonFiniteError
from cfensemble.objective import (
    ObjectiveValue,
    aggregator_features,
    cf_value,
    class_weights,
    n_aggregator_features,
    supervised_from_features,
)
from cfensemble.optimization._als import (
    DEFAULT_CHUNK,
    EXTRAPOLATION,
    INITS,
    next_extrapolation,
    numba_available,
    start_factors,
)
from cfensemble.optimization._base import BaseCFTrainer, logger
from cfensemble.optimization._varpro import minimize_projected

LINEAR_SOLVERS = ("cholesky", "cg")


class Fixed(NamedTuple):
    """What the loops read besides the backend: the labeled columns and |Omega|.

    R_L : ndarray of shape (m, n_L), their predictions, NaN where missing
    y, s : ndarray of shape (n_L,), labels and class weights
    n_observed : int, |Omega|
    missing_L : ndarray of bool, shape (m, n_L), np.isnan(R_L) (formed once, read every sweep)
    """

    R_L: np.ndarray
    y: np.ndarray
    s: np.ndarray
    n_observed: int
    missing_L: np.ndarray


DTYPES = ("float64", "float32")


class CFEnsembleTrainer(BaseCFTrainer):
    """CF-Ensemble by alternating least squares or by variable projection.

    Parameters
    ----------
    n_classifiers : int, optional
        m, the number of rows of R; checked against R in ``fit`` when given (R carries it:
        ``n_classifiers_`` after fit).
    latent_dim : int or 'auto', default='auto'
        d, the rank of the factorization. 'auto': chosen from the data without labels
        (``cfensemble.rank.select_rank``: hold out 10% of the observed cells twice, fit each
        candidate rank on the rest, keep the smallest rank within one standard error of the
        lowest held-out weighted error; candidates 2 .. min(m - 1, 10) from m = 4 on: rank 1
        lost 0.01-0.02 PR-AUC on real data with cells missing at random or by block,
        benchmarks/results/defaults_probe.md). The rank used is ``latent_dim_``. d >= m is
        full rank (reproduces R): a warning says so.
    rho : float in [0, 1] or None, default=None
        Weight of reconstruction against supervision in L_CF. For ``solver='als'`` it sets
        the label-aware modulation strength alpha_eff = 2 (1 - rho) alpha (rho = 1: pure
        weighted factorization with the base confidence). None: 1.0 for both solvers (at
        0.5 varpro's supervised term overfit X through the missing cells and lost
        0.01-0.02 PR-AUC on real data with missing cells; ALS's label-aware confidence at
        0.5 lost 0.0005-0.0015 to 1.0 with aggregator='auto', benchmarks/results/
        defaults_probe.md section 9). The value used is ``rho_``.
    lambda_reg : float >= 0, default=0.01
        L2 penalty lambda on both factor matrices (part of L_recon).
    max_iter : int >= 1, default=100
        ALS sweeps, or L-BFGS iterations for varpro.
    tol : float or None, default=None
        ALS: stop when the relative change of the (label-aware) weighted squared error per
        sweep falls below tol (None: 1e-3; from the SVD start that stopped within 1% of the
        best optimum found in 20 of 24 real-data fits, benchmarks/results/als_init.md;
        each sweep extrapolates the classifier factors, see the solver guide).
        varpro: L-BFGS stops when the relative change of J falls below tol (None: 1e-6).
    use_label_aware_confidence : bool, default=True
        ALS only: modulate the base confidence with labels (see ``confidence.label_aware``)
        when rho < 1; at rho = 1 (the default) the modulation strength is zero.
    label_aware_alpha : float >= 0, default=1.0
        Strength alpha of the label-aware modulation.
    solver : {'als', 'varpro'}, default='als'
        Label-aware ALS (fast approximation) or variable projection (exact projected L_CF).
    gtol : float, default=1e-6
        varpro: stop when the largest gradient entry falls below gtol.
    n_init_sweeps : int, default=5
        varpro: reconstruction-only ALS sweeps that initialize X before L-BFGS.
    init : {'svd', 'random'}, default='svd'
        Initial factors of the fit. 'svd': the balanced rank-d SVD factors of R with each
        missing cell at the mean of its instance's observed cells (``_als.svd_factors``);
        ALS then meets its stopping rule in a few sweeps. 'random': N(0, 0.1^2) entries,
        the earlier default; from them ALS spends most of its sweeps moving scale between
        X and Y and often stops at max_iter (benchmarks/results/als_init.md). The rank
        search of ``latent_dim='auto'`` keeps its random start (``select_rank``).
    confidence : {'uniform', 'certainty', 'calibration', 'adaptive'} or callable
        Base confidence (default 'uniform'), used unless ``EnsembleData`` carries a C of
        the user's.
    aggregator : {'auto', 'weighted', 'shrinkage', 'mean'}, default='auto'
        'weighted': class-weighted logistic regression on the aggregator input (fitted to
        convergence). 'shrinkage': the same with the weights shrunk toward equal weights,
        strength by empirical Bayes (``aggregators.fit_shrinkage_logistic``). 'mean': the
        average of the input (observed cells, missing ones reconstructed). 'auto': the
        average of the mean, logistic stacking on logits and missing-cell indicators, and
        the best single classifier on the labeled instances, moving toward the mean below
        20 labeled instances of the smaller class (``aggregators.fit_auto_aggregator``).
        Whatever the choice, the fit loop's supervised term uses the weighted aggregator.
    aggregator_input : {'filled', 'reconstruction', 'both'}, default='filled'
        What the aggregator sees: the observed predictions with missing cells filled from
        R_hat (on complete R this is stacking on R), R_hat alone (the choice of the original
        CF-Ensemble formulation), or both stacked. 'filled' measured best on missing cells
        and ties stacking on complete R (benchmarks/results/), while R_hat alone loses to
        stacking there.
    aggregator_l2 : float, default=1e-3
        L2 penalty on the aggregator weights (part of L_sup).
    use_class_weights : bool, default=True
        Balanced class weights in L_sup.
    focal_gamma : float >= 0, default=0.0
        Focal-loss exponent of L_sup (0: binary cross-entropy).
    chunk_size : int, default=4096
        Instances per batched solve (memory is O(chunk_size d^2)).
    backend : {'numpy', 'dask', 'torch'}, default='numpy'
        'dask': the instance axis is cut into blocks held on a Dask cluster (see
        ``cfensemble.distributed``); same results as 'numpy' to float tolerance.
        'torch': R, C and Y held as torch tensors on ``device`` (a GPU), the half-steps
        and varpro's projection, J and gradient computed there in blocks
        (``cfensemble.distributed._torch_backend``); same results as 'numpy' to float
        tolerance in float64. Needs the ``torch`` extra.
    device : None, 'auto', 'cpu', 'cuda' or 'cuda:<index>', default=None
        backend='torch' only: the torch device (None or 'auto', as in
        ``CFEnsemblePyTorchTrainer``: CUDA when available, else the CPU). The one used is
        ``device_``.
    dask_client : distributed.Client, str or None
        backend='dask': a client or scheduler address; None: the active client, else a
        LocalCluster on 127.0.0.1.
    dask_block_size : int, optional
        backend='dask': instances per block (default: n / (2 workers), at least 1024).
    linear_solver : {'cholesky', 'cg'}, default='cholesky'
        ALS half-steps: exact batched Cholesky, or ``cg_steps`` warm-started conjugate
        gradient steps (approximate, cheaper per sweep). varpro always solves exactly.
    cg_steps : int, default=3
        Conjugate-gradient steps per half-step with linear_solver='cg'.
    dtype : {'float64', 'float32'} or numpy dtype, default='float64'
        ALS factor precision (float32 halves memory traffic; the objective stays float64).
        varpro needs float64 except with backend='torch' (float32 there: faster on GPUs,
        the gradient carries float32 rounding).
    n_jobs : int or None, default=None
        Threads of the compiled ALS/varpro kernels (``backend='numpy'``; fold-in at
        ``predict(R_new)`` too), scikit-learn's convention: None is 1 unless inside a
        ``joblib.parallel_backend`` context, -1 every core. BLAS/OpenMP pools are held at
        one thread while the kernels' threads run, so they do not compete. Results do not
        depend on it beyond float rounding.
        ``backend='dask'`` runs one thread per task (the cluster is the parallelism).
        ``backend='torch'``: torch's intra-op threads during the fit loop when given
        (restored after); None leaves torch's own setting.
    random_state : int, RandomState or None, default=None
        Draws the initial factors (X first, then Y; the same draws in every trainer).
    verbose : bool, default=False
        Log L_CF and its parts every iteration (logger "cfensemble", level INFO).
    callback : callable or None, default=None
        ``callback(iteration, loss)``, called after every iteration with L_CF.

    Attributes
    ----------
    X_ : ndarray of shape (latent_dim, n_classifiers)
        Classifier factors.
    Y_ : ndarray of shape (latent_dim, n_instances)
        Instance factors of the fitted columns.
    w_ : ndarray of shape (n_classifiers,) (2 n_classifiers under aggregator_input='both')
        Aggregator weights.
    b_ : float
        Aggregator intercept.
    latent_dim_ : int
        The rank used (``latent_dim``, or the one 'auto' chose).
    rank_candidates_, rank_errors_ : ndarray
        latent_dim='auto': the ranks tried and their held-out weighted errors.
    rho_ : float
        The rho used (``rho``, or the solver's default when None).
    shrinkage_ : float
        aggregator='shrinkage': the strength toward equal weights (0: none, 1: equal).
    auto_w_, auto_b_, auto_single_, auto_mix_
        aggregator='auto': the stacking part's weights and intercept for columns with
        every classifier observed, the best single classifier and the blend's mixing
        weight t.
    auto_patterns_, auto_pattern_w_, auto_pattern_b_ : ndarray
        aggregator='auto': the missingness patterns (k, m), True = observed, that have a
        stacking model of their own (reduced-feature models), their weights (k, len(auto_w_))
        and intercepts (k,).
    C_ : ndarray of shape (n_classifiers, n_instances)
        The base confidence used (in ``dtype`` on the NumPy backend, else float64; a
        user's C as given).
    C_label_aware_ : ndarray of shape (n_classifiers, n_instances)
        solver='als': the label-aware confidence the half-steps used (in ``dtype``).
    confidence_ : cfensemble.confidence.Confidence
        The fitted confidence strategy (fold-in uses it on new columns).
    history_ : dict of lists
        'combined' (L_CF), 'recon', 'sup', 'time': one entry per iteration (varpro: one
        entry, the starting point, when L-BFGS stopped there, ``n_iter_ = 0``).
    n_iter_ : int
        ALS sweeps or L-BFGS iterations run.
    converged_ : bool
        Whether the stopping rule (tol, gtol) stopped the loop before max_iter.
    optimizer_message_ : str
        solver='varpro': L-BFGS's final message.
    device_ : str
        backend='torch': the torch device used.
    n_classifiers_ : int
        m, the rows of the fitted R.
    n_instances_ : int
        n, the columns of the fitted R.

    Examples
    --------
    Defaults everywhere: the rank is chosen from held-out cells, rho = 1 (reconstruction
    alone shapes the factors; the aggregator is fitted to them).

    >>> from cfensemble.data import EnsembleData
    >>> from cfensemble.optimization import CFEnsembleTrainer
    >>> from cfensemble.synthetic import make_ensemble
    >>> s = make_ensemble(n_classifiers=8, n_instances=400, missing_rate=0.3, random_state=0)
    >>> tr = CFEnsembleTrainer(random_state=0).fit(EnsembleData(s.R, s.labels))
    >>> tr.n_classifiers_, tr.latent_dim_, tr.rho_
    (8, 2, 1.0)
    >>> tr.predict().shape           # every fitted instance, the unlabeled ones too
    (400,)
    >>> tr.predict(s.R[:, :5]).shape  # new columns (NaN allowed) by fold-in
    (5,)
    >>> CFEnsembleTrainer(rho=0.5, random_state=0).fit(s.data).rho_  # label-aware ALS
    0.5
    """

    def __init__(
        self,
        n_classifiers: int | None = None,
        latent_dim="auto",
        *,
        rho: float | None = None,
        lambda_reg: float = 0.01,
        max_iter: int = 100,
        tol: float | None = None,
        use_label_aware_confidence: bool = True,
        label_aware_alpha: float = 1.0,
        solver: str = "als",
        gtol: float = 1e-6,
        n_init_sweeps: int = 5,
        init: str = "svd",
        confidence="uniform",
        aggregator: str = "auto",
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
        device: str | None = None,
        n_jobs: int | None = None,
    ):
        store_params(self, locals())

    def _validate_params(self) -> None:
        super()._validate_params()
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        if self.tol is not None:
            check_scalar(self.tol, "tol", low=0.0)
        check_scalar(self.gtol, "gtol", low=0.0)
        check_scalar(self.label_aware_alpha, "label_aware_alpha", low=0.0)
        check_scalar(self.n_init_sweeps, "n_init_sweeps", kind=numbers.Integral, low=0)
        check_option(self.solver, "solver", NUMPY_SOLVERS)
        check_option(self.init, "init", INITS)
        check_option(self.backend, "backend", tuple(BACKENDS))
        check_option(self.linear_solver, "linear_solver", LINEAR_SOLVERS)
        dtype = check_dtype(self.dtype, "dtype", DTYPES)
        check_scalar(self.cg_steps, "cg_steps", kind=numbers.Integral, low=1)
        check_n_jobs(self.n_jobs, "n_jobs")
        if self.dask_block_size is not None:
            check_scalar(self.dask_block_size, "dask_block_size", kind=numbers.Integral, low=1)
        self._validate_torch_params()
        exact = dtype == "float64" or self.backend == "torch"
        if self.solver == "varpro" and (self.linear_solver != "cholesky" or not exact):
            raise InvalidParameterError(
                "solver='varpro' needs exact float64 solves (its gradient assumes Y = Y*(X)): "
                f"got linear_solver={self.linear_solver!r}, dtype={self.dtype!r}"
            )
        if self.backend == "dask" and (self.linear_solver != "cholesky" or dtype != "float64"):
            raise InvalidParameterError(
                "backend='dask' supports linear_solver='cholesky' with dtype='float64', got "
                f"linear_solver={self.linear_solver!r}, dtype={self.dtype!r}"
            )
        if self.solver == "varpro" and self.aggregator == "mean":
            raise InvalidParameterError(
                "aggregator must be 'auto', 'weighted' or 'shrinkage' with solver='varpro' (the "
                "projected objective optimizes the aggregator's weights), got aggregator='mean'; "
                "for the mean of the filled predictions use solver='als' (CLI: --solver als)"
            )

    def _validate_torch_params(self) -> None:
        """device: its form, and only with backend='torch' (no torch import, no CUDA check:
        a saved model loads anywhere; ``fit`` checks that the device exists)."""
        check_device(self.device)
        if self.device is not None and self.backend != "torch":
            raise InvalidParameterError(
                f"device={self.device!r} needs backend='torch', got backend={self.backend!r}"
            )
        if self.backend == "torch" and self.linear_solver != "cholesky":
            raise InvalidParameterError(
                "backend='torch' supports linear_solver='cholesky', got "
                f"linear_solver={self.linear_solver!r}"
            )

    # ------------------------------------------------------------------ the loops
    def _fit(self, data: EnsembleData, C: np.ndarray, rng, params: dict) -> None:
        m, d = data.n_classifiers, params["latent_dim"]
        X, Y = start_factors(self.init, data.R, data.observed, d, rng)
        lab = data.labeled_idx
        y = data.labels[lab]
        s = class_weights(y, self.use_class_weights)
        # What the loops read besides the backend: small, held here (R may be a dask array).
        R_L = np.asarray(data.R[:, lab])
        fixed = Fixed(R_L, y, s, int(data.observed.sum()), np.isnan(R_L))
        w, b = np.zeros(n_aggregator_features(m, self.aggregator_input)), 0.0
        Ct = None
        if self.solver == "als":
            # The user's (or strategy's) C is modulated, never replaced.
            Ct = self._label_aware(data, C)
            self.C_label_aware_ = Ct
        be = self._backend(data, C, Ct, fixed)
        if self.backend == "torch":
            self.device_ = be.device
        try:
            be.set_Y(Y)
            del Y  # the backend holds it (in its working dtype): no second (d, n) copy
            loop = self._fit_als if self.solver == "als" else self._fit_varpro
            # torch runs its own thread pool (and OpenMP): n_jobs, when given, sets it; the
            # BLAS limit would throttle it.
            limit = (
                torch_threads(self.n_jobs)
                if self.backend == "torch"
                else blas_limited(self._loop_blas_threads())
            )
            with limit:
                X, w, b, hit_max_iter = loop(be, fixed, X, w, b)
            Y = be.gather_Y()
            if not (np.isfinite(X).all() and np.isfinite(Y).all() and np.isfinite(w).all()):
                # varpro with lambda_reg = 0 and missing cells: singular systems, NaN factors
                # (the ALS loop checks every sweep and stops sooner).
                # float32: a far L-BFGS trial step (|X| ~ 10^4 at n = 10^6 on a GPU) once
                # left X^T X indefinite in float32 (gpu.md); the torch backend now solves
                # the small systems in float64, but float32 sums can still break down.
                hint = (
                    "; or use dtype='float64' (float32 can lose positive definiteness)"
                    if np.dtype(self.dtype) == np.float32
                    else ""
                )
                raise NonFiniteError(
                    f"{self.solver} produced non-finite factors; raise lambda_reg "
                    f"(now {self.lambda_reg}){hint}"
                )
            self.X_, self.Y_, self.w_, self.b_ = X, Y, w, b
        finally:
            be.close()
        if hit_max_iter:
            warn_external(
                f"{self.solver} did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self._tol}); raise max_iter or tol",
                ConvergenceWarning,
            )

    def _default_rho(self) -> float:
        # Measured on the real-data benchmark (benchmarks/results/real_data.md): varpro's
        # supervised term overfits X through the missing cells at rho=0.5
        # (defaults_probe.md section 1), and ALS's label-aware confidence at rho=0.5 lost
        # to rho=1 with aggregator='auto' in every missing regime (280 paired folds each).
        # rho=1 also makes labeled and unlabeled columns' fills the same way.
        return 1.0

    def _confidence_dtype(self):
        # float32 on the in-memory backend: the half-steps read C in the working dtype, so
        # a float64 C would be a second (m, n) copy, twice R's float32 size (big_fit.md).
        return np.dtype(self.dtype) if self.backend == "numpy" else np.float64

    def _label_aware(self, data, C):
        alpha = self.label_aware_alpha if self.use_label_aware_confidence else 0.0
        alpha_eff = label_aware_strength(alpha, self.rho_)
        if alpha_eff == 0:
            return C
        if isinstance(C, np.ndarray) and self.backend == "numpy":
            # In the working dtype: the in-memory backend uses it as it is (float32: no
            # float64 copy of R's size besides C).
            return label_aware(C, data.R, data.labels, alpha_eff, dtype=self.dtype)
        return label_aware(C, data.R, data.labels, alpha_eff)

    def _n_threads(self) -> int:
        """Threads of this fit: ``n_jobs`` resolved (``cfensemble._parallel``)."""
        return effective_threads(self.n_jobs)

    def _loop_blas_threads(self) -> int:
        """BLAS/OpenMP threads while the loop runs.

        ALS on the compiled kernels: 1. The kernels hold the n_jobs threads, and the loop's
        own BLAS calls (aggregator refit, L_sup: O(m d n_L)) are small next to them; a BLAS
        pool left at several threads spins between those calls and competes with the
        kernels' threads (measured on a shared 2-core machine under load: a fit() sweep at
        n_jobs=2 cost 2-5x the CPU time of n_jobs=1 with BLAS at 2 threads, the same with
        BLAS at 1). The price: the refit runs on one thread whatever n_jobs (about 17% of a
        one-thread sweep at m=15, n=10^5, d=20, half labeled). Where BLAS does the
        heavy work (CG half-steps, NumPy/LAPACK fallback, varpro's full-width products):
        n_jobs threads.
        """
        compiled = self.linear_solver == "cholesky" and numba_available()
        return 1 if self.solver == "als" and compiled else self._n_threads()

    def _backend(self, data, C, Ct, fixed):
        """The backend named by ``backend``, holding R0, C, C~ and the labeled columns."""
        if self.backend == "dask":
            options = {"client": self.dask_client, "block_size": self.dask_block_size}
        elif self.backend == "torch":
            options = {"device": self.device, "dtype": self.dtype}
        else:
            options = {
                "chunk_size": self.chunk_size,
                "linear_solver": self.linear_solver,
                "cg_steps": self.cg_steps,
                "dtype": self.dtype,
                "n_threads": self._n_threads(),
            }
        # The in-memory backend holds R0 in the working dtype: written in it directly.
        R0 = data.R_filled(0.0) if self.backend == "dask" else data.R_filled(0.0, self.dtype)
        return backend_class(self.backend)(
            R0,
            C,
            Ct=Ct,
            labels=data.labels,
            sample_weight=fixed.s,
            R_labeled=fixed.R_L,
            **options,
        )

    @property
    def _tol(self) -> float:
        if self.tol is not None:
            return self.tol
        return 1e-3 if self.solver == "als" else 1e-6

    def _features(self, fx, X, Y_L):
        """The aggregator's inputs on the labeled columns, (m, n_L) (2m under 'both')."""
        R_hat = X.T @ Y_L
        if self.aggregator_input == "filled" and R_hat.dtype == np.float64:
            # aggregator_features' 'filled', in place: observed cells over R_hat.
            np.copyto(R_hat, fx.R_L, where=~fx.missing_L)
            return R_hat
        return aggregator_features(R_hat, fx.R_L, self.aggregator_input, missing=fx.missing_L)

    def _fit_aggregator(self, fx, Z, w, b):
        """Class-weighted logistic regression on the labeled columns' features Z, warm-started
        from the previous (w, b)."""
        if self.aggregator == "mean" or fx.y.size == 0:
            return w, b
        return fit_weighted_logistic(
            Z, fx.y, fx.s, l2=self.aggregator_l2, focal_gamma=self.focal_gamma, w0=w, b0=b
        )

    def _objective(self, fx, X, Z, w, b, fit, ysq) -> ObjectiveValue:
        """L_CF from the backend's sums (fit, |Y|^2) and the labeled columns' features Z."""
        sup = supervised_from_features(
            Z,
            fx.y,
            fx.s,
            None if self.aggregator == "mean" else w,
            b,
            focal_gamma=self.focal_gamma,
            aggregator_l2=self.aggregator_l2,
        )
        sq = float(np.sum(X * X)) + ysq
        return cf_value(fit, sq, fx.n_observed, sup, rho=self.rho_, lambda_reg=self.lambda_reg)

    def _fit_als(self, be, fx, X, w, b):
        """Label-aware ALS: alternate the half-steps with C~, refit the aggregator each sweep.

        Each sweep extrapolates the classifier factors (Ang and Gillis 2019): after the
        classifier step X_hat from the current Y, it tries X_e = X_hat + beta (X_hat - X)
        and solves the instance step from X_e; if that leaves f(X, Y) = sum c~ (r - x^T y)^2
        + lambda (|X|^2 + |Y|^2), the quantity the half-steps lower, above the previous
        sweep's, it solves the instance step from X_hat instead (plain ALS, which never
        raises f) and shrinks beta. So f falls every sweep, as in plain ALS, and where ALS
        creeps along a flat valley of f the steps lengthen: on real-data R (m = 8, 24 fits)
        it reached within 1% of varpro's optimum in half the sweeps of plain ALS (median
        ratio 0.50, benchmarks/results/als_extrapolation.md). Stops when the relative
        change of f falls below tol. Returns (X, w, b, hit max_iter).

        The history costs no pass over R of its own: the instance step returns the squared
        errors of its solution (``be.sq_error`` hands them back), and L_sup and the
        aggregator refit read only the labeled columns' features, formed once per sweep.
        """
        lam = self.lambda_reg
        prev = np.inf
        beta, cap = EXTRAPOLATION["beta0"], EXTRAPOLATION["cap0"]
        self.converged_ = False

        def instance_step(X):
            # y_i = (X C~_i X^T + lambda I)^-1 X C~_i r_i for every column; -> sums and f.
            be.update_instances(X, lam)
            fit, fit_t, ysq = be.sq_error(X)
            return fit, ysq, fit_t + lam * (float(np.sum(X * X)) + ysq)

        for it in range(1, self.max_iter + 1):
            # x_u = (Y C~_u Y^T + lambda I)^-1 Y C~_u r_u with Y from the previous sweep.
            X_hat = be.update_classifiers(lam, x0=X)
            if it == 1:
                X = X_hat
                fit, ysq, surrogate = instance_step(X)
            else:
                X_e = X_hat + beta * (X_hat - X)
                fit, ysq, surrogate = instance_step(X_e)
                accepted = bool(surrogate < prev)
                beta, cap = next_extrapolation(beta, cap, accepted)
                if accepted:
                    X = X_e
                else:
                    X = X_hat
                    fit, ysq, surrogate = instance_step(X)
            if not (np.isfinite(X).all() and np.isfinite(ysq)):
                raise NonFiniteError(
                    f"ALS produced non-finite factors; raise lambda_reg (now {lam})"
                )
            Z = self._features(fx, X, be.labeled_Y())
            w, b = self._fit_aggregator(fx, Z, w, b)
            self._record(it, self._objective(fx, X, Z, w, b, fit, ysq))
            self.n_iter_ = it
            if np.isfinite(prev) and abs(prev - surrogate) <= self._tol * max(abs(prev), 1e-300):
                self.converged_ = True
                break
            prev = surrogate
        return X, w, b, not self.converged_

    def _fit_varpro(self, be, fx, X, w, b):
        """Variable projection: reconstruction-only warm start, then L-BFGS over (X, w, b)
        on J(X, w, b) = L_CF(X, Y*(X), w, b), Y*(X) by the backend; returns as _fit_als."""
        lam = self.lambda_reg
        for _ in range(self.n_init_sweeps):  # reconstruction-only warm start
            X = be.update_classifiers(lam, label_aware=False)
            be.update_instances(X, lam, label_aware=False)
        w, b = self._fit_aggregator(fx, self._features(fx, X, be.labeled_Y()), w, b)
        cfg = {
            "rho": self.rho_,
            "lambda_reg": lam,
            "focal_gamma": self.focal_gamma,
            "aggregator_l2": self.aggregator_l2,
            "aggregator_input": self.aggregator_input,
            "n_observed": fx.n_observed,
            "n_labeled": int(fx.y.size),
        }
        X, w, b, res = minimize_projected(
            lambda X, w, b, with_grad: be.varpro_value_and_grad(X, w, b, cfg, with_grad=with_grad),
            X,
            w,
            b,
            max_iter=self.max_iter,
            ftol=self._tol,
            gtol=self.gtol,
            record=self._record,
        )
        be.update_instances(X, lam, label_aware=False)
        if self.rho_ == 1.0:
            # J does not depend on (w, b) at rho = 1: fit the aggregator to the final factors.
            w, b = self._fit_aggregator(fx, self._features(fx, X, be.labeled_Y()), w, b)
        self.n_iter_ = int(res.nit)
        self.converged_ = res.status == 0
        self.optimizer_message_ = str(res.message)
        logger.debug("varpro: %s after %d iterations", res.message, res.nit)
        return X, w, b, res.status == 1  # 1: L-BFGS stopped at max_iter
