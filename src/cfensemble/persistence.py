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

A model file is untrusted input. Loading

* never unpickles (arrays are read from their ``.npy`` headers, object dtypes refused);
* checks every member's declared size in the zip directory *before* decompressing it: the
  metadata has a fixed ceiling, each array must have exactly the size its schema shape
  implies (shapes follow from the parameters and fitted integers, see :data:`SCHEMAS`);
* parses the JSON with a nesting-depth limit and checks each entry's type;
* accepts only the names of the class's schema (parameters of its constructor, the listed
  fitted attributes), passes the parameters through the class's own validation, and checks
  every array's dtype, shape, finiteness and range, and every scalar's type and range.

Anything else raises :class:`~cfensemble.exceptions.ModelFileError` (a ``ValueError``)
saying what is wrong; a missing file raises ``FileNotFoundError``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import logging
import math
import numbers
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfensemble._fileio import atomic_write
from cfensemble._validation import warn_external
from cfensemble.exceptions import (
    InputTypeError,
    InvalidParameterError,
    ModelFileError,
    NonFiniteError,
    NotFittedError,
)
from cfensemble.objective import n_aggregator_features
from cfensemble.patterns import AUTO_MAX_PATTERNS

logger = logging.getLogger("cfensemble")

FORMAT_NAME = "cfensemble-model"
FORMAT_VERSION = 1
_META_KEY = "__cfensemble_meta__"
_ZIP_MAGIC = b"PK\x03\x04"

# Ceilings that hold for any model this library writes, checked before decompressing.
MAX_META_BYTES = 16 * 2**20  # the metadata member (.npy of a UTF-32 string)
MAX_JSON_DEPTH = 8  # {"params": {"x": [..]}} is depth 3; a checksum dict is depth 2
MAX_MEMBERS = 64
_NPY_HEADER_MAX = 4096  # the .npy header of one array (numpy writes 128 bytes or a few more)


# ---------------------------------------------------------------------------- the schema
@dataclass(frozen=True)
class ArraySpec:
    """A fitted array: its shape in dimension symbols, what values it may hold, whether every
    file has it. Symbols: ``m`` classifiers, ``d`` latent dimension, ``n`` fitted instances,
    ``f`` aggregator features, ``h`` recorded iterations, ``a`` the 'auto' aggregator's
    stacking inputs (f, or f + m when missing-cell indicators join them),
    ``k`` the missingness patterns with a model of their own (see :func:`_dimensions`)."""

    shape: tuple[str, ...]
    values: str = "finite"  # 'finite' | 'nonneg' | 'prob_or_nan' | 'label_or_nan' | 'binary'
    required: bool = True


@dataclass(frozen=True)
class ScalarSpec:
    """A fitted scalar kept in the JSON metadata."""

    kind: str  # 'int' (>= 0) | 'float' (finite) | 'bool' | 'str'
    required: bool = True


_HISTORY_KEYS = ("combined", "recon", "sup", "time")
_COMMON_ARRAYS = {
    "X_": ArraySpec(("d", "m")),
    "Y_": ArraySpec(("d", "n")),
    "w_": ArraySpec(("f",)),
    "C_": ArraySpec(("m", "n"), "nonneg"),
    "_fit_R": ArraySpec(("m", "n"), "prob_or_nan"),
    "_fit_labels": ArraySpec(("n",), "label_or_nan"),
    "confidence_.reliability_": ArraySpec(("m",), "finite", required=False),
    **{f"history_.{k}": ArraySpec(("h",)) for k in _HISTORY_KEYS},
    "auto_w_": ArraySpec(("a",), required=False),
    # 'auto''s reduced-feature models (files from before them lack the three: still read)
    "auto_patterns_": ArraySpec(("k", "m"), "binary", required=False),
    "auto_pattern_w_": ArraySpec(("k", "a"), required=False),
    "auto_pattern_b_": ArraySpec(("k",), required=False),
}
_COMMON_SCALARS = {
    "b_": ScalarSpec("float"),
    "n_iter_": ScalarSpec("int"),
    "converged_": ScalarSpec("bool"),
    "n_instances_": ScalarSpec("int"),
    "latent_dim_": ScalarSpec("int", required=False),  # set when latent_dim is chosen by fit
    "n_classifiers_": ScalarSpec("int", required=False),
    "rho_": ScalarSpec("float", required=False),  # rho=None resolved per solver
    # aggregator='shrinkage' and 'auto' (rank_candidates_/rank_errors_, latent_dim='auto''s
    # diagnostics, are not kept: latent_dim_ is what predictions need).
    "shrinkage_": ScalarSpec("float", required=False),
    "auto_b_": ScalarSpec("float", required=False),
    "auto_single_": ScalarSpec("int", required=False),
    "auto_mix_": ScalarSpec("float", required=False),
}

