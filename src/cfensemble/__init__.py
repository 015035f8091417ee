"""CF-Ensemble: ensemble learning through collaborative filtering."""

from cfensemble._version import __version__

__all__ = ["__version__", "CFEnsembleClassifier"]


def __getattr__(name):
    # Lazy: `import cfensemble` stays light (no scikit-learn model imports, no torch).
    if name == "CFEnsembleClassifier":
        from cfensemble.estimator import CFEnsembleClassifier

        return CFEnsembleClassifier
    raise AttributeError(f"module 'cfensemble' has no attribute {name!r}")
