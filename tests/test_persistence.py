"""Model files: identical predictions after a round trip, clear errors for damaged files."""

import importlib.util
import inspect
import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.persistence import FORMAT_VERSION, load, read_metadata, save
from cfensemble.synthetic import make_ensemble

HAS_TORCH = importlib.util.find_spec("torch") is not None
M = 6


@pytest.fixture(scope="module")
def ens():
    return make_ensemble(n_classifiers=M, n_instances=240, missing_rate=0.2, random_state=0)


@pytest.fixture(scope="module")
def R_new():
    return make_ensemble(n_classifiers=M, n_instances=40, missing_rate=0.1, random_state=1).R


def _fit(trainer, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trainer.fit(data)


def _trainers():
    out = [
        pytest.param(
            lambda: CFEnsembleTrainer(M, latent_dim=2, max_iter=8, random_state=0), id="als"
        ),
        pytest.param(
            lambda: CFEnsembleTrainer(
                M, latent_dim=2, max_iter=8, confidence="adaptive", random_state=0
            ),
            id="als-adaptive",
        ),
        pytest.param(
            lambda: CFEnsembleTrainer(
                M, latent_dim=2, max_iter=8, aggregator="mean", random_state=0
            ),
            id="als-mean",
        ),
        pytest.param(
            lambda: CFEnsembleTrainer(
                M,
                latent_dim=2,
                solver="varpro",
                max_iter=8,
                confidence="calibration",
                random_state=0,
            ),
            id="varpro",
        ),
    ]

    has_input = "aggregator_input" in inspect.signature(CFEnsembleTrainer.__init__).parameters
    out.append(
        pytest.param(
            lambda: CFEnsembleTrainer(
                M,
                latent_dim=2,
                solver="varpro",
                max_iter=8,
                aggregator_input="both",
                random_state=0,
            ),
            id="varpro-both-inputs",
            marks=pytest.mark.skipif(not has_input, reason="no aggregator_input yet"),
        )
    )

    def torch_trainer():
        from cfensemble.optimization import CFEnsemblePyTorchTrainer

        return CFEnsemblePyTorchTrainer(M, latent_dim=2, max_iter=5, random_state=0)

    out.append(
        pytest.param(
            torch_trainer,
            id="pytorch",
            marks=pytest.mark.skipif(not HAS_TORCH, reason="torch not installed"),
        )
    )
    return out


@pytest.mark.parametrize("make", _trainers())
def test_round_trip_identical_predictions(make, ens, R_new, tmp_path):
    tr = _fit(make(), ens.data)
    path = tr.save(tmp_path / "model.cfe")
    assert path == tmp_path / "model.cfe" and path.exists()  # no ".npz" appended
    back = load(path)
    assert type(back) is type(tr)
    assert back.get_params() == tr.get_params()
    np.testing.assert_array_equal(back.predict(), tr.predict())
    np.testing.assert_array_equal(back.predict(R_new), tr.predict(R_new))
    assert back.combined_loss(ens.data) == tr.combined_loss(ens.data)
    assert back.history_["combined"] == tr.history_["combined"]
    assert back.n_iter_ == tr.n_iter_ and back.converged_ == tr.converged_
    assert isinstance(back.b_, float)
    # classmethod form
    again = type(tr).load(path)
    np.testing.assert_array_equal(again.predict(R_new), tr.predict(R_new))


def test_estimator_trainer_round_trip(tmp_path):
    estimator = pytest.importorskip("cfensemble.estimator")
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.RandomState(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(200) > 0.5).astype(int)
    pool = [
        ("lr", LogisticRegression()),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]
    clf = estimator.CFEnsembleClassifier(pool, latent_dim=1, cv=3, max_iter=10, random_state=0)
    clf.fit(X, y)
    save(clf, tmp_path / "clf.cfe")  # an estimator saves its fitted CF part
    back = load(tmp_path / "clf.cfe")
    R_new = rng.uniform(size=(3, 20))  # (n_estimators, n_new)
    np.testing.assert_array_equal(back.predict(), clf.trainer_.predict())
    np.testing.assert_array_equal(back.predict(R_new), clf.trainer_.predict(R_new))


def test_classifier_names_saved(ens, tmp_path):
    tr = _fit(CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=0), ens.data)
    names = [f"clf{u}" for u in range(M)]
    tr.save(tmp_path / "m.cfe", classifier_names=names)
    assert read_metadata(tmp_path / "m.cfe")["classifier_names"] == names
    back = load(tmp_path / "m.cfe")
    assert back.classifier_names_ == names
    back.save(tmp_path / "m2.cfe")  # names travel on
    assert load(tmp_path / "m2.cfe").classifier_names_ == names
    with pytest.raises(ValueError, match="classifier_names must have n_classifiers=6"):
        tr.save(tmp_path / "m3.cfe", classifier_names=["a", "b"])