# Every class a model file may name: where it lives (a whitelist: a file never names code to
# import), its fitted arrays and scalars, and the parameter that bounds the iteration count.
# Adding a fitted attribute is one line here.
SCHEMAS = {
    "CFEnsembleTrainer": {
        "module": "cfensemble.optimization._trainer",
        "arrays": {**_COMMON_ARRAYS, "C_label_aware_": ArraySpec(("m", "n"), "nonneg", False)},
        "scalars": {
            **_COMMON_SCALARS,
            "optimizer_message_": ScalarSpec("str", required=False),
            "device_": ScalarSpec("str", required=False),  # backend='torch'
        },
        "iterations": ("max_iter",),
    },
    "CFEnsemblePyTorchTrainer": {
        "module": "cfensemble.optimization._torch",
        "arrays": dict(_COMMON_ARRAYS),
        "scalars": {
            **_COMMON_SCALARS,
            "device_": ScalarSpec("str", required=False),
            "best_epoch_": ScalarSpec("int", required=False),
        },
        "iterations": ("max_iter", "max_epochs"),
    },
}
TRAINER_CLASSES = {name: spec["module"] for name, spec in SCHEMAS.items()}

# Parameters that hold live Python objects: stored as None, and only None is loaded.
_NONE_ONLY_PARAMS = ("callback", "dask_client")
_META_KEYS = {
    "format",
    "format_version",
    "class",
    "cfensemble_version",
    "params",
    "confidence",
    "attributes",
    "classifier_names",
    "checksums",
}


def _trainer_class(cls_name: str):
    module = importlib.import_module(SCHEMAS[cls_name]["module"])
    return getattr(module, cls_name)


def _dimensions(trainer, scalars: dict, history_len: int | None) -> dict[str, int]:
    """Dimension symbols of the schema from a trainer's parameters and fitted integers."""
    m = scalars.get("n_classifiers_", trainer.n_classifiers)
    if trainer.n_classifiers is not None and m != trainer.n_classifiers:
        raise ModelFileError(
            f"n_classifiers={trainer.n_classifiers} but n_classifiers_={m} (fitted rows of R)"
        )
    if not isinstance(m, numbers.Integral):
        raise ModelFileError("it lacks n_classifiers_ (and n_classifiers is not set)")
    m = int(m)
    d = scalars.get("latent_dim_", trainer.latent_dim)
    if isinstance(trainer.latent_dim, numbers.Integral) and d != trainer.latent_dim:
        raise ModelFileError(
            f"latent_dim={trainer.latent_dim} but latent_dim_={d} (the rank of the factors)"
        )
    if not isinstance(d, numbers.Integral):
        raise ModelFileError(f"the latent dimension is {d!r}, expected an int")
    f = n_aggregator_features(m, trainer.aggregator_input)
    return {
        "m": m,
        "d": int(d),
        "n": int(scalars["n_instances_"]),
        "f": f,
        "h": -1 if history_len is None else history_len,
        "a": (f, f + m),  # either length is valid: a tuple of alternatives
        "k": tuple(range(AUTO_MAX_PATTERNS + 1)),  # 'auto''s modelled patterns: 0 up to the cap
    }


def _shape_matches(got, expected) -> bool:
    """Whether shape ``got`` is ``expected``, whose entries may be tuples of alternatives."""
    return len(got) == len(expected) and all(
        g in e if isinstance(e, tuple) else g == e for g, e in zip(got, expected, strict=True)
    )


