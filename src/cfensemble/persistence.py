"""Model files: a fitted trainer in one ``.npz`` file, read back without pickle.

The file is a zip (``numpy.savez_compressed``) holding the fitted NumPy arrays and one
JSON string with

* ``format`` / ``format_version``: what the file is and which layout it uses;
* ``class``: the trainer class (only cfensemble's own trainers load, by name);
* ``params``: the constructor parameters (``get_params()``);
* ``confidence``: the strategy name and floor (its fitted ``reliability_`` is an array);
* ``attributes``: fitted scalars (``n_iter_``, ``b_``, ...);
* ``classifier_names``: the names of R's rows (the CLI checks them at predict time);
* ``checksums``: SHA-256 of every array, so a damaged file is refused, not half-read.

Loading uses ``allow_pickle=False``: a model file can never run code. A truncated,
corrupt, foreign or newer-version file raises ``ValueError`` saying which.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import numbers
import os
import tempfile
from pathlib import Path

import numpy as np

from cfensemble._validation import warn_external

logger = logging.getLogger("cfensemble")

FORMAT_NAME = "cfensemble-model"
FORMAT_VERSION = 1
_META_KEY = "__cfensemble_meta__"
_ZIP_MAGIC = b"PK\x03\x04"

# Only these classes are rebuilt from a file: a file never names arbitrary code to import.
TRAINER_CLASSES = {
    "CFEnsembleTrainer": "cfensemble.optimization._trainer",
    "CFEnsemblePyTorchTrainer": "cfensemble.optimization._torch",
}

# Fitted attributes that are private but needed for objective()/combined_loss() after load.
_PRIVATE_ARRAYS = ("_fit_R", "_fit_labels")
_HISTORY_PREFIX = "history_."
_ATTR_PREFIX = "attr."
_REQUIRED = ("X_", "Y_", "w_")


def _json_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _to_json_value(value):
    """Plain JSON value for a parameter or scalar attribute, or raise TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if _json_scalar(value):
        if isinstance(value, float) and not np.isfinite(value):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, (list, tuple)) and all(_json_scalar(v) for v in value):
        return list(value)
    raise TypeError(type(value).__name__)


def _from_json_value(value):
    if isinstance(value, dict) and set(value) == {"__float__"}:
        return float(value["__float__"])
    return value


