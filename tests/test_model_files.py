"""Crafted model files: a model file is untrusted input and can only load as a valid model.

Each case edits a valid file the way an attacker could (with consistent checksums, so that
only the schema stands in the way) and checks that loading refuses it with a
ModelFileError naming the problem, quickly and without large allocations.
"""

import json
import struct
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from cfensemble.exceptions import ModelFileError, NonFiniteError
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.persistence import _checksum, load, save
from cfensemble.synthetic import make_ensemble

M = 5
META = "__cfensemble_meta__"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    ens = make_ensemble(n_classifiers=M, n_instances=60, missing_rate=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=0).fit(ens.data)
    path = tmp_path_factory.mktemp("model") / "m.cfe"
    save(tr, path, classifier_names=[f"c{u}" for u in range(M)])
    return path.read_bytes(), tr


def members(raw, tmp_path):
    src = tmp_path / "src.cfe"
    src.write_bytes(raw)
    with zipfile.ZipFile(src) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def npy_bytes(arr) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=True)
    return buf.getvalue()


def craft(raw, tmp_path, *, meta=None, arrays=None, meta_text=None, drop=()):
    """A model file with edited metadata/arrays; checksums recomputed to match."""
    files = members(raw, tmp_path)
    with np.load(tmp_path / "src.cfe", allow_pickle=False) as npz:
        m = json.loads(str(npz[META][()]))
    for name in drop:
        files.pop(name + ".npy")
        m["checksums"].pop(name, None)
    for name, arr in (arrays or {}).items():
        files[name + ".npy"] = npy_bytes(arr)
        if np.asarray(arr).dtype != object:
            m["checksums"][name] = _checksum(np.asarray(arr))
    if meta:
        meta(m)
    text = meta_text(json.dumps(m)) if meta_text else json.dumps(m)
    files[META + ".npy"] = npy_bytes(np.array(text))
    out = tmp_path / "crafted.cfe"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out