def _shape_size(expected, pick=max) -> int:
    """Number of elements of ``expected`` (alternatives resolved by ``pick``)."""
    return int(np.prod([pick(e) if isinstance(e, tuple) else e for e in expected], dtype=np.int64))


def _max_history(trainer, cls_name: str) -> int:
    """Longest history a fit can record: one entry per iteration (plus slack)."""
    limits = [getattr(trainer, name, None) for name in SCHEMAS[cls_name]["iterations"]]
    return 2 * max(int(v) for v in limits if v is not None) + 16


# ---------------------------------------------------------------------------- JSON values
def _json_scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _to_json_value(value):
    """Plain JSON value for a parameter or scalar attribute, or raise TypeError."""
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, type) and issubclass(value, np.generic):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        value = value.item()
    if _json_scalar(value):
        if isinstance(value, float) and not math.isfinite(value):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, (list, tuple)) and all(_json_scalar(v) for v in value):
        return list(value)
    raise TypeError(type(value).__name__)


def _from_json_value(value, where: str):
    """A parameter value from the file: a JSON scalar, a flat list, or an encoded float."""
    if isinstance(value, dict):
        if set(value) == {"__float__"} and value["__float__"] in ("nan", "inf", "-inf"):
            return float(value["__float__"])
        raise ModelFileError(f"{where} is an object {_short(value)}, expected a plain value")
    if isinstance(value, list):
        if not all(_json_scalar(v) for v in value):
            raise ModelFileError(f"{where} is a nested list, expected a flat one")
        return value
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_depth(text: str) -> int:
    """Deepest nesting of [] and {} in JSON ``text`` (strings skipped), in one pass."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _checksum(arr: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(arr.dtype.str).encode())
    h.update(repr(arr.shape).encode())
    h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------- saving
def _resolve_trainer(obj):
    """The trainer inside ``obj``: a trainer itself, or an estimator's fitted ``trainer_``."""
    for candidate in (obj, getattr(obj, "trainer_", None)):
        name = type(candidate).__name__
        if name in SCHEMAS and type(candidate).__module__ == SCHEMAS[name]["module"]:
            return candidate
    if hasattr(obj, "trainer_") or hasattr(obj, "estimators"):
        inner = getattr(obj, "trainer_", None)
        if inner is None:
            raise NotFittedError(
                f"This {type(obj).__name__} instance is not fitted yet: call fit first"
            )
    raise InputTypeError(
        "save expects a fitted cfensemble trainer (CFEnsembleTrainer, "
        "CFEnsemblePyTorchTrainer) or an estimator with a fitted trainer_, "
        f"got {type(obj).__name__}"
    )