def test_unfitted_and_wrong_objects(tmp_path):
    with pytest.raises(NotFittedError, match="not fitted"):
        CFEnsembleTrainer(M).save(tmp_path / "m.cfe")
    with pytest.raises(TypeError, match="save expects a fitted cfensemble trainer"):
        save(object(), tmp_path / "m.cfe")


def test_callable_confidence_cannot_be_saved(ens, tmp_path):
    def conf(R, observed, labels):
        return observed.astype(float)

    tr = _fit(CFEnsembleTrainer(M, latent_dim=2, max_iter=3, confidence=conf), ens.data)
    with pytest.raises(ValueError, match="confidence is a callable strategy"):
        tr.save(tmp_path / "m.cfe")
    assert not (tmp_path / "m.cfe").exists()


def test_callback_is_dropped_with_a_warning(ens, tmp_path):
    tr = _fit(
        CFEnsembleTrainer(M, latent_dim=2, max_iter=3, callback=lambda it, loss: None),
        ens.data,
    )
    with pytest.warns(UserWarning, match="callback .* cannot be stored"):
        tr.save(tmp_path / "m.cfe")
    back = load(tmp_path / "m.cfe")
    assert back.callback is None
    np.testing.assert_array_equal(back.predict(), tr.predict())


def test_random_state_object_is_not_stored(ens, tmp_path):
    tr = _fit(
        CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=np.random.RandomState(3)),
        ens.data,
    )
    tr.save(tmp_path / "m.cfe")
    back = load(tmp_path / "m.cfe")
    assert back.random_state is None
    np.testing.assert_array_equal(back.predict(), tr.predict())


# ---------------------------------------------------------------------- damaged files
@pytest.fixture(scope="module")
def model_bytes(ens, tmp_path_factory):
    tr = _fit(CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=0), ens.data)
    path = tmp_path_factory.mktemp("m") / "m.cfe"
    tr.save(path)
    return path.read_bytes(), tr


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nope.cfe")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "wrong leading bytes"),
        (b"R,y\n0.1,1\n", "wrong leading bytes"),
        (b"\x93NUMPY\x01\x00", "wrong leading bytes"),
    ],
)
def test_not_a_model(content, match, tmp_path):
    (tmp_path / "m.cfe").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load(tmp_path / "m.cfe")


def test_plain_npz_is_refused(tmp_path):
    with open(tmp_path / "m.cfe", "wb") as f:
        np.savez(f, X_=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="no cfensemble metadata"):
        load(tmp_path / "m.cfe")