def refused(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        load(path)
    assert "not a usable cfensemble model file" in str(info.value)


def test_control_crafted_copy_loads(model, tmp_path):
    raw, tr = model
    back = load(craft(raw, tmp_path))
    np.testing.assert_array_equal(back.predict(), tr.predict())


@pytest.mark.parametrize(
    "edit, match",
    [
        # attributes were set on the object as given
        (lambda m: m["attributes"].update(__class__="x"), r"unknown fitted .*'__class__'"),
        (lambda m: m["attributes"].update(predict=1), r"unknown fitted attributes \['predict'\]"),
        (lambda m: m["attributes"].update(rho=5), r"unknown fitted attributes \['rho'\]"),
        (lambda m: m["attributes"].update(b_={"__float__": "nan"}), "b_=.* not a valid float"),
        (lambda m: m["attributes"].update(b_="0.5"), "b_=.* not a valid float"),
        (lambda m: m["attributes"].update(n_iter_=-1), "n_iter_=-1 is not a valid int"),
        (lambda m: m["attributes"].update(converged_=1), "converged_=1 is not a valid bool"),
        (lambda m: m["attributes"].pop("b_"), "lacks the fitted attribute b_"),
        # parameters go through the class's validation
        (lambda m: m["params"].update(rho=5), "parameters do not build.*rho must be <= 1"),
        (lambda m: m["params"].update(lambda_reg=-1), "parameters do not build.*lambda_reg"),
        (lambda m: m["params"].update(evil=1), r"unknown parameters \['evil'\]"),
        (lambda m: m["params"].update(callback="os.system"), "callback must be null"),
        (lambda m: m["params"].update(latent_dim={"a": 1}), "latent_dim is an object"),
        (lambda m: m["params"].update(latent_dim=[[2]]), "nested list"),
        # wrong JSON types crashed with AttributeError
        (lambda m: m.update(params=[]), "'params' is a list, expected a JSON object"),
        (lambda m: m.update(attributes="x"), "'attributes' is a str"),
        (lambda m: m.update(confidence=3), "'confidence' is a int"),
        (lambda m: m.update(checksums=None), "'checksums' is a NoneType"),
        (lambda m: m.update({"class": ["CFEnsembleTrainer"]}), "'class' is a list"),
        (lambda m: m.update(classifier_names="abc"), "classifier_names are not a list"),
        (lambda m: m.update(classifier_names=["a"]), "1 classifier names for n_classifiers=5"),
        (lambda m: m.update(extra=1), r"unknown entries \['extra'\]"),
        (lambda m: m.update(format_version=True), "format version True"),
        (lambda m: m["confidence"].update(floor=float("nan")), "confidence entry is invalid"),
        (lambda m: m["confidence"].update(floor="0.1"), "confidence entry is invalid"),
        (lambda m: m["confidence"].update(evil=1), "confidence entry is invalid"),
        # sizes follow from the parameters and fitted integers
        (lambda m: m["attributes"].update(n_instances_=10**9), "declares .* bytes"),
        (lambda m: m["params"].update(n_classifiers=4), "shape|classifier names|n_classifiers_"),
    ],
)  # fmt: skip
def test_crafted_metadata_is_refused(edit, match, model, tmp_path):
    refused(craft(model[0], tmp_path, meta=edit), match)


@pytest.mark.parametrize(
    "arrays, drop, match",
    [
        ({"X_": np.zeros((2, M), dtype=complex)}, (), "dtype complex128, expected .*float64"),
        ({"X_": np.zeros((2, M), dtype=np.float32)}, (), "dtype float32"),
        ({"X_": np.zeros((2, M), dtype=object)}, (), "object dtype"),
        ({"X_": np.zeros((3, M))}, (), r"X_ declares|X_ has shape"),
        ({"w_": np.full(M, np.nan)}, (), "w_ holds non-finite values"),
        ({"X_": np.full((2, M), np.inf)}, (), "X_ holds non-finite values"),
        ({"C_": -np.ones((M, 60))}, (), "C_ holds negative values"),
        ({"_fit_labels": np.full(60, 2.0)}, (), "values other than 0, 1 and NaN"),
        ({"_fit_R": np.full((M, 60), 1.5)}, (), r"outside \[0, 1\]"),
        ({"evil": np.zeros(3)}, (), r"unknown arrays \['evil'\]"),
        ({}, ("Y_",), r"lacks the fitted arrays \['Y_'\]"),
        ({}, ("history_.sup",), "lacks the fitted arrays"),
        (
            {f"history_.{k}": np.zeros(10**5) for k in ("combined", "recon", "sup", "time")},
            (),
            r"history_ has shape \(100000,\), at most \(22,\)",
        ),
        ({"history_.sup": np.zeros(2)}, (), r"history_.sup has shape \(2,\)"),
    ],
)
def test_crafted_arrays_are_refused(arrays, drop, match, model, tmp_path):
    refused(craft(model[0], tmp_path, arrays=arrays, drop=drop), match)


def test_deeply_nested_json_is_refused(model, tmp_path):
    """100,000 levels crashed the parser with RecursionError."""

    def deep(text):
        return text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"

    refused(craft(model[0], tmp_path, meta_text=deep), "nests deeper than")


def _patch_declared_size(path, member: str, size: int) -> None:
    """Set ``member``'s uncompressed size in the zip's central directory to ``size``."""
    raw = bytearray(path.read_bytes())
    pos = raw.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", raw, pos + 28)[0]
        name = bytes(raw[pos + 46 : pos + 46 + name_len]).decode()
        if name == member:
            struct.pack_into("<I", raw, pos + 24, size)
        pos = raw.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("member", ["Y_.npy", "__cfensemble_meta__.npy", "history_.time.npy"])
def test_declared_sizes_are_bounded_before_decompression(member, model, tmp_path):
    """A small file declaring gigabytes was expanded (1.9-5.9 GB) before being rejected."""
    path = craft(model[0], tmp_path)
    _patch_declared_size(path, member, 0xFFFF0000)  # about 4 GB
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="declares|history_ has shape|truncated"):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_huge_instance_count_costs_no_memory(model, tmp_path):
    path = craft(model[0], tmp_path, meta=lambda m: m["attributes"].update(n_instances_=10**12))
    tracemalloc.start()
    try:
        refused(path, "declares")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, peak


def test_nonfinite_model_is_never_written(model, tmp_path):
    """A fit ending with NaN factors replaced a good model with an unloadable one."""
    raw, tr = model
    path = tmp_path / "m.cfe"
    path.write_bytes(raw)
    saved = tr.w_.copy()
    tr.w_ = np.full_like(saved, np.nan)
    try:
        with pytest.raises(NonFiniteError, match="w_ holds non-finite values; nothing"):
            save(tr, path)
    finally:
        tr.w_ = saved
    assert path.read_bytes() == raw
    assert [p.name for p in tmp_path.iterdir()] == ["m.cfe"]  # no temporary file left


def test_saving_keeps_the_file_mode_and_leaves_no_temporary(model, tmp_path):
    raw, tr = model
    path = tmp_path / "m.cfe"
    path.write_bytes(b"old")
    path.chmod(0o640)
    save(tr, path)
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.cfe"]
    np.testing.assert_array_equal(load(path).predict(), tr.predict())