def _params_for_file(trainer) -> dict:
    params = trainer.get_params()
    out = {}
    for name, value in params.items():
        if name in _NONE_ONLY_PARAMS:
            if value is not None and name == "callback":
                warn_external(
                    "the trainer's callback is a Python function and cannot be stored in a "
                    "model file; the loaded trainer has callback=None"
                )
            out[name] = None
            continue
        if name == "confidence" and callable(value):
            raise InvalidParameterError(
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
            raise InvalidParameterError(
                f"parameter {name}={value!r} of {type(trainer).__name__} cannot be stored in "
                "a model file (expected a number, string, bool, None or a list of them)"
            ) from None
    return out


def _collect(trainer, cls_name: str) -> tuple[dict[str, np.ndarray], dict]:
    """The schema's arrays and scalars of a fitted trainer (anything else is not saved)."""
    schema = SCHEMAS[cls_name]
    arrays: dict[str, np.ndarray] = {}
    for name in schema["arrays"]:
        if name.startswith("history_."):
            series = trainer.history_.get(name[len("history_.") :], [])
            arrays[name] = np.asarray(series, dtype=np.float64)
        elif name == "confidence_.reliability_":
            rel = trainer.confidence_.reliability_
            if rel is not None:
                arrays[name] = np.asarray(rel, dtype=np.float64)
        elif hasattr(trainer, name):
            arrays[name] = np.asarray(getattr(trainer, name), dtype=np.float64)
    scalars = {}
    for name in schema["scalars"]:
        if hasattr(trainer, name):
            value = getattr(trainer, name)
            scalars[name] = value.item() if isinstance(value, np.generic) else value
    return arrays, scalars


def save(obj, path, *, classifier_names=None) -> Path:
    """Write a fitted trainer to one file.

    Parameters
    ----------
    obj : fitted CFEnsembleTrainer, CFEnsemblePyTorchTrainer, or an estimator with ``trainer_``
    path : str or path-like
        Written as given (no extension is added); replaced atomically: the file is written
        to a temporary file in the same folder, flushed, fsynced and renamed over ``path``,
        so an error or an interrupt leaves a previous file at ``path`` untouched.
    classifier_names : sequence of str of length n_classifiers, optional
        Names of R's rows; defaults to the trainer's ``classifier_names_`` if it has one.

    Returns
    -------
    pathlib.Path of the written file.

    Raises
    ------
    NotFittedError, InputTypeError (not a trainer, a parameter a file cannot hold),
    NonFiniteError (the fitted model holds NaN or infinite values: nothing is written).
    """
    trainer = _resolve_trainer(obj)
    trainer._check_fitted()
    cls_name = type(trainer).__name__
    params = _params_for_file(trainer)

    names = classifier_names
    if names is None:
        names = getattr(trainer, "classifier_names_", None)
    if names is not None:
        names = [str(c) for c in names]
        m = getattr(trainer, "n_classifiers_", trainer.n_classifiers)
        if len(names) != m:
            raise ModelFileError(
                f"classifier_names must have n_classifiers={m} entries, got {len(names)}"
            )

    arrays, scalars = _collect(trainer, cls_name)
    # The same checks as loading: a model that could not be read back is never written.
    try:
        _check_fitted_values(trainer, cls_name, arrays, scalars)
    except ModelFileError as exc:
        raise NonFiniteError(
            f"the fitted {cls_name} cannot be saved: {exc}; nothing was written"
        ) from None

    conf = trainer.confidence_
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "class": cls_name,
        "cfensemble_version": _version(),
        "params": params,
        "confidence": {"strategy": conf.strategy, "floor": float(conf.floor)},
        "attributes": {k: _to_json_value(v) for k, v in scalars.items()},
        "classifier_names": names,
        "checksums": {k: _checksum(v) for k, v in arrays.items()},
    }
    payload = dict(arrays)
    payload[_META_KEY] = np.array(json.dumps(meta))
    path = atomic_write(path, lambda f: np.savez_compressed(f, **payload))
    logger.info("saved %s to %s", cls_name, path)
    return path


def _version() -> str:
    from cfensemble._version import __version__

    return __version__


# ---------------------------------------------------------------------------- loading
def _bad_file(path, why: str) -> ModelFileError:
    return ModelFileError(f"{path} is not a usable cfensemble model file: {why}")