def _checksum(arr: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(arr.dtype.str).encode())
    h.update(repr(arr.shape).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _resolve_trainer(obj):
    """The trainer inside ``obj``: a trainer itself, or an estimator's fitted ``trainer_``."""
    from cfensemble.optimization._base import BaseCFTrainer

    if isinstance(obj, BaseCFTrainer):
        return obj
    inner = getattr(obj, "trainer_", None)
    if isinstance(inner, BaseCFTrainer):
        return inner
    raise TypeError(
        "save expects a fitted cfensemble trainer (CFEnsembleTrainer, "
        "CFEnsemblePyTorchTrainer) or an estimator with a fitted trainer_, "
        f"got {type(obj).__name__}"
    )


def _params_for_file(trainer) -> dict:
    params = trainer.get_params()
    out = {}
    for name, value in params.items():
        if name == "callback":
            if value is not None:
                warn_external(
                    "the trainer's callback is a Python function and cannot be stored in a "
                    "model file; the loaded trainer has callback=None"
                )
            out[name] = None
            continue
        if name == "confidence" and callable(value):
            raise ValueError(
                "confidence is a callable strategy, which a model file cannot store (it "
                "would need pickle); refit with one of 'uniform', 'certainty', "
                "'calibration', 'adaptive' to save the model"
            )
        if name == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
            # A RandomState object only mattered for fitting; the fitted state is saved.
            logger.debug("random_state %r is not stored (saved as None)", value)
            out[name] = None
            continue
        try:
            out[name] = _to_json_value(value)
        except TypeError:
            raise ValueError(
                f"parameter {name}={value!r} of {type(trainer).__name__} cannot be stored in "
                "a model file (expected a number, string, bool, None or a list of them)"
            ) from None
    return out


def save(obj, path, *, classifier_names=None) -> Path:
    """Write a fitted trainer to one file.

    Parameters
    ----------
    obj : fitted CFEnsembleTrainer, CFEnsemblePyTorchTrainer, or an estimator with ``trainer_``
    path : str or path-like
        Written as given (no extension is added); replaced atomically.
    classifier_names : sequence of str of length n_classifiers, optional
        Names of R's rows; defaults to the trainer's ``classifier_names_`` if it has one.

    Returns
    -------
    pathlib.Path of the written file.
    """
    trainer = _resolve_trainer(obj)
    trainer._check_fitted()
    cls_name = type(trainer).__name__
    if cls_name not in TRAINER_CLASSES:
        raise TypeError(
            f"cannot save a {cls_name}: model files hold one of {sorted(TRAINER_CLASSES)}"
        )
    params = _params_for_file(trainer)

    names = classifier_names
    if names is None:
        names = getattr(trainer, "classifier_names_", None)
    if names is not None:
        names = [str(c) for c in names]
        if len(names) != trainer.n_classifiers:
            raise ValueError(
                f"classifier_names must have n_classifiers={trainer.n_classifiers} entries, "
                f"got {len(names)}"
            )

    arrays: dict[str, np.ndarray] = {}
    attributes: dict = {}
    for name, value in vars(trainer).items():
        if name in _PRIVATE_ARRAYS:
            arrays[name] = np.asarray(value, dtype=np.float64)
            continue
        if not name.endswith("_") or name.startswith("_") or name in params:
            continue
        if name in ("confidence_", "classifier_names_"):
            continue
        if name == "history_":
            for key, series in value.items():
                arrays[_HISTORY_PREFIX + key] = np.asarray(series, dtype=np.float64)
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            arrays[name] = value
            continue
        try:
            attributes[name] = _to_json_value(value)
        except TypeError:
            logger.debug("fitted attribute %s (%s) is not saved", name, type(value).__name__)

    conf = trainer.confidence_
    confidence = {"strategy": conf.strategy, "floor": float(conf.floor)}
    if conf.reliability_ is not None:
        arrays["confidence_.reliability_"] = np.asarray(conf.reliability_, dtype=np.float64)

    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": cls_name,
        "cfensemble_version": _version(),
        "params": params,
        "confidence": confidence,
        "attributes": attributes,
        "classifier_names": names,
        "checksums": {k: _checksum(v) for k, v in arrays.items()},
    }
    payload = dict(arrays)
    payload[_META_KEY] = np.array(json.dumps(meta))

    path = Path(path)
    # Atomic replace: an interrupted save never leaves a half-written model under ``path``.
    fd, tmp = tempfile.mkstemp(prefix=".cfe-", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **payload)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("saved %s to %s", cls_name, path)
    return path


def _version() -> str:
    from cfensemble import __version__

    return __version__


def _bad_file(path, why: str) -> ValueError:
    return ValueError(f"{path} is not a usable cfensemble model file: {why}")


