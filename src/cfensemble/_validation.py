"""Input checks shared by every public entry point.

Every error names the argument, what was expected and what was received, so that the
user knows what to change.
"""

from __future__ import annotations

import numbers
import os
import sys
import warnings

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_external(message: str, category: type[Warning] = UserWarning) -> None:
    """warnings.warn pointed at the first frame outside cfensemble (the user's call).

    A fixed stacklevel breaks whenever the call path inside the package changes (fit ->
    _fit -> _fit_als -> ...); this walks out of the package instead.
    """
    level = 2  # the caller of warn_external
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_float_matrix(value, name: str, *, allow_nan: bool = True) -> np.ndarray:
    """Convert ``value`` to a 2-D float64 array or raise a message naming ``name``."""
    if value is None:
        raise TypeError(f"{name} must be a 2-D array of numbers, got None")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be a 2-D array of numbers, got {_describe(value)}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a 2-D array of numbers, got an array of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_classifiers, n_instances), got ndim={arr.ndim}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=True)
    if np.isinf(arr).any():
        raise ValueError(f"{name} must not contain infinite values, found {np.isinf(arr).sum()}")
    if not allow_nan and np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN, found {np.isnan(arr).sum()}")
    return arr


def check_probability_matrix(R, name: str = "R") -> np.ndarray:
    """Validate a prediction matrix: 2-D, finite or NaN, values in [0, 1]."""
    arr = as_float_matrix(R, name)
    finite = arr[~np.isnan(arr)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] (NaN for a missing prediction), "
            f"got values in [{finite.min():.4g}, {finite.max():.4g}]"
        )
    return arr


def check_labels(labels, n_instances: int, name: str = "labels") -> np.ndarray:
    """Validate labels of shape (n_instances,) with values 0, 1 or NaN (unlabeled)."""
    if labels is None:
        return np.full(n_instances, np.nan)
    try:
        arr = np.asarray(labels, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be numbers 0, 1 or NaN (unlabeled), got {_describe(labels)}"
        ) from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D of shape ({n_instances},), got shape {arr.shape}")
    if arr.shape[0] != n_instances:
        raise ValueError(
            f"{name} must have one entry per instance (column of R): expected length "
            f"{n_instances}, got {arr.shape[0]}"
        )
    finite = arr[~np.isnan(arr)]
    bad = finite[(finite != 0.0) & (finite != 1.0)]
    if bad.size:
        raise ValueError(
            f"{name} must hold 0, 1 or NaN (unlabeled), got other values such as "
            f"{np.unique(bad)[:5].tolist()}"
        )
    return arr


def check_confidence(C, shape: tuple[int, int], name: str = "C") -> np.ndarray:
    """Validate a confidence matrix: same shape as R, finite, non-negative."""
    arr = as_float_matrix(C, name, allow_nan=False)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of R {tuple(shape)}, got {arr.shape}")
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative, got minimum {arr.min():.4g}")
    return arr


def check_scalar(
    value,
    name: str,
    *,
    kind: type | tuple = numbers.Real,
    low=None,
    high=None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
):
    """Check a scalar parameter's type and range; return it unchanged."""
    if isinstance(value, bool) or not isinstance(value, kind):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        expected = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{name} must be {expected}, got {_describe(value)}")
    if isinstance(value, numbers.Real) and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {op} {low}, got {value}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"{name} must be {op} {high}, got {value}")
    return value


def check_option(value, name: str, allowed) -> str:
    """Check that ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value