def _read_npy_header(f, member: str):
    """(shape, fortran_order, dtype) of a .npy stream, refusing object dtypes."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=1024)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=1024)
    else:  # pragma: no cover - read_magic accepts only these
        raise ValueError(f"npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"member {member!r} has an object dtype (pickle), refused")
    return shape, fortran, dtype


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, shape, dtype) -> np.ndarray:
    """The array of one member, whose header must declare exactly ``shape`` and ``dtype``."""
    with zf.open(info) as f:
        got_shape, fortran, got_dtype = _read_npy_header(f, info.filename)
        if not _shape_matches(tuple(got_shape), tuple(shape)) or got_dtype != dtype:
            raise ModelFileError(
                f"{info.filename[:-4]} has shape {tuple(got_shape)} and dtype {got_dtype}, "
                f"expected {tuple(shape)} and {dtype}"
            )
        shape = tuple(got_shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        data = f.read(nbytes)
        if len(data) != nbytes or f.read(1):
            raise ValueError(f"member {info.filename!r} has the wrong length")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return arr.copy()


def _check_meta_types(meta, path) -> None:
    """Entries of the metadata JSON of the types the format defines."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise _bad_file(path, f"its metadata does not declare format {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        hint = (
            "it was written by a newer cfensemble: upgrade cfensemble"
            if isinstance(version, int) and version > FORMAT_VERSION
            else "refit and save the model with this cfensemble"
        )
        raise _bad_file(
            path,
            f"format version {version!r}, this cfensemble reads version {FORMAT_VERSION}; " + hint,
        )
    for key in ("class", "params", "confidence", "attributes", "checksums"):
        if key not in meta:
            raise _bad_file(path, f"its metadata lacks {key!r}")
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise _bad_file(path, f"its metadata has unknown entries {unknown}")
    types = {
        "class": str,
        "params": dict,
        "confidence": dict,
        "attributes": dict,
        "checksums": dict,
    }
    for key, kind in types.items():
        if not isinstance(meta[key], kind):
            raise _bad_file(
                path,
                f"its metadata entry {key!r} is a {type(meta[key]).__name__}, expected a "
                f"{'string' if kind is str else 'JSON object'}",
            )
    if not all(isinstance(v, str) for v in meta["checksums"].values()):
        raise _bad_file(path, "its checksums are not strings")
    names = meta.get("classifier_names")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(c, str) for c in names)
    ):
        raise _bad_file(path, "its classifier_names are not a list of strings")


def _build_trainer(meta, path):
    """The trainer the metadata's class and parameters describe, validated by the class."""
    cls_name = meta["class"]
    if cls_name not in SCHEMAS:
        raise _bad_file(path, f"unknown class {cls_name!r}; expected one of {sorted(SCHEMAS)}")
    cls = _trainer_class(cls_name)
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(meta["params"]) - set(allowed))
    if unknown:
        raise _bad_file(path, f"unknown parameters {unknown} for {cls_name}")
    params = {}
    for name, value in meta["params"].items():
        try:
            value = _from_json_value(value, f"parameter {name}")
        except ModelFileError as exc:
            raise _bad_file(path, str(exc)) from None
        if name in _NONE_ONLY_PARAMS and value is not None:
            raise _bad_file(path, f"parameter {name} must be null in a model file")
        params[name] = value
    try:
        trainer = cls(**params)
        trainer._validate_params()
    except Exception as exc:  # noqa: BLE001 - any parameter the class refuses
        raise _bad_file(path, f"its parameters do not build a {cls_name} ({exc})") from None
    return trainer, cls_name


def _check_scalars(scalars: dict, cls_name: str, path) -> dict:
    specs = SCHEMAS[cls_name]["scalars"]
    unknown = sorted(set(scalars) - set(specs))
    if unknown:
        raise _bad_file(path, f"unknown fitted attributes {unknown} for {cls_name}")
    out = {}
    for name, spec in specs.items():
        if name not in scalars:
            if spec.required:
                raise _bad_file(path, f"it lacks the fitted attribute {name}")
            continue
        value = scalars[name]
        if spec.kind == "float" and isinstance(value, dict):
            try:
                value = _from_json_value(value, name)
            except ModelFileError as exc:
                raise _bad_file(path, str(exc)) from None
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            "float": isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str) and len(value) <= 10_000,
        }[spec.kind]
        if not ok:
            raise _bad_file(
                path, f"fitted attribute {name}={_short(value)} is not a valid {spec.kind}"
            )
        out[name] = float(value) if spec.kind == "float" else value
    return out


def _expected_shapes(trainer, cls_name: str, scalars: dict, history_len: int) -> dict:
    dims = _dimensions(trainer, scalars, history_len)
    return {
        name: tuple(dims[s] for s in spec.shape)
        for name, spec in SCHEMAS[cls_name]["arrays"].items()
    }


