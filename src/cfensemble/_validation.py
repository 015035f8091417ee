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

from cfensemble.exceptions import InputTypeError, InvalidInputError, InvalidParameterError

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


def _fmt(x: float) -> str:
    """A number as the user would need to see it: 1 + 1e-12 is not "1"."""
    return repr(float(x))


def _unmask(value, name: str, allow_nan: bool):
    """A masked array with its masked cells as NaN (they are missing, not observed)."""
    if not np.ma.isMaskedArray(value):
        return value
    mask = np.ma.getmaskarray(value)
    if mask.any() and not allow_nan:
        raise InvalidInputError(
            f"{name} must not have masked (missing) cells, found {int(mask.sum())}"
        )
    data = np.ma.getdata(value)
    if not mask.any():
        return data
    if not (np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.bool_)):
        return data  # refused below with the dtype in the message
    out = data.astype(np.float64, copy=True)
    out[mask] = np.nan
    return out


def as_float_matrix(value, name: str, *, allow_nan: bool = True, dtype=np.float64) -> np.ndarray:
    """Convert ``value`` to a 2-D float array (a copy in ``dtype``, float64 by default) or
    raise a message naming ``name``.

    A NumPy masked array's masked cells become NaN (missing) where NaN is allowed.
    """
    if value is None:
        raise InputTypeError(f"{name} must be a 2-D array of numbers, got None")
    value = _unmask(value, name, allow_nan)
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(
            f"{name} must be a 2-D array of numbers, got {_describe(value)}"
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        hint = ""
        if arr.dtype == object and arr.ndim == 2:
            # Usually a DataFrame with a text column (instance ids, names) among the numbers.
            text = [
                j
                for j in range(arr.shape[1])
                if any(isinstance(v, str) for v in arr[: min(arr.shape[0], 50), j])
            ]
            rows = [
                i
                for i in range(arr.shape[0])
                if any(isinstance(v, str) for v in arr[i, : min(arr.shape[1], 50)])
            ]
            if text and len(text) <= len(rows):
                hint = f" (column(s) {text[:5]} hold text, ids or names? drop them)"
            elif rows:
                hint = f" (row(s) {rows[:5]} hold text, ids or names? drop them)"
        raise InputTypeError(
            f"{name} must be a 2-D array of numbers, got an array of dtype {arr.dtype}{hint}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise InputTypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        hint = (
            f"; one instance's predictions of shape ({arr.shape[0]},) are {name}.reshape(-1, 1)"
            if arr.ndim == 1
            else ""
        )
        raise InvalidInputError(
            f"{name} must be 2-D (n_classifiers, n_instances), got ndim={arr.ndim}{hint}"
        )
    if arr.size == 0:
        raise InvalidInputError(f"{name} must not be empty, got shape {arr.shape}")
    arr = arr.astype(dtype, copy=True)
    if np.isinf(arr).any():
        raise InvalidInputError(
            f"{name} must not contain infinite values, found {int(np.isinf(arr).sum())}"
        )
    if not allow_nan and np.isnan(arr).any():
        raise InvalidInputError(f"{name} must not contain NaN, found {int(np.isnan(arr).sum())}")
    return arr


def check_probability_matrix(R, name: str = "R", dtype=np.float64) -> np.ndarray:
    """Validate a prediction matrix: 2-D, finite or NaN, values in [0, 1]; a copy in
    ``dtype`` (float64 by default)."""
    arr = as_float_matrix(R, name, dtype=dtype)
    # fmin/fmax skip NaN without copying the present cells out (R may be large).
    lo, hi = np.fmin.reduce(arr, axis=None), np.fmax.reduce(arr, axis=None)
    if not np.isnan(lo) and (lo < 0.0 or hi > 1.0):
        raise InvalidInputError(
            f"{name} must hold probabilities in [0, 1] (NaN for a missing prediction), "
            f"got values in [{_fmt(lo)}, {_fmt(hi)}]"
        )
    return arr


def check_labels(
    labels, n_instances: int, name: str = "labels", n_classifiers: int | None = None
) -> np.ndarray:
    """Validate labels of shape (n_instances,) with values 0, 1 or NaN (unlabeled).

    A NumPy masked array's masked entries are unlabeled (NaN). ``n_classifiers`` (R's rows),
    when given, lets the length error say that R looks transposed.
    """
    if labels is None:
        return np.full(n_instances, np.nan)
    try:
        if np.ma.isMaskedArray(labels):
            mask = np.ma.getmaskarray(labels)
            arr = np.array(np.ma.getdata(labels), dtype=np.float64)
            arr[mask] = np.nan
        else:
            raw = np.asarray(labels)
            if np.issubdtype(raw.dtype, np.complexfloating):
                raise TypeError(f"complex dtype {raw.dtype}")
            arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputTypeError(
            f"{name} must be numbers 0, 1 or NaN (unlabeled), got {_describe(labels)}"
        ) from exc
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be 1-D of shape ({n_instances},), got shape {arr.shape}"
        )
    if arr.shape[0] != n_instances:
        hint = (
            f"; R has {n_classifiers} rows, as many as {name}: R must be (n_classifiers, "
            "n_instances), one row per classifier, so pass R.T if its rows are instances"
            if n_classifiers is not None and arr.shape[0] == n_classifiers
            else ""
        )
        raise InvalidInputError(
            f"{name} must have one entry per instance (column of R): expected length "
            f"{n_instances}, got {arr.shape[0]}{hint}"
        )
    finite = arr[~np.isnan(arr)]
    bad = finite[(finite != 0.0) & (finite != 1.0)]
    if bad.size:
        hint = ""
        if (bad == -1).any():
            hint = "; -1 is not 'unlabeled' here: use NaN for unlabeled instances"
        raise InvalidInputError(
            f"{name} must hold 0, 1 or NaN (unlabeled), got other values such as "
            f"{np.unique(bad)[:5].tolist()}{hint}"
        )
    return arr


