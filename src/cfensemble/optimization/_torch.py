"""CF-Ensemble by joint gradient descent in PyTorch (the exact optimizer of the original
CF-Ensemble formulation, the paper's objective this library started from).

The loss is the one objective of docs/design.md, written once here in torch and checked against
:func:`cfensemble.objective.cf_objective` in the tests. Three formulations decide what the
aggregator sees and which parameters the supervised term may move:

``projected`` (default)
    Y is not a parameter: y_i = Y*(X)_i = A_i^-1 X C_i r_i with A_i = X C_i X^T + lambda I,
    the closed-form reconstruction optimum, computed by a differentiable batched Cholesky
    solve for every column alike. Gradient descent runs over (X, w, b) only and minimizes
    J(X, w, b) = rho L_recon(X, Y*(X)) + (1 - rho) L_sup(X^T Y*(X), w, b), the function that
    ``solver='varpro'`` minimizes with L-BFGS. Labeled and unlabeled columns are made the
    same way, so nothing leaks.
``detached``
    Y is a free parameter moved by the reconstruction term alone; the supervised term sees
    ``Y.detach()``, so supervision updates only what every instance shares (X, w, b).
    The value is still L_CF; the update is a game, not the gradient of one function.
``free``
    The original formulation's literal objective: every parameter gets every gradient. The labeled
    columns' y_i absorb their labels (train PR-AUC near 1, test far below averaging, see
    docs/design.md, "A trap in the literal objective"). Kept for fidelity and study.

Training is full batch: one epoch is one optimizer step on the whole objective. Early
stopping watches the training objective: after ``patience`` epochs without a decrease of
more than ``min_delta`` (absolute) below the best value seen, training stops, the parameters
with the best objective are kept and ``converged_`` is True. Reaching ``max_iter`` epochs
instead keeps the best parameters too and raises a ``ConvergenceWarning``.

torch is imported lazily: ``import cfensemble`` works without it, and constructing the
trainer without it raises an ImportError in ``fit`` that names the ``cfensemble[torch]`` extra.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from cfensemble._optional import import_optional
from cfensemble._parallel import check_n_jobs, torch_threads
from cfensemble._params import store_params
from cfensemble._validation import (
    check_device,
    check_dtype,
    check_option,
    check_scalar,
    resolve_device,
    warn_external,
)
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InvalidParameterError, NonFiniteError
from cfensemble.objective import ObjectiveValue, class_weights, n_aggregator_features
from cfensemble.optimization._als import (
    DEFAULT_CHUNK,
    INITS,
    start_factors,
    update_instances,
)
from cfensemble.optimization._base import BaseCFTrainer, logger

FORMULATIONS = ("projected", "detached", "free")
OPTIMIZERS = ("adam", "adamw", "sgd")
DTYPES = ("float32", "float64")


def _import_torch():
    return import_optional(
        "torch",
        "CFEnsemblePyTorchTrainer needs PyTorch: pip install cfensemble[torch] "
        "(or pip install torch)",
    )


# ---------------------------------------------------------------------- torch kernels
def torch_project(X, R0, C, lambda_reg: float):
    """Y*(X) in torch, differentiable in X: y_i = (X C_i X^T + lambda I)^-1 X C_i r_i.

    Parameters
    ----------
    X : tensor of shape (d, m)
    R0 : tensor of shape (m, n), zero where missing
    C : tensor of shape (m, n), zero where missing
    lambda_reg : float > 0 (A_i must be positive definite for the Cholesky factor)

    Returns
    -------
    Y : tensor of shape (d, n)
    """
    torch = _import_torch()
    d, m = X.shape
    n = R0.shape[1]
    # Khatri-Rao: A_flat = C^T G with G[u, (a, b)] = X[a, u] X[b, u], one GEMM for all columns.
    G = (X.T[:, :, None] * X.T[:, None, :]).reshape(m, d * d)
    A = (C.T @ G).reshape(n, d, d)
    A = A + lambda_reg * torch.eye(d, dtype=X.dtype, device=X.device)
    B = X @ (C * R0)  # (d, n)
    # LU solve: its backward is several times cheaper than Cholesky's for small batched d.
    return torch.linalg.solve(A, B.T).T


def torch_aggregator_features(R_hat, R, kind: str = "reconstruction"):
    """``objective.aggregator_features`` in torch: R_hat (m, k), R (m, k) NaN where missing."""
    torch = _import_torch()
    if kind == "reconstruction":
        return R_hat
    filled = torch.where(torch.isnan(R), R_hat, R)
    if kind == "filled":
        return filled
    return torch.cat([filled, R_hat], dim=0)


def torch_cf_objective(
    R0,
    C,
    n_observed: int,
    labeled_idx,
    y,
    s,
    X,
    Y,
    w,
    b,
    *,
    rho: float,
    lambda_reg: float,
    focal_gamma: float = 0.0,
    aggregator_l2: float = 0.0,
    Y_sup=None,
    aggregator_input: str = "reconstruction",
    R_labeled=None,
):
    """L_CF in torch: the same function as :func:`cfensemble.objective.cf_objective`.

    Parameters
    ----------
    R0 : tensor of shape (m, n), predictions with zero where missing
    C : tensor of shape (m, n), confidence, zero where missing
    n_observed : int, |Omega|
    labeled_idx : long tensor of shape (n_L,)
    y, s : tensors of shape (n_L,), labels and class weights
    X : tensor of shape (d, m);  Y : tensor of shape (d, n)
    w : tensor of shape (m,) or None (None: the mean aggregator, b ignored);  b : 0-d tensor
    Y_sup : tensor of shape (d, n), optional
        The instance factors the supervised term sees (``Y.detach()`` for the 'detached'
        formulation); defaults to Y.
    aggregator_input : {'reconstruction', 'filled', 'both'}
        What the aggregator sees (``objective.aggregator_features``); w has 2m entries
        under 'both'.
    R_labeled : tensor of shape (m, n_L), NaN where missing
        The labeled columns of R; needed unless aggregator_input='reconstruction'.

    Returns
    -------
    (total, recon, sup) : 0-d tensors
    """
    torch = _import_torch()
    N = max(int(n_observed), 1)
    E = R0 - X.T @ Y
    recon = (torch.sum(C * E * E) + lambda_reg * (torch.sum(X * X) + torch.sum(Y * Y))) / N
    if labeled_idx.numel() == 0:
        sup = torch.zeros((), dtype=X.dtype, device=X.device)
    else:
        Ys = Y if Y_sup is None else Y_sup
        Z = torch_aggregator_features(X.T @ Ys[:, labeled_idx], R_labeled, aggregator_input)
        if w is None:
            # Same clipping as objective.mean_logits.
            p = torch.clamp(Z.mean(dim=0), 1e-6, 1.0 - 1e-6)
            z = torch.log(p) - torch.log1p(-p)
        else:
            z = w @ Z + b
        bce = torch.nn.functional.softplus(z) - y * z
        if focal_gamma:
            p_t = torch.exp(-bce)
            bce = (1.0 - p_t) ** focal_gamma * bce
        sup = torch.sum(s * bce) / torch.sum(s)
        if aggregator_l2 and w is not None:
            sup = sup + 0.5 * aggregator_l2 * torch.sum(w * w)
    total = rho * recon + (1.0 - rho) * sup
    return total, recon, sup


# ---------------------------------------------------------------------- trainer
class CFEnsemblePyTorchTrainer(BaseCFTrainer):
    """CF-Ensemble by full-batch gradient descent on the exact L_CF (PyTorch).

    Parameters
    ----------
    n_classifiers : int, optional
        m, the number of rows of R; checked against R in ``fit`` when given.
    latent_dim : int or 'auto', default='auto'
        d; 'auto' chooses it from held-out cells as :class:`CFEnsembleTrainer` does
        (``latent_dim_`` is the rank used). d >= m is full rank (reproduces R): a warning
        says so.
    rho : float in [0, 1] or None, default=None
        Weight of reconstruction against supervision. None: 1.0 for 'projected' (the
        objective varpro minimizes, whose supervised term overfit X through missing cells
        at 0.5), 0.5 for 'detached' and 'free'; the value used is ``rho_``. Under
        ``formulation='free'`` rho = 0 leaves the unlabeled columns' factors without any
        gradient (a warning says so);
        under 'detached' rho = 0 leaves every y_i at its initial value (warned too).
    lambda_reg : float >= 0, default=0.01
        Must be > 0 for 'projected' (A_i must be positive definite).
    max_iter : int >= 1, default=200
        Epochs: optimizer steps (one epoch = one full-batch step).
    max_epochs : int or None, default=None
        Deprecated alias of ``max_iter`` (a FutureWarning; removed in the next release).
    optimizer : {'adam', 'adamw', 'sgd'}, default='adam'
        The torch optimizer.
    lr : float > 0, default=0.01
        Its learning rate.
    device : {'auto', 'cpu', 'cuda'}, 'cuda:<k>' or None, default='auto'
        'auto' (or None, as in ``CFEnsembleTrainer(backend='torch')``) picks CUDA when
        available; a CUDA device that is not there is an error at fit.
    formulation : {'projected', 'detached', 'free'}, default='projected'
        See the module docstring. 'projected' measures best and does not leak.
    weight_decay : float >= 0, default=0.0
        The optimizer's own weight decay (decoupled for AdamW), on top of lambda_reg; it is
        not part of L_CF.
    patience : int >= 1, default=20
        Epochs without improvement before early stopping.
    min_delta : float >= 0, default=1e-6
        Smallest decrease of the training objective (absolute) that counts as improvement.
    use_class_weights : bool, default=True
        Balanced class weights in L_sup.
    focal_gamma : float >= 0, default=0.0
        Focal-loss exponent of L_sup (0: binary cross-entropy).
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the computation (float64 for checks). Fitted arrays are float64.
    confidence : {'uniform', 'certainty', 'calibration', 'adaptive'} or callable
        Base confidence (default 'certainty'), as in :class:`CFEnsembleTrainer`.
    aggregator : {'weighted', 'mean'}, default='weighted'
        As in :class:`CFEnsembleTrainer`.
    aggregator_input : {'filled', 'reconstruction', 'both'}, default='filled'
        What the aggregator sees: the observed cells with missing ones filled from R_hat,
        R_hat alone, or both.
    aggregator_l2 : float, default=1e-3
        L2 penalty on the aggregator weights (part of L_sup).
    chunk_size : int, default=4096
        Instances per batched solve of the final float64 Y*(X) and of fold-in.
    n_jobs : int or None, default=None
        torch's intra-op threads during ``fit`` (``torch.set_num_threads``, restored
        after; -1: every core, scikit-learn's convention). None leaves torch's own setting
        (``torch.get_num_threads()``, every core by default), as scikit-learn leaves BLAS
        pools alone.
    init : {'svd', 'random'}, default='svd'
        Initial factors, as in :class:`CFEnsembleTrainer`.
    random_state : int, RandomState or None, default=None
        The same value gives the same initial X and Y as the ALS trainer.
    verbose : bool, default=False
        Log L_CF every epoch (logger "cfensemble", level INFO).
    callback : callable or None, default=None
        ``callback(epoch, loss)``, called every epoch with L_CF.

    Attributes
    ----------
    X_ : ndarray of shape (latent_dim, n_classifiers)
        Classifier factors (float64).
    Y_ : ndarray of shape (latent_dim, n_instances)
        Instance factors; for 'projected', Y*(X_) (float64).
    w_ : ndarray of shape (n_classifiers,) (2 n_classifiers under aggregator_input='both')
        Aggregator weights.
    b_ : float
        Aggregator intercept.
    C_ : ndarray of shape (n_classifiers, n_instances)
        The confidence used.
    confidence_ : cfensemble.confidence.Confidence
        The fitted confidence strategy.
    history_ : dict of lists
        'combined', 'recon', 'sup', 'time': one entry per epoch, the objective at the
        parameters before that epoch's step.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        True when early stopping stopped it.
    best_epoch_ : int
        The epoch whose parameters are kept.
    device_ : str
        The device used.
    n_classifiers_ : int
        m, the rows of the fitted R.
    n_instances_ : int
        n, the columns of the fitted R.
    """

    def __init__(
        self,
        n_classifiers: int | None = None,
        latent_dim="auto",
        *,
        rho: float | None = None,
        lambda_reg: float = 0.01,
        max_iter: int = 200,
        max_epochs: int | None = None,
        optimizer: str = "adam",
        lr: float = 0.01,
        device: str = "auto",
        formulation: str = "projected",
        weight_decay: float = 0.0,
        patience: int = 20,
        min_delta: float = 1e-6,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        dtype: str = "float32",
        confidence="uniform",
        aggregator: str = "auto",
        aggregator_input: str = "filled",
        aggregator_l2: float = 1e-3,
        chunk_size: int = DEFAULT_CHUNK,
        n_jobs: int | None = None,
        init: str = "svd",
        random_state=None,
        verbose: bool = False,
        callback=None,
    ):
        store_params(self, locals())

    # ------------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        _import_torch()
        super()._validate_params()
        check_scalar(self.max_iter, "max_iter", kind=numbers.Integral, low=1)
        if self.max_epochs is not None:
            check_scalar(self.max_epochs, "max_epochs", kind=numbers.Integral, low=1)
        check_scalar(self.lr, "lr", low=0.0, low_inclusive=False)
        check_scalar(self.weight_decay, "weight_decay", low=0.0)
        check_scalar(self.patience, "patience", kind=numbers.Integral, low=1)
        check_scalar(self.min_delta, "min_delta", low=0.0)
        check_option(self.optimizer, "optimizer", OPTIMIZERS)
        check_option(self.formulation, "formulation", FORMULATIONS)
        check_option(self.init, "init", INITS)
        check_dtype(self.dtype, "dtype", DTYPES)
        check_device(self.device)
        check_n_jobs(self.n_jobs, "n_jobs")
        if self.formulation == "projected" and self.lambda_reg <= 0:
            raise InvalidParameterError(
                "lambda_reg must be > 0 with formulation='projected' (each A_i = X C_i X^T + "
                f"lambda I must be positive definite), got lambda_reg={self.lambda_reg}"
            )

    def _default_rho(self) -> float:
        # 'projected' minimizes varpro's J: rho=1, as there (see CFEnsembleTrainer).
        return 1.0 if self.formulation == "projected" else 0.5

    def _resolve_params(self, data, C) -> dict:
        params = super()._resolve_params(data, C)
        params["max_iter"] = self.max_iter
        if self.max_epochs is not None:
            warn_external(
                "max_epochs is deprecated and will be removed in the next release: use "
                f"max_iter={self.max_epochs} (max_epochs overrides max_iter until then)",
                FutureWarning,
            )
            params["max_iter"] = self.max_epochs
        return params

    def _resolve_device(self, torch) -> str:
        return resolve_device(torch, self.device)

    def _warn_formulation(self) -> None:
        if self.rho_ == 0.0 and self.formulation == "free":
            warn_external(
                "rho=0 with formulation='free': only the supervised term acts, so the "
                "unlabeled columns' factors get no gradient and keep their random "
                "initial values; use rho > 0 or formulation='projected'",
            )
        elif self.rho_ == 0.0 and self.formulation == "detached":
            warn_external(
                "rho=0 with formulation='detached': the instance factors are moved by the "
                "reconstruction term alone, which rho=0 switches off, so every y_i keeps its "
                "random initial value; use rho > 0 or formulation='projected'",
            )

    # ------------------------------------------------------------------ fitting
    def _make_optimizer(self, torch, params):
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, weight_decay=self.weight_decay)

    def _fit(self, data: EnsembleData, C: np.ndarray, rng, params: dict) -> None:
        torch = _import_torch()
        with torch_threads(self.n_jobs):
            self._fit_torch(torch, data, C, rng, params)

    def _fit_torch(self, torch, data: EnsembleData, C: np.ndarray, rng, params: dict) -> None:
        self._warn_formulation()
        dev = self._resolve_device(torch)
        self.device_ = dev
        single = check_dtype(self.dtype, "dtype", DTYPES) == "float32"
        tdt = torch.float32 if single else torch.float64
        m, d = data.n_classifiers, params["latent_dim"]
        max_iter = params["max_iter"]
        X0, Y0 = start_factors(self.init, data.R, data.observed, d, rng)  # as CFEnsembleTrainer
        lab = data.labeled_idx
        y_np = data.labels[lab]
        s_np = class_weights(y_np, self.use_class_weights)
        R0_np = data.R_filled(0.0)
        n_obs = int(data.observed.sum())

        def T(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=tdt, device=dev)

        R0, Ct = T(R0_np), T(C)
        lab_t = torch.as_tensor(lab, dtype=torch.long, device=dev)
        y_t, s_t = T(y_np), T(s_np)
        R_L = T(data.R[:, lab])  # NaN where missing: aggregator_features fills from R_hat
        n_feat = n_aggregator_features(m, self.aggregator_input)
        weighted = self.aggregator != "mean"

        X = T(X0).requires_grad_(True)
        params = [X]
        Y = None
        if self.formulation != "projected":
            Y = T(Y0).requires_grad_(True)
            params.append(Y)
        w = b = None
        if weighted:
            w = torch.zeros(n_feat, dtype=tdt, device=dev, requires_grad=True)
            b = torch.zeros((), dtype=tdt, device=dev, requires_grad=True)
            params += [w, b]
        opt = self._make_optimizer(torch, params)
        kw = dict(
            rho=self.rho_,
            lambda_reg=self.lambda_reg,
            focal_gamma=self.focal_gamma,
            aggregator_l2=self.aggregator_l2,
            aggregator_input=self.aggregator_input,
            R_labeled=R_L,
        )

        best = np.inf
        best_state = None
        best_epoch = 0
        since_best = 0
        self.converged_ = False
        epoch = 0
        for epoch in range(1, max_iter + 1):
            opt.zero_grad(set_to_none=True)
            if self.formulation == "projected":
                try:
                    Yc = torch_project(X, R0, Ct, self.lambda_reg)
                except torch.linalg.LinAlgError as exc:  # diverged factors: singular systems
                    raise NonFiniteError(
                        f"the factors diverged at epoch {epoch} ({exc}); lower lr (now "
                        f"{self.lr}) or raise lambda_reg (now {self.lambda_reg})"
                    ) from None
                Y_sup = None
            else:
                Yc = Y
                Y_sup = Y.detach() if self.formulation == "detached" else None
            total, recon, sup = torch_cf_objective(
                R0, Ct, n_obs, lab_t, y_t, s_t, X, Yc, w, b, Y_sup=Y_sup, **kw
            )
            value = ObjectiveValue(total.item(), recon.item(), sup.item())
            if not np.isfinite(value.total):
                raise NonFiniteError(
                    f"the objective became non-finite at epoch {epoch}; lower lr (now "
                    f"{self.lr}) or raise lambda_reg (now {self.lambda_reg})"
                )
            self._record(epoch, value)
            if value.total < best - self.min_delta:
                best, best_epoch, since_best = value.total, epoch, 0
                best_state = [p.detach().clone() for p in params]
            else:
                since_best += 1
                if since_best >= self.patience:
                    self.converged_ = True
                    break
            total.backward()
            opt.step()
        self.n_iter_ = epoch
        self.best_epoch_ = best_epoch

        state = [p.cpu().numpy().astype(np.float64) for p in best_state]
        X_np = state[0]
        rest = state[1:]
        if self.formulation == "projected":
            # Y* in float64 NumPy: the same computation as fold-in, so predict() and
            # predict(R_new) agree on the same column.
            Y_np = update_instances(X_np, R0_np, C, self.lambda_reg, chunk_size=self.chunk_size)
        else:
            Y_np, rest = rest[0], rest[1:]
        if weighted:
            w_np, b_np = rest[0], float(rest[1])
        else:
            w_np, b_np = np.zeros(n_feat), 0.0
        self.X_, self.Y_, self.w_, self.b_ = X_np, Y_np, w_np, b_np
        logger.debug(
            "pytorch %s: %d epochs, best J=%.6g at epoch %d, converged=%s",
            self.formulation,
            epoch,
            best,
            best_epoch,
            self.converged_,
        )
        if not self.converged_:
            warn_external(
                f"PyTorch trainer ran max_iter={max_iter} epochs without early stopping "
                f"(patience={self.patience}, min_delta={self.min_delta}); raise max_iter or lr",
                ConvergenceWarning,
            )
