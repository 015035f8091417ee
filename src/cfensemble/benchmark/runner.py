"""Benchmark runner: every method on the same prediction matrices, scored on test columns.

A configuration (a dict, or a JSON file read by :func:`load_config`) names the data
(synthetic positive rates and sizes, bundled real data sets), the missing-cell rates, the
seeds, the methods and their parameters, and an optional fit-time sweep over n. The runner
builds each prediction matrix R once, fits every method on it (labeled columns supervise,
test columns are unlabeled and scored afterwards) and returns a :class:`BenchmarkResult`
that :func:`cfensemble.benchmark.report.write_report` turns into markdown, CSV and PNG.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cfensemble._registry import SOLVERS
from cfensemble.data import EnsembleData
from cfensemble.exceptions import InvalidInputError
from cfensemble.metrics import evaluate

logger = logging.getLogger("cfensemble")

CF_METHODS = tuple(SOLVERS)

#: What ``cfensemble demo`` runs: the original CF-Ensemble study's benchmark plan in small
#: (about a minute on two cores). ``n_instances`` is per synthetic setting; the real data
#: set keeps its size.
DEMO_CONFIG: dict = {
    "name": "demo",
    "seeds": [0],
    "synthetic": {
        "n_classifiers": 15,
        "n_instances": [2000],
        "positive_rates": [0.10, 0.05, 0.01],
        "labeled_fraction": 0.5,
    },
    "real": [{"name": "breast_cancer", "labeled_fraction": 0.5}],
    "missing_rates": [0.0, 0.3],
    "methods": ["als", "varpro", "pytorch", "mean", "stacking", "best_single"],
    # The trainers' own defaults (rank chosen from held-out cells, rho per solver, uniform
    # confidence, the 'auto' aggregator): the demo shows what a user gets without options.
    "common": {"latent_dim": "auto", "lambda_reg": 0.01},
    "als": {"max_iter": 50},
    "varpro": {"max_iter": 100},
    "pytorch": {"max_iter": 200, "lr": 0.02, "device": "cpu", "dtype": "float64"},
    "timing": {
        "n_instances": [500, 1000, 2000, 4000],
        "positive_rate": 0.10,
        "methods": ["als", "varpro", "pytorch"],
    },
    "threads": 1,
}

_TOP_KEYS = set(DEMO_CONFIG)
_SYNTH_KEYS = {"n_classifiers", "n_instances", "positive_rates", "labeled_fraction", "params"}
_TIMING_KEYS = {"n_instances", "positive_rate", "methods", "seed"}


# ---------------------------------------------------------------------------- config
def _config_error(msg: str) -> ValueError:
    return ValueError(f"benchmark config: {msg}")


def _section(cfg: dict, key: str, allowed: set) -> dict | None:
    """cfg[key], an object or null: unknown keys refused, the demo's defaults filled in."""
    section = cfg[key]
    if section is None:
        return None
    if not isinstance(section, dict):
        raise _config_error(f"'{key}' must be an object or null")
    unknown = set(section) - allowed
    if unknown:
        raise _config_error(f"unknown '{key}' key(s) {sorted(unknown)}")
    return {**DEMO_CONFIG[key], **section}


