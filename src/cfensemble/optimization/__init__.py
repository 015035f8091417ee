"""CF-Ensemble trainers: ALS / variable projection (NumPy) and joint gradient descent (PyTorch)."""

from cfensemble.optimization._base import BaseCFTrainer
from cfensemble.optimization._trainer import CFEnsembleTrainer

__all__ = ["BaseCFTrainer", "CFEnsembleTrainer", "CFEnsemblePyTorchTrainer"]


def __getattr__(name):
    # torch is optional: the PyTorch trainer's module imports it only when constructed.
    if name == "CFEnsemblePyTorchTrainer":
        from cfensemble.optimization._torch import CFEnsemblePyTorchTrainer

        return CFEnsemblePyTorchTrainer
    raise AttributeError(f"module 'cfensemble.optimization' has no attribute {name!r}")
