"""Property-based fuzzing of everything that reads untrusted input.

EnsembleData (arrays of any dtype, shape, mask and value), the CSV reader (any text or
bytes), the model loader (byte flips, truncations, and crafted metadata/arrays with valid
checksums) and the atomic writer (a failure at any point). Each either gives a result that
satisfies the documented invariants or raises the library's own error; nothing else.

Bounded by a Hypothesis profile: ``make test`` runs a few dozen derandomized examples per
property (seconds); ``make fuzz`` sets ``CFENSEMBLE_FUZZ=long`` (random, many examples;
``CFENSEMBLE_FUZZ_EXAMPLES`` sets how many per property) and prints the statistics.
"""

import io
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cfensemble._fileio import atomic_write
from cfensemble.cli import read_labels, read_predictions
from cfensemble.data import EnsembleData
from cfensemble.exceptions import CFEnsembleError, ModelFileError
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.persistence import _checksum, load, save
from cfensemble.synthetic import make_ensemble

settings.register_profile(
    "quick",
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("CFENSEMBLE_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PROFILE = settings.get_profile(
    "long" if os.environ.get("CFENSEMBLE_FUZZ", "").lower() == "long" else "quick"
)

# ---------------------------------------------------------------------- EnsembleData
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)
DTYPES = st.sampled_from(["f8", "f4", "f2", "i8", "u1", "b1", "c16", "U3", "O"])


@st.composite
def any_array(draw, max_dims=3):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=5))
    if dtype == "O":
        return np.array(draw(st.lists(FLOATS | st.text(max_size=2), max_size=5)), dtype=object)
    if dtype in ("f8", "f4", "f2"):
        elements = st.one_of(
            st.floats(0, 1, width=16 if dtype == "f2" else 32),
            st.floats(width=16 if dtype == "f2" else 32, allow_nan=True),
            st.just(np.nan),
        )
        arr = draw(hnp.arrays(dtype, shape, elements=elements))
    elif dtype == "U3":
        text = st.text(st.characters(blacklist_characters="\x00"), max_size=3)
        arr = draw(hnp.arrays(dtype, shape, elements=text))
    else:
        arr = draw(hnp.arrays(dtype, shape))
    if draw(st.booleans()) and arr.dtype.kind in "fiub":
        mask = draw(hnp.arrays(bool, arr.shape))
        return np.ma.masked_array(arr, mask=mask)
    return arr


@st.composite
def probability_matrix(draw):
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 6))
    cell = st.one_of(st.floats(0, 1), st.just(np.nan), st.sampled_from([0.0, 1.0, 0.5]))
    return draw(hnp.arrays("f8", (m, n), elements=cell))


@given(
    R=st.one_of(probability_matrix(), any_array()),
    labels=st.one_of(st.none(), any_array(max_dims=2), st.lists(FLOATS, max_size=7)),
    C=st.one_of(st.none(), any_array()),
)
@PROFILE
@pytest.mark.filterwarnings("ignore:R has .* rows")  # random shapes: more rows than columns
def test_fuzz_ensemble_data(R, labels, C):
    try:
        data = EnsembleData(R, labels, C)
    except CFEnsembleError as exc:
        assert str(exc)
        return
    m, n = data.R.shape
    assert data.R.dtype == np.float64 and data.R.ndim == 2
    observed = data.R[~np.isnan(data.R)]
    assert ((observed >= 0) & (observed <= 1)).all()
    np.testing.assert_array_equal(data.observed, ~np.isnan(data.R))
    assert data.observed.any(axis=1).all()  # every classifier has a prediction
    assert data.labels.shape == (n,)
    lab = data.labels[~np.isnan(data.labels)]
    assert np.isin(lab, [0.0, 1.0]).all()
    if np.ma.isMaskedArray(R):
        assert not data.observed[np.ma.getmaskarray(R)].any()
    if data.C is not None:
        assert data.C.shape == (m, n) and np.isfinite(data.C).all() and (data.C >= 0).all()
        assert (data.C[~data.observed] == 0).all()


# ---------------------------------------------------------------------- CSV reader
CSV_ALPHABET = st.sampled_from(
    list("0123456789.,,,\n\n\"' -e+abNn\t\r") + ["\ufeff", "\x00", "nan", "1.0", "0.5", ""]
)
CSV_TEXT = st.lists(CSV_ALPHABET, max_size=60).map("".join)


@st.composite
def csv_like(draw):
    """Mostly near-valid tables (a header and numeric rows with damage), sometimes noise."""
    if draw(st.booleans()):
        return draw(CSV_TEXT).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=80))
    k = draw(st.integers(1, 4))
    header = draw(st.lists(st.sampled_from(["a", "b", "c", "id", "", "a"]), min_size=k, max_size=k))
    cell = st.sampled_from(["0.1", "0.9", "", "1", "0", "nan", "x", "1.5", "-0.2", '"0.3"', "1e-3"])
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=k + 1), max_size=6))
    body = [",".join(header)] + [",".join(r) for r in rows]
    return ("\n".join(body) + draw(st.sampled_from(["", "\n", "\n\n"]))).encode("utf-8")