def validate_config(config: dict) -> dict:
    """Fill defaults from :data:`DEMO_CONFIG` and check every key; returns a new dict.

    Keys absent from ``config`` take the demo's value, except ``synthetic``, ``real`` and
    ``timing``, which may be ``null`` to switch that part off.
    """
    if not isinstance(config, dict):
        raise _config_error(f"expected a JSON object at the top, got {type(config).__name__}")
    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise _config_error(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    cfg = copy.deepcopy(DEMO_CONFIG)
    cfg.update(copy.deepcopy(config))

    seeds = cfg["seeds"]
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds)):
        raise _config_error(f"'seeds' must be a non-empty list of integers, got {seeds!r}")
    miss = cfg["missing_rates"]
    if not (
        isinstance(miss, list)
        and miss
        and all(isinstance(r, (int, float)) and 0 <= r < 1 for r in miss)
    ):
        raise _config_error(f"'missing_rates' must be a list of numbers in [0, 1), got {miss!r}")
    from cfensemble.baselines import BASELINES

    allowed = set(CF_METHODS) | set(BASELINES)
    methods = cfg["methods"]
    if not (isinstance(methods, list) and methods):
        raise _config_error(f"'methods' must be a non-empty list, got {methods!r}")
    bad = [m for m in methods if m not in allowed]
    if bad:
        raise _config_error(f"unknown method(s) {bad}; allowed: {sorted(allowed)}")
    synth = _section(cfg, "synthetic", _SYNTH_KEYS)
    if synth is not None:
        for key in ("n_instances", "positive_rates"):
            if not isinstance(synth[key], list) or not synth[key]:
                raise _config_error(f"'synthetic.{key}' must be a non-empty list")
        if any(not (0 < r < 1) for r in synth["positive_rates"]):
            raise _config_error("'synthetic.positive_rates' must lie in (0, 1)")
        cfg["synthetic"] = synth
    real = cfg["real"] or []
    if not isinstance(real, list):
        raise _config_error("'real' must be a list of {\"name\": ...} objects or null")
    for i, entry in enumerate(real):
        if isinstance(entry, str):
            real[i] = entry = {"name": entry}
        if not isinstance(entry, dict) or "name" not in entry:
            raise _config_error(f"'real[{i}]' must be an object with a 'name', got {entry!r}")
        entry.setdefault("labeled_fraction", 0.5)
    cfg["real"] = real
    if synth is None and not real:
        raise _config_error("nothing to run: both 'synthetic' and 'real' are empty")
    cfg["timing"] = _section(cfg, "timing", _TIMING_KEYS)
    if cfg["timing"] is not None:
        bad = [m for m in cfg["timing"]["methods"] if m not in CF_METHODS]
        if bad:
            raise _config_error(f"'timing.methods' must be among {list(CF_METHODS)}, got {bad}")
    for key in ("common", "als", "varpro", "pytorch"):
        if not isinstance(cfg[key], dict):
            raise _config_error(f"'{key}' must be an object of trainer parameters")
    nt = cfg["threads"]
    if nt is not None and not (isinstance(nt, int) and not isinstance(nt, bool) and nt >= 1):
        raise _config_error(f"'threads' must be null or an integer >= 1, got {nt!r}")
    return cfg