def check_confidence(C, shape: tuple[int, int], name: str = "C") -> np.ndarray:
    """Validate a confidence matrix: same shape as R, finite, non-negative."""
    arr = as_float_matrix(C, name, allow_nan=False)
    if arr.shape != tuple(shape):
        raise InvalidInputError(f"{name} must have the shape of R {tuple(shape)}, got {arr.shape}")
    if (arr < 0).any():
        raise InvalidInputError(f"{name} must be non-negative, got minimum {_fmt(arr.min())}")
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
        raise InputTypeError(f"{name} must be {expected}, got {_describe(value)}")
    if isinstance(value, numbers.Real) and not np.isfinite(value):
        raise InvalidParameterError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise InvalidParameterError(f"{name} must be {op} {low}, got {value!r}")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise InvalidParameterError(f"{name} must be {op} {high}, got {value!r}")
    return value


def check_option(value, name: str, allowed) -> str:
    """Check that ``value`` is one of ``allowed``."""
    try:
        ok = value in allowed
    except Exception:  # noqa: BLE001 - an object whose == raises (an array, ...)
        ok = False
    if not ok:
        raise InvalidParameterError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value


def check_dtype(value, name: str, allowed) -> str:
    """Canonical name ('float32', ...) of a dtype given as a string, NumPy type or dtype."""
    if isinstance(value, str):
        return check_option(value, name, allowed)
    try:
        canonical = np.dtype(value).name
    except TypeError:
        canonical = None
    if canonical not in allowed:
        raise InvalidParameterError(
            f"{name} must be one of {sorted(allowed)} (or the NumPy type), got {value!r}"
        )
    return canonical


def check_device(value, name: str = "device"):
    """A torch device name: None or 'auto' (CUDA when available, else the CPU), 'cpu',
    'cuda' or 'cuda:<index>' (its form only)."""
    ok = value is None or (
        isinstance(value, str)
        and (
            value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())
        )
    )
    if not ok:
        raise InvalidParameterError(
            f"{name} must be 'auto' (or None), 'cpu', 'cuda' or 'cuda:<index>', "
            f"got {name}={value!r}"
        )
    return value


def resolve_device(torch, device) -> str:
    """The one device resolver of both torch paths (``CFEnsembleTrainer(backend='torch')``
    and ``CFEnsemblePyTorchTrainer``): None or 'auto' -> 'cuda' when available, else 'cpu';
    a CUDA device that is not there -> error."""
    check_device(device)
    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidParameterError(
                f"device={device!r} needs CUDA, but torch.cuda.is_available() is False; "
                "use device='cpu' or device='auto' (CUDA when available)"
            )
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise InvalidParameterError(
                f"device={device!r} but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
    return device