def _check_values(name: str, arr: np.ndarray, spec: ArraySpec) -> None:
    if spec.values in ("finite", "nonneg"):
        if not np.isfinite(arr).all():
            raise ModelFileError(f"{name} holds non-finite values")
        if spec.values == "nonneg" and arr.size and arr.min() < 0:
            raise ModelFileError(f"{name} holds negative values")
    elif spec.values == "prob_or_nan":
        v = arr[~np.isnan(arr)]
        if v.size and (v.min() < 0 or v.max() > 1):
            raise ModelFileError(f"{name} holds values outside [0, 1]")
    elif spec.values == "binary":
        if ((arr != 0) & (arr != 1)).any():  # NaN too
            raise ModelFileError(f"{name} holds values other than 0 and 1")
    elif spec.values == "label_or_nan":
        v = arr[~np.isnan(arr)]
        if ((v != 0) & (v != 1)).any():
            raise ModelFileError(f"{name} holds values other than 0, 1 and NaN")


def _check_fitted_values(trainer, cls_name: str, arrays: dict, scalars: dict) -> None:
    """Schema check of in-memory fitted values (names, shapes, values); ModelFileError."""
    specs = SCHEMAS[cls_name]["arrays"]
    checked = _check_scalars(scalars, cls_name, "the model")
    hist = arrays.get("history_.combined")
    shapes = _expected_shapes(trainer, cls_name, checked, 0 if hist is None else hist.shape[0])
    for name, spec in specs.items():
        if name not in arrays:
            if spec.required:
                raise ModelFileError(f"it lacks the fitted array {name}")
            continue
        if not _shape_matches(arrays[name].shape, shapes[name]):
            raise ModelFileError(f"{name} has shape {arrays[name].shape}, expected {shapes[name]}")
        _check_values(name, arrays[name], spec)