def _tmpfile(content: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    return Path(name)


@given(content=csv_like(), transposed=st.booleans(), n=st.integers(1, 6))
@PROFILE
def test_fuzz_csv_reader(content, transposed, n):
    path = _tmpfile(content, ".csv")
    try:
        try:
            R, names, ids, _ = read_predictions(path, transposed=transposed)
        except CFEnsembleError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
        else:
            m, k = R.shape
            assert m >= 1 and k >= 1 and len(names) == m and len(set(names)) == m
            v = R[~np.isnan(R)]
            assert ((v >= 0) & (v <= 1)).all()
        try:
            y = read_labels(path, n)
        except CFEnsembleError as exc:
            assert str(exc)
        else:
            assert y.shape == (n,)
            assert np.isin(y[~np.isnan(y)], [0.0, 1.0]).all()
    finally:
        path.unlink()


# ---------------------------------------------------------------------- model loader
M = 4


def _model():
    ens = make_ensemble(n_classifiers=M, n_instances=30, missing_rate=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=0).fit(ens.data)
    path = _tmpfile(b"", ".cfe")
    save(tr, path, classifier_names=list("abcd"))
    raw = path.read_bytes()
    path.unlink()
    return raw, tr.predict(), tr.predict(ens.R[:, :7])


MODEL_RAW, MODEL_P, MODEL_P_NEW = _model()
R_NEW = make_ensemble(n_classifiers=M, n_instances=30, missing_rate=0.2, random_state=0).R[:, :7]


def _load_checked(raw: bytes):
    """load() on ``raw``: a ModelFileError, or a model with a valid prediction."""
    path = _tmpfile(raw, ".cfe")
    try:
        try:
            tr = load(path)
        except ModelFileError as exc:
            assert "not a usable cfensemble model file" in str(exc)
            return None
        p = tr.predict(R_NEW)
        assert p.shape == (7,) and np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
        return tr
    finally:
        path.unlink()


@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(MODEL_RAW) - 1), st.integers(1, 255)), min_size=1, max_size=4
    ),
    cut=st.one_of(st.none(), st.integers(0, len(MODEL_RAW))),
)
@PROFILE
def test_fuzz_model_bytes(edits, cut):
    raw = bytearray(MODEL_RAW)
    for pos, x in edits:
        raw[pos] ^= x
    if cut is not None:
        raw = raw[:cut]
    tr = _load_checked(bytes(raw))
    if tr is not None:  # a flip that carries no data: the model is intact
        np.testing.assert_array_equal(tr.predict(), MODEL_P)
        np.testing.assert_array_equal(tr.predict(R_NEW), MODEL_P_NEW)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


def _parts():
    with zipfile.ZipFile(io.BytesIO(MODEL_RAW)) as zf:
        files = {i.filename[:-4]: zf.read(i) for i in zf.infolist()}
    meta = json.loads(str(np.load(io.BytesIO(files.pop("__cfensemble_meta__")))[()]))
    arrays = {k: np.load(io.BytesIO(v)) for k, v in files.items()}
    return meta, arrays


META, ARRAYS = _parts()


def _pack(meta_text: str, arrays: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, arr, allow_pickle=False)
            zf.writestr(name + ".npy", b.getvalue())
        b = io.BytesIO()
        np.lib.format.write_array(b, np.array(meta_text))
        zf.writestr("__cfensemble_meta__.npy", b.getvalue())
    return buf.getvalue()


@st.composite
def crafted_model(draw):
    meta = json.loads(json.dumps(META))
    arrays = dict(ARRAYS)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["meta", "params", "attributes", "confidence", "array"]))
        if where == "meta":
            meta[draw(st.sampled_from(sorted(meta) + ["x"]))] = draw(JSON)
        elif where in ("params", "attributes", "confidence") and isinstance(meta.get(where), dict):
            keys = sorted(meta[where]) + ["__class__", "predict", "rho", "b_", "x"]
            meta[where][draw(st.sampled_from(keys))] = draw(JSON)
        elif where == "array":
            name = draw(st.sampled_from(sorted(arrays) + ["evil"]))
            dtype = draw(st.sampled_from(["f8", "f4", "c16", "i8", "b1"]))
            base = arrays.get(name, np.zeros(3))
            shape = draw(st.one_of(st.just(base.shape), hnp.array_shapes(min_dims=0, max_dims=3)))
            arr = draw(hnp.arrays(dtype, shape))
            arrays[name] = arr
            if isinstance(meta.get("checksums"), dict):
                meta["checksums"][name] = _checksum(arr)
    return _pack(json.dumps(meta), arrays)


@given(raw=crafted_model())
@PROFILE
def test_fuzz_model_metadata_and_arrays(raw):
    _load_checked(raw)


# ---------------------------------------------------------------------- atomic writes
class Boom(Exception):
    pass


@given(
    old=st.one_of(st.none(), st.binary(max_size=50)),
    new=st.binary(max_size=200),
    fail_at=st.one_of(st.none(), st.integers(0, 200)),
)
@PROFILE
def test_fuzz_atomic_write_never_leaves_a_partial_file(old, new, fail_at):
    folder = Path(tempfile.mkdtemp())
    target = folder / "out.bin"
    try:
        if old is not None:
            target.write_bytes(old)

        def write(f):
            for i in range(0, len(new), 7):
                if fail_at is not None and i >= fail_at:
                    raise Boom
                f.write(new[i : i + 7])
            if fail_at is not None and fail_at >= len(new):
                raise Boom

        try:
            atomic_write(target, write)
        except Boom:
            assert target.read_bytes() == old if old is not None else not target.exists()
        else:
            assert target.read_bytes() == new
        assert [p.name for p in folder.iterdir()] == (["out.bin"] if target.exists() else [])
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_profiles_are_bounded():
    """make test stays quick: the default profile runs a few dozen derandomized examples."""
    if os.environ.get("CFENSEMBLE_FUZZ", "").lower() == "long":
        pytest.skip("long fuzzing run")
    assert PROFILE.max_examples <= 50 and PROFILE.derandomize