def load_config(path) -> dict:
    """Read and validate a JSON benchmark configuration (see ``benchmarks/config.json``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"config file {path} is not valid JSON: {exc}") from None
    return validate_config(config)


# ---------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """One prediction matrix: a data source, a missing rate, a size and a seed."""

    dataset: str  # 'synthetic' or a name for cfensemble.datasets.load_dataset
    positive_rate: float | None  # synthetic: the generator's rate; real: None (natural)
    missing_rate: float
    n_instances: int | None  # synthetic: the size; real: None (the data set's size)
    seed: int
    labeled_fraction: float = 0.5

    @property
    def key(self) -> str:
        """Label of the setting without its random seed (rows of the summary table)."""
        if self.dataset == "synthetic":
            src = f"synthetic {self.positive_rate:.0%} pos, n={self.n_instances}"
        else:
            src = self.dataset
        miss = "complete" if self.missing_rate == 0 else f"{self.missing_rate:.0%} missing"
        return f"{src}, {miss}"


@dataclass
class Run:
    """One method fitted on one setting."""

    setting: Setting
    method: str
    metrics: dict
    fit_time: float
    y_test: np.ndarray
    p_test: np.ndarray
    n_iter: int | None = None
    converged: bool | None = None
    history: list | None = None
    X: np.ndarray | None = None  # (d, m) classifier factors
    w: np.ndarray | None = None  # (m,) aggregator weights
    classifier_names: list | None = None

    def row(self) -> dict:
        s = self.setting
        return {
            "setting": s.key,
            "dataset": s.dataset,
            "positive_rate": s.positive_rate,
            "test_positive_rate": float(np.mean(self.y_test)),
            "missing_rate": s.missing_rate,
            "n_instances": s.n_instances,
            "seed": s.seed,
            "method": self.method,
            **self.metrics,
            "fit_time_s": self.fit_time,
            "n_iter": self.n_iter,
            "converged": self.converged,
        }


@dataclass
class BenchmarkResult:
    config: dict
    runs: list = field(default_factory=list)
    timing: list = field(default_factory=list)  # dicts: method, n_instances, fit_time_s
    notes: list = field(default_factory=list)
    wall_time: float = 0.0

    def rows(self) -> list[dict]:
        return [r.row() for r in self.runs]


def make_settings(cfg: dict) -> list[Setting]:
    out = []
    for seed in cfg["seeds"]:
        synth = cfg["synthetic"]
        if synth is not None:
            for n in synth["n_instances"]:
                for rate in synth["positive_rates"]:
                    for miss in cfg["missing_rates"]:
                        out.append(
                            Setting(
                                "synthetic",
                                float(rate),
                                float(miss),
                                int(n),
                                seed,
                                float(synth["labeled_fraction"]),
                            )
                        )
        for entry in cfg["real"]:
            for miss in cfg["missing_rates"]:
                out.append(
                    Setting(
                        entry["name"],
                        None,
                        float(miss),
                        None,
                        seed,
                        float(entry["labeled_fraction"]),
                    )
                )
    return out


# ---------------------------------------------------------------------------- data
def _drop_cells(R: np.ndarray, rate: float, rng) -> np.ndarray:
    """R with ``rate`` of its cells set to NaN at random; every column keeps one cell."""
    if rate <= 0:
        return R
    R = R.copy()
    m, n = R.shape
    drop = rng.random_sample((m, n)) < rate
    empty = np.flatnonzero(drop.all(axis=0))
    drop[rng.randint(m, size=empty.size), empty] = False
    R[drop] = np.nan
    return R


def _stratified_labeled(y: np.ndarray, fraction: float, rng) -> np.ndarray:
    lab = []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        k = min(max(int(round(fraction * idx.size)), 1), idx.size - 1)
        lab.append(idx[:k])
    return np.sort(np.concatenate(lab))


def real_prediction_matrix(name: str, labeled_fraction: float, seed: int):
    """Base-classifier predictions on a bundled real data set, made without test labels.

    The labeled (train) rows get 5-fold out-of-fold predictions of ``default_estimators``
    fitted on the labeled rows only; the test rows get predictions of the same estimators
    refitted on all labeled rows (what ``CFEnsembleClassifier`` does).

    Returns
    -------
    R : ndarray of shape (n_estimators, n_samples);  y : ndarray of shape (n_samples,)
    labeled_idx : ndarray of int;  names : list of str
    """
    from sklearn.base import clone

    from cfensemble.datasets import load_dataset
    from cfensemble.estimator import default_estimators, out_of_fold_predictions

    X, y = load_dataset(name)
    y = np.asarray(y).astype(np.int64)
    rng = np.random.RandomState(seed)
    lab = _stratified_labeled(y, labeled_fraction, rng)
    test = np.setdiff1d(np.arange(y.size), lab)
    estimators = default_estimators(random_state=seed)
    R = np.empty((len(estimators), y.size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the base pool
        R[:, lab] = out_of_fold_predictions(estimators, X[lab], y[lab], cv=5, random_state=seed)
        for u, (_, est) in enumerate(estimators):
            R[u, test] = clone(est).fit(X[lab], y[lab]).predict_proba(X[test])[:, 1]
    return np.clip(R, 0.0, 1.0), y, lab, [n for n, _ in estimators]


def setting_data(setting: Setting, cfg: dict, cache: dict):
    """(R, labels, y_true, test_idx, classifier_names) for one setting."""
    if setting.dataset == "synthetic":
        from cfensemble.synthetic import make_ensemble

        synth = cfg["synthetic"]
        ens = make_ensemble(
            n_classifiers=int(synth["n_classifiers"]),
            n_instances=setting.n_instances,
            positive_rate=setting.positive_rate,
            labeled_fraction=setting.labeled_fraction,
            missing_rate=setting.missing_rate,
            random_state=setting.seed,
            **synth.get("params", {}),
        )
        names = [f"clf{u:02d}" for u in range(ens.R.shape[0])]
        return ens.R, ens.labels, ens.y_true, ens.test_idx, names
    key = (setting.dataset, setting.labeled_fraction, setting.seed)
    if key not in cache:
        cache[key] = real_prediction_matrix(*key)
    R, y, lab, names = cache[key]
    # The same cells go missing for every method; a distinct stream per missing rate.
    R = _drop_cells(R, setting.missing_rate, np.random.RandomState(setting.seed + 7919))
    labels = np.full(y.size, np.nan)
    labels[lab] = y[lab]
    test = np.setdiff1d(np.arange(y.size), lab)
    return R, labels, y, test, names


# ---------------------------------------------------------------------------- methods
def has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def make_cf_trainer(method: str, m: int, cfg: dict, seed: int):
    """The trainer for 'als', 'varpro' or 'pytorch' with the config's parameters.

    ``seed`` is the random seed of the setting (``random_state`` of the trainer).
    """
    from cfensemble.factory import make_trainer

    params = {**cfg["common"], **cfg[method], "random_state": seed}
    return make_trainer(m, solver=method, **params)


def _predicting_weights(trainer) -> np.ndarray | None:
    """The per-input weights of the model that predicts: 'auto''s stacking part (on the
    logits of the inputs; its missing-cell indicators left out), or w_ of 'weighted' and
    'shrinkage'; None for 'mean'. (Under 'auto', w_ is only L_CF's supervised term: at
    rho = 1 the PyTorch trainer never fits it.)"""
    if trainer.aggregator == "mean":
        return None
    f = np.asarray(trainer.w_).size
    if trainer.aggregator == "auto":
        return np.asarray(trainer.auto_w_)[:f].copy()
    return np.asarray(trainer.w_).copy()


def run_method(method: str, R, labels, y_true, test_idx, cfg, seed, names=None) -> Run:
    """Fit one method on (R, labels) and score it on the test columns."""
    from cfensemble.baselines import BASELINES

    extra: dict = {}
    t0 = time.perf_counter()
    if method in CF_METHODS:
        trainer = make_cf_trainer(method, R.shape[0], cfg, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-convergence is recorded in the table
            trainer.fit(EnsembleData(R, labels))
        p = trainer.predict()
        extra = dict(
            n_iter=int(trainer.n_iter_),
            converged=bool(trainer.converged_),
            history=list(trainer.history_["combined"]),
            X=trainer.X_.copy(),
            w=_predicting_weights(trainer),
        )
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = BASELINES[method](R, labels)
    fit_time = time.perf_counter() - t0
    y_test, p_test = y_true[test_idx], np.asarray(p)[test_idx]
    return Run(
        setting=None,  # filled by the caller
        method=method,
        metrics=evaluate(y_test, p_test),
        fit_time=fit_time,
        y_test=y_test,
        p_test=p_test,
        classifier_names=names,
        **extra,
    )


@contextmanager
def thread_limit(n_threads, *, torch_too: bool = False):
    """Limit BLAS/OpenMP (and torch's intra-op) threads to ``n_threads``; None: no limit.

    The problems here are small: on a busy machine, threads of OpenBLAS or torch that wait
    for each other cost far more than they give (measured: 5-10x slower fits on 2 shared
    cores), so the benchmark runs single-threaded by default.
    """
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = None
    if torch_too and has_torch():
        import torch
    old = torch.get_num_threads() if torch is not None else None
    try:
        with threadpool_limits(limits=n_threads):
            if torch is not None:
                torch.set_num_threads(n_threads)
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)


def run_benchmark(config: dict, *, progress: bool = True) -> BenchmarkResult:
    """Run every (setting, method) of ``config`` and the fit-time sweep.

    Parameters
    ----------
    config : dict, validated by :func:`validate_config` (done here again)
    progress : bool
        tqdm progress bar on stderr.

    Returns
    -------
    BenchmarkResult
    """
    from tqdm.auto import tqdm

    cfg = validate_config(config)
    result = BenchmarkResult(config=cfg)
    methods = list(cfg["methods"])
    if "pytorch" in methods and not has_torch():
        methods.remove("pytorch")
        result.notes.append(
            "PyTorch is not installed: the 'pytorch' method was skipped "
            "(pip install cfensemble[torch])."
        )
    settings = make_settings(cfg)
    timing = cfg["timing"]
    timing_methods = []
    if timing is not None:
        timing_methods = [m for m in timing["methods"] if m != "pytorch" or has_torch()]
    n_tasks = len(settings) * len(methods) + len(timing_methods) * (
        len(timing["n_instances"]) if timing else 0
    )
    t_start = time.perf_counter()
    cache: dict = {}
    torch_used = "pytorch" in methods or "pytorch" in timing_methods
    with (
        thread_limit(cfg["threads"], torch_too=torch_used),
        tqdm(
            total=n_tasks,
            disable=None if progress else True,  # None: only on a terminal
            desc="benchmark",
            unit="fit",
            leave=False,
        ) as bar,
    ):
        _warm_up([m for m in dict.fromkeys(methods + timing_methods) if m in CF_METHODS], cfg)
        for setting in settings:
            bar.set_postfix_str(setting.key, refresh=False)
            try:
                R, labels, y_true, test_idx, names = setting_data(setting, cfg, cache)
            except ImportError as exc:
                result.notes.append(f"{setting.key}: skipped ({exc})")
                bar.update(len(methods))
                continue
            for method in methods:
                run = run_method(method, R, labels, y_true, test_idx, cfg, setting.seed, names)
                run.setting = setting
                result.runs.append(run)
                logger.info(
                    "%s | %s: PR-AUC %.3f (%.2fs)",
                    setting.key,
                    method,
                    run.metrics["pr_auc"],
                    run.fit_time,
                )
                bar.update(1)
        if timing is not None:
            result.timing = _timing_sweep(cfg, timing_methods, bar)
    result.wall_time = time.perf_counter() - t_start
    unconverged = sorted(
        {f"{r.method}" for r in result.runs if r.converged is False and r.method != "pytorch"}
    )
    if unconverged:
        result.notes.append(
            f"Some fits of {', '.join(unconverged)} stopped at their iteration limit before "
            "meeting tol (see the 'converged' column of results.csv)."
        )
    if cfg["threads"] is not None:
        result.notes.append(
            f"BLAS, OpenMP and torch were limited to {cfg['threads']} thread(s) during the "
            "runs ('threads' in the config): these small problems run several times faster "
            "single-threaded than with threads competing on a busy machine."
        )
    return result


def _warm_up(methods: list, cfg: dict) -> None:
    """One tiny untimed fit per CF method: the compiled kernels are built on first use, which
    made the first timed fit of a run 2-20x slower than the next (0.83 s against 0.23 s)."""
    from cfensemble.synthetic import make_ensemble

    ens = make_ensemble(n_classifiers=4, n_instances=60, positive_rate=0.3, random_state=0)
    for method in methods:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make_cf_trainer(method, 4, {**cfg, method: {**cfg[method], "max_iter": 2}}, 0).fit(
                ens.data
            )


def _timing_sweep(cfg: dict, methods: list, bar) -> list[dict]:
    from cfensemble.synthetic import make_ensemble

    timing = cfg["timing"]
    synth = cfg["synthetic"] or DEMO_CONFIG["synthetic"]
    seed = int(timing.get("seed", cfg["seeds"][0]))
    rows = []
    for n in timing["n_instances"]:
        ens = make_ensemble(
            n_classifiers=int(synth["n_classifiers"]),
            n_instances=int(n),
            positive_rate=float(timing["positive_rate"]),
            labeled_fraction=float(synth["labeled_fraction"]),
            random_state=seed,
        )
        for method in methods:
            bar.set_postfix_str(f"fit time, n={n}, {method}", refresh=False)
            trainer = make_cf_trainer(method, ens.R.shape[0], cfg, seed)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trainer.fit(ens.data)
            dt = time.perf_counter() - t0
            rows.append(
                {
                    "method": method,
                    "n_instances": int(n),
                    "fit_time_s": dt,
                    "n_iter": int(trainer.n_iter_),
                    "time_per_iter_s": dt / max(int(trainer.n_iter_), 1),
                }
            )
            bar.update(1)
    return rows