def _open_zip(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.is_dir():
        raise _bad_file(path, "it is a directory")
    f = open(path, "rb")  # noqa: SIM115 - closed by the caller through the ZipFile
    try:
        if f.read(4) != _ZIP_MAGIC:
            raise _bad_file(path, "it is not a cfensemble .npz archive (wrong leading bytes)")
        f.seek(0)
        return zipfile.ZipFile(f)
    except ModelFileError:
        f.close()
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged zip directory of any kind
        f.close()
        raise _bad_file(path, f"truncated or corrupt ({type(exc).__name__}: {exc})") from None


def _read(path):
    """(metadata, arrays, trainer) of a model file, every check done; raises ModelFileError."""
    zf = _open_zip(path)
    try:
        with zf:
            return _read_zip(zf, path)
    except (ModelFileError, FileNotFoundError):
        raise
    except RecursionError:
        raise _bad_file(path, "its metadata is nested too deeply") from None
    except Exception as exc:  # noqa: BLE001 - zip, zlib, header-parser and size errors alike
        raise _bad_file(path, f"truncated or corrupt ({type(exc).__name__}: {exc})") from None


def _read_zip(zf: zipfile.ZipFile, path):
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _bad_file(path, f"it has {len(infos)} members (at most {MAX_MEMBERS})")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename[:-4] in members:
            raise _bad_file(path, f"unexpected or repeated member {info.filename[:60]!r}")
        members[info.filename[:-4]] = info
    if _META_KEY not in members:
        raise _bad_file(path, "it has no cfensemble metadata (a plain .npz file?)")
    meta_info = members.pop(_META_KEY)
    if meta_info.file_size > MAX_META_BYTES:
        raise _bad_file(
            path, f"its metadata declares {meta_info.file_size} bytes (at most {MAX_META_BYTES})"
        )
    with zf.open(meta_info) as f:
        shape, _, dtype = _read_npy_header(f, _META_KEY)
        if shape != () or dtype.kind != "U":
            raise _bad_file(path, "its metadata is not a string")
        raw = f.read(dtype.itemsize)
    text = np.frombuffer(raw, dtype=dtype)[0] if len(raw) == dtype.itemsize else None
    if text is None:
        raise _bad_file(path, "its metadata is truncated")
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise _bad_file(path, f"its metadata nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        meta = json.loads(str(text))
    except (json.JSONDecodeError, ValueError) as exc:
        raise _bad_file(path, f"its metadata is not valid JSON ({exc})") from None
    _check_meta_types(meta, path)
    if set(meta["checksums"]) != set(members):
        raise _bad_file(path, "its array list does not match its metadata (corrupt)")

    trainer, cls_name = _build_trainer(meta, path)
    scalars = _check_scalars(meta["attributes"], cls_name, path)
    specs = SCHEMAS[cls_name]["arrays"]
    unknown = sorted(set(members) - set(specs))
    if unknown:
        raise _bad_file(path, f"unknown arrays {unknown} for {cls_name}")
    missing = [k for k, s in specs.items() if s.required and k not in members]
    if missing:
        raise _bad_file(path, f"it lacks the fitted arrays {missing}")

    # Every size is fixed by the schema before anything is decompressed.
    with zf.open(members["history_.combined"]) as f:
        hist_shape = _read_npy_header(f, "history_.combined")[0]
    h_max = _max_history(trainer, cls_name)
    if len(hist_shape) != 1 or hist_shape[0] > h_max:
        raise _bad_file(path, f"history_ has shape {hist_shape}, at most ({h_max},)")
    try:
        shapes = _expected_shapes(trainer, cls_name, scalars, hist_shape[0])
    except ModelFileError as exc:
        raise _bad_file(path, str(exc)) from None
    f8 = np.dtype("<f8")
    arrays = {}
    for name, info in members.items():
        nbytes = _shape_size(shapes[name]) * 8
        if not _shape_size(shapes[name], min) * 8 <= info.file_size <= nbytes + _NPY_HEADER_MAX:
            raise _bad_file(
                path,
                f"{name} declares {info.file_size} bytes, its shape {shapes[name]} needs "
                f"{nbytes} plus a header",
            )
    for name, info in members.items():
        try:
            arrays[name] = _read_member(zf, info, shapes[name], f8)
        except ModelFileError as exc:
            raise _bad_file(path, str(exc)) from None
        if _checksum(arrays[name]) != meta["checksums"][name]:
            raise _bad_file(path, f"array {name!r} fails its checksum (corrupt)")
        try:
            _check_values(name, arrays[name], specs[name])
        except ModelFileError as exc:
            raise _bad_file(path, str(exc)) from None
    names = meta.get("classifier_names")
    m = scalars.get("n_classifiers_", trainer.n_classifiers)
    if names is not None and len(names) != m:
        raise _bad_file(path, f"{len(names)} classifier names for n_classifiers={m}")
    return meta, arrays, trainer, scalars


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
    FileNotFoundError if ``path`` does not exist; ModelFileError (a ValueError) if the file
    is truncated, corrupt, not a cfensemble model, of another format version, or breaks the
    class's schema (names, dtypes, shapes, values, parameters).
    """
    from cfensemble.confidence import Confidence

    meta, arrays, trainer, scalars = _read(path)
    conf_meta = meta["confidence"]
    try:
        if set(conf_meta) != {"strategy", "floor"}:
            raise ValueError(f"entries {sorted(conf_meta)}, expected ['floor', 'strategy']")
        strategy, floor = conf_meta["strategy"], conf_meta["floor"]
        if (
            not isinstance(strategy, str)
            or not isinstance(floor, (int, float))
            or isinstance(floor, bool)
        ):
            raise ValueError("strategy must be a string and floor a number")
        conf = Confidence(strategy, floor=float(floor))
        if not (math.isfinite(conf.floor) and 0.0 <= conf.floor <= 1.0):
            raise ValueError(f"floor {conf.floor} outside [0, 1]")
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_file(path, f"its confidence entry is invalid ({exc})") from None
    conf.reliability_ = arrays.pop("confidence_.reliability_", None)
    trainer.confidence_ = conf
    trainer.history_ = {key: arrays.pop(f"history_.{key}").tolist() for key in _HISTORY_KEYS}
    for name, value in scalars.items():
        setattr(trainer, name, value)
    # Files hold float64; factors fitted in float32 are given back in float32 (exact: every
    # float32 is a float64), so predictions after loading equal those before saving.
    single = isinstance(trainer, _trainer_class("CFEnsembleTrainer")) and (
        np.dtype(trainer.dtype) == np.float32
    )
    for name, arr in arrays.items():
        setattr(trainer, name, arr.astype(np.float32) if single and name in ("X_", "Y_") else arr)
    names = meta.get("classifier_names")
    trainer.classifier_names_ = None if names is None else list(names)
    return trainer
