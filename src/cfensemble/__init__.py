"""CF-Ensemble: ensemble learning through collaborative filtering."""

__version__ = "0.1.0"
