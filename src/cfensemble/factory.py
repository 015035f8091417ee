"""The one trainer factory: a solver name and parameters -> an unfitted trainer.

Used by ``CFEnsembleClassifier``, the CLI, the benchmark runner and ``evaluation``. Names
come from :mod:`cfensemble._registry`; every other check is the trainer's own (in ``fit``).
"""

from __future__ import annotations

import numbers

from cfensemble._registry import SOLVERS
from cfensemble._validation import check_option
from cfensemble.exceptions import InvalidParameterError, MissingDependencyError


def resolve_latent_dim(latent_dim, n_classifiers: int):
    """'auto' is passed on (the trainer chooses the rank from held-out cells, see
    :func:`cfensemble.rank.select_rank`); an int >= 1 is used as given.

    Parameters
    ----------
    latent_dim : int or 'auto'
    n_classifiers : int
        m, the number of rows of R.

    Returns
    -------
    int or 'auto'
    """
    if isinstance(latent_dim, str):
        check_option(latent_dim, "latent_dim", ("auto",))
        return "auto"
    if not isinstance(latent_dim, numbers.Integral) or latent_dim < 1:
        raise InvalidParameterError(f"latent_dim must be 'auto' or an int >= 1, got {latent_dim!r}")
    return int(latent_dim)


def trainer_class(solver: str):
    """The trainer class of ``solver`` ('als', 'varpro' or 'pytorch')."""
    check_option(solver, "solver", tuple(SOLVERS))
    if SOLVERS[solver] == "CFEnsemblePyTorchTrainer":
        try:
            from cfensemble.optimization._torch import CFEnsemblePyTorchTrainer, _import_torch

            _import_torch()
        except ImportError as exc:
            raise MissingDependencyError(
                f"solver={solver!r} needs PyTorch: pip install cfensemble[torch]"
            ) from exc
        return CFEnsemblePyTorchTrainer
    from cfensemble.optimization._trainer import CFEnsembleTrainer

    return CFEnsembleTrainer


def make_trainer(n_classifiers: int, *, solver: str = "als", latent_dim="auto", **params):
    """An unfitted CF-Ensemble trainer for ``solver``.

    Parameters
    ----------
    n_classifiers : int
        m, the number of rows of R (resolves ``latent_dim='auto'``).
    solver : {'als', 'varpro', 'pytorch'}, default='als'
        'als'/'varpro': ``CFEnsembleTrainer(solver=...)``; 'pytorch':
        ``CFEnsemblePyTorchTrainer``.
    latent_dim : int or 'auto', default='auto'
        See :func:`resolve_latent_dim`.
    **params
        Any further keyword of the trainer (``max_iter`` means sweeps, L-BFGS iterations
        or epochs alike); those not given keep the trainer's defaults.

    Returns
    -------
    CFEnsembleTrainer or CFEnsemblePyTorchTrainer
    """
    cls = trainer_class(solver)
    if solver in ("als", "varpro"):
        params["solver"] = solver
    d = resolve_latent_dim(latent_dim, n_classifiers)
    return cls(n_classifiers, latent_dim=d, **params)