def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Metadata and arrays of a model file, every check done; raises ValueError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.is_dir():
        raise _bad_file(path, "it is a directory")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != _ZIP_MAGIC:
        raise _bad_file(path, "it is not a cfensemble .npz archive (wrong leading bytes)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if _META_KEY not in npz.files:
                raise _bad_file(path, "it has no cfensemble metadata (a plain .npz file?)")
            meta_raw = npz[_META_KEY]
            arrays = {k: npz[k] for k in npz.files if k != _META_KEY}
    except ValueError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise _bad_file(path, f"truncated or corrupt ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - zip, zlib, header-parser and size errors alike
        raise _bad_file(path, f"truncated or corrupt ({type(exc).__name__}: {exc})") from None
    try:
        meta = json.loads(str(meta_raw[()]))
    except (json.JSONDecodeError, TypeError, IndexError) as exc:
        raise _bad_file(path, f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _bad_file(path, f"its metadata does not declare format {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        hint = (
            "it was written by a newer cfensemble: upgrade cfensemble"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "refit and save the model with this cfensemble"
        )
        raise _bad_file(
            path,
            f"format version {version!r}, this cfensemble reads version {FORMAT_VERSION}; " + hint,
        )
    sums = meta.get("checksums")
    if not isinstance(sums, dict) or set(sums) != set(arrays):
        raise _bad_file(path, "its array list does not match its metadata (corrupt)")
    for k, arr in arrays.items():
        if _checksum(arr) != sums[k]:
            raise _bad_file(path, f"array {k!r} fails its checksum (corrupt)")
    for key in ("class", "params", "confidence", "attributes"):
        if key not in meta:
            raise _bad_file(path, f"its metadata lacks {key!r}")
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise _bad_file(path, f"it lacks the fitted arrays {missing}")
    return meta, arrays


def read_metadata(path) -> dict:
    """The JSON metadata of a model file (class, params, classifier_names, ...), checked."""
    return _read(path)[0]


def load(path):
    """Rebuild a fitted trainer from a file written by :func:`save` (no pickle involved).

    Returns
    -------
    CFEnsembleTrainer or CFEnsemblePyTorchTrainer, fitted; its ``classifier_names_`` holds
    the saved row names (or None).

    Raises
    ------
    FileNotFoundError if ``path`` does not exist; ValueError if the file is truncated,
    corrupt, not a cfensemble model, of another format version, or inconsistent.
    """
    from cfensemble.confidence import Confidence

    meta, arrays = _read(path)
    cls_name = meta["class"]
    if cls_name not in TRAINER_CLASSES:
        raise _bad_file(
            path, f"unknown class {cls_name!r}; expected one of {sorted(TRAINER_CLASSES)}"
        )
    module = importlib.import_module(TRAINER_CLASSES[cls_name])
    cls = getattr(module, cls_name)
    params = {k: _from_json_value(v) for k, v in meta["params"].items()}
    try:
        trainer = cls(**params)
    except (TypeError, ValueError) as exc:
        raise _bad_file(path, f"its parameters do not build a {cls_name} ({exc})") from None

    conf_meta = meta["confidence"]
    try:
        conf = Confidence(conf_meta["strategy"], floor=float(conf_meta["floor"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_file(path, f"its confidence entry is invalid ({exc})") from None
    conf.reliability_ = arrays.pop("confidence_.reliability_", None)
    trainer.confidence_ = conf

    history = {}
    for key in [k for k in arrays if k.startswith(_HISTORY_PREFIX)]:
        history[key[len(_HISTORY_PREFIX) :]] = arrays.pop(key).tolist()
    trainer.history_ = history
    for name, value in meta["attributes"].items():
        setattr(trainer, name, _from_json_value(value))
    for name, arr in arrays.items():
        setattr(trainer, name, arr)
    if isinstance(getattr(trainer, "b_", None), np.ndarray):
        trainer.b_ = float(trainer.b_)
    names = meta.get("classifier_names")
    trainer.classifier_names_ = None if names is None else [str(c) for c in names]
    _check_consistent(trainer, path)
    return trainer


def _check_consistent(trainer, path) -> None:
    m, d = trainer.n_classifiers, trainer.latent_dim
    if isinstance(d, str):  # latent_dim='auto': the fitted rank is latent_dim_
        d = getattr(trainer, "latent_dim_", None)
    X, Y, w = trainer.X_, trainer.Y_, trainer.w_
    # The aggregator sees m features per instance, or 2m with aggregator_input='both'.
    n_features = 2 * m if getattr(trainer, "aggregator_input", None) == "both" else m
    expect = {"X_": (X, (d, m)), "w_": (w, (n_features,))}
    for name, (arr, shape) in expect.items():
        if arr.shape != shape:
            raise _bad_file(path, f"{name} has shape {arr.shape}, expected {shape}")
    if Y.ndim != 2 or Y.shape[0] != d:
        raise _bad_file(path, f"Y_ has shape {Y.shape}, expected ({d}, n_instances)")
    for name in ("X_", "Y_", "w_"):
        if not np.isfinite(getattr(trainer, name)).all():
            raise _bad_file(path, f"{name} holds non-finite values")
    names = trainer.classifier_names_
    if names is not None and len(names) != m:
        raise _bad_file(path, f"{len(names)} classifier names for n_classifiers={m}")
    rel = trainer.confidence_.reliability_
    if rel is not None and rel.shape != (m,):
        raise _bad_file(path, f"confidence reliability has shape {rel.shape}, expected ({m},)")