def test_truncated_files_are_refused(model_bytes, tmp_path):
    raw, _ = model_bytes
    path = tmp_path / "m.cfe"
    for k in list(range(0, len(raw), max(1, len(raw) // 60))) + [len(raw) - 1]:
        path.write_bytes(raw[:k])
        with pytest.raises(ValueError, match="not a usable cfensemble model file"):
            load(path)


def test_corrupt_bytes_never_give_garbage(model_bytes, tmp_path):
    raw, tr = model_bytes
    path = tmp_path / "m.cfe"
    expected = tr.predict()
    rng = np.random.RandomState(0)
    for pos in rng.choice(len(raw), 150, replace=False):
        b = bytearray(raw)
        b[pos] ^= 0x5A
        path.write_bytes(bytes(b))
        try:
            back = load(path)
        except ValueError as exc:
            assert "not a usable cfensemble model file" in str(exc)
        else:  # a flip in zip bookkeeping that carries no data: the model must be intact
            np.testing.assert_array_equal(back.predict(), expected)


def _rewrite(raw, tmp_path, edit_meta=None, edit_arrays=None):
    src = tmp_path / "src.cfe"
    src.write_bytes(raw)
    with np.load(src, allow_pickle=False) as npz:
        payload = {k: npz[k] for k in npz.files}
    meta = json.loads(str(payload.pop("__cfensemble_meta__")[()]))
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(payload)
    payload["__cfensemble_meta__"] = np.array(json.dumps(meta))
    out = tmp_path / "edited.cfe"
    with open(out, "wb") as f:
        np.savez_compressed(f, **payload)
    return out


@pytest.mark.parametrize(
    "edit_meta, edit_arrays, match",
    [
        (lambda m: m.update(format_version=FORMAT_VERSION + 1), None, "upgrade cfensemble"),
        (lambda m: m.update(format_version=0), None, "format version 0"),
        (lambda m: m.update(format="other"), None, "does not declare format"),
        (lambda m: m.update({"class": "os.system"}), None, "unknown class 'os.system'"),
        (
            lambda m: m["params"].update(latent_dim=-1),
            None,
            # Trainers check parameters in fit/_validate_params, not in __init__: a
            # loader that calls _validate_params says the first, the shape check the second.
            r"parameters do not build|expected \(-1, ",
        ),
        (lambda m: m["confidence"].update(strategy="nope"), None, "confidence entry"),
        (None, lambda a: a.update(w_=a["w_"] + 1.0), "'w_' fails its checksum"),
        (None, lambda a: a.pop("Y_"), "array list does not match"),
        (lambda m: m.pop("params"), None, "lacks 'params'"),
    ],
)
def test_inconsistent_files(model_bytes, tmp_path, edit_meta, edit_arrays, match):
    raw, _ = model_bytes
    path = _rewrite(raw, tmp_path, edit_meta, edit_arrays)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_shape_mismatch_with_valid_checksums(model_bytes, tmp_path):
    raw, _ = model_bytes

    def edit(meta):
        meta["params"]["latent_dim"] = 3  # X_ stored with d=2

    path = _rewrite(raw, tmp_path, edit)
    # The parameters must agree with the fitted rank (latent_dim_) before any size is read.
    with pytest.raises(ValueError, match=r"latent_dim=3 but latent_dim_=2"):
        load(path)


def test_auto_model_from_before_pattern_models_still_predicts(ens, R_new, tmp_path):
    # A file written before 'auto' stacked per missingness pattern holds one stacking
    # model on logits and missing-cell indicators (auto_w_ of length 2m) and no patterns:
    # it loads and predicts with that model, as it did.
    from cfensemble.aggregators import (
        auto_stacking_features,
        fit_weighted_logistic,
        mean_of_observed,
        predict_weighted,
    )
    from cfensemble.objective import class_weights

    tr = _fit(CFEnsembleTrainer(M, latent_dim=2, max_iter=8, random_state=0), ens.data)
    lab = ens.labeled_idx
    Z = np.clip(tr.reconstruct(), 0, 1)
    Z = np.where(np.isnan(ens.R), Z, ens.R)  # the 'filled' input
    miss = np.isnan(ens.R)
    F = auto_stacking_features(Z, miss, 2 * M)
    y = ens.labels[lab]
    w, b = fit_weighted_logistic(F[:, lab], y, class_weights(y), l2=0.1)
    for name in ("auto_patterns_", "auto_pattern_w_", "auto_pattern_b_"):
        delattr(tr, name)
    tr.auto_w_, tr.auto_b_ = w, float(b)
    back = load(tr.save(tmp_path / "old.cfe"))
    assert not hasattr(back, "auto_patterns_") or back.auto_patterns_ is None
    t = back.auto_mix_
    expected = (1 - 2 * t / 3) * mean_of_observed(ens.R) + t / 3 * (
        predict_weighted(F, w, b) + Z[back.auto_single_]
    )
    np.testing.assert_allclose(back.predict(), expected, atol=1e-10)
    np.testing.assert_array_equal(back.predict(R_new), tr.predict(R_new))


def test_auto_patterns_must_be_zero_or_one(ens, tmp_path):
    tr = _fit(CFEnsembleTrainer(M, latent_dim=2, max_iter=3, random_state=0), ens.data)
    assert tr.auto_patterns_.shape[0] > 0  # 20% of the cells missing: patterns modelled
    tr.auto_patterns_ = tr.auto_patterns_ * 0.5
    from cfensemble.exceptions import CFEnsembleError

    with pytest.raises(CFEnsembleError, match="auto_patterns_ holds values other than 0 and 1"):
        tr.save(tmp_path / "bad.cfe")
    assert not (tmp_path / "bad.cfe").exists()
