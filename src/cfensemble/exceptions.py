"""The library's errors: one family, so that callers (the CLI among them) can catch them all.

Every class also derives from the built-in exception that code written against earlier
versions caught (``ValueError``, ``TypeError``, ...), so ``except ValueError`` keeps working.
The CLI maps any :class:`CFEnsembleError` to a one-line message and exit status 1.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

__all__ = [
    "CFEnsembleError",
    "InvalidInputError",
    "InvalidParameterError",
    "InputTypeError",
    "ModelFileError",
    "NonFiniteError",
    "NotFittedError",
    "MissingDependencyError",
]


class CFEnsembleError(Exception):
    """Base class of every error this library raises on purpose."""


class InvalidInputError(CFEnsembleError, ValueError):
    """Data (R, labels, C, a CSV file's content) that cannot be used as given."""


class InputTypeError(CFEnsembleError, TypeError):
    """An argument of the wrong type (a string where an array was expected, ...)."""


class InvalidParameterError(CFEnsembleError, ValueError):
    """A constructor or method parameter outside its allowed values."""


class ModelFileError(CFEnsembleError, ValueError):
    """A model file that is not one this library wrote, or was changed or truncated since."""


class NonFiniteError(CFEnsembleError, FloatingPointError):
    """An optimizer produced NaN or infinite values (raise regularization, lower a step)."""


class NotFittedError(CFEnsembleError, _SklearnNotFittedError):
    """A method that needs a fitted model was called before ``fit``."""


class MissingDependencyError(CFEnsembleError, ImportError):
    """An optional dependency (an extra) is needed and not installed."""
