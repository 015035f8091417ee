"""Repeated stratified cross-validation of CF-Ensemble against the baselines.

Every method sees the same folds and the same matrix R: per outer fold the base pool's
out-of-fold predictions on the training rows (inner CV) and the predictions of the pool
refitted on those rows for the test rows are computed once, then every method (each CF
solver, each baseline) fits on R with the test columns unlabeled and is scored on them
(transductive). Missing cells are removed from that same R, once per fold and rate, so the
complete and incomplete comparisons are paired too.

``paired_comparison`` then gives wins/ties/losses, the mean and median difference and a
Wilcoxon signed-rank p-value over any set of (data set, fold) pairs.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils import check_random_state

from cfensemble._registry import SOLVERS
from cfensemble.baselines import BASELINES
from cfensemble.data import EnsembleData
from cfensemble.datasets import remove_predictions
from cfensemble.estimator import (
    _check_estimators,
    default_estimators,
    out_of_fold_predictions,
)
from cfensemble.exceptions import InvalidInputError
from cfensemble.factory import make_trainer
from cfensemble.metrics import pr_auc
from cfensemble.synthetic import apply_missingness

logger = logging.getLogger("cfensemble")

CF_SOLVERS = tuple(SOLVERS)
#: What ``cf_method`` uses where ``params`` say nothing (CFEnsembleClassifier's defaults).
CF_DEFAULTS = {"confidence": "uniform", "max_iter": 100}


def cf_method(solver: str = "varpro", **params) -> Callable:
    """A method ``(R, labels) -> p (n,)``: a CF trainer fitted on R, transductive predictions.

    ``params`` are those of ``cfensemble.factory.make_trainer`` (latent_dim, rho, any
    trainer keyword); :data:`CF_DEFAULTS` fill those not given.
    """
    params = {**CF_DEFAULTS, **params}

    def fit_predict(R, labels):
        trainer = make_trainer(R.shape[0], solver=solver, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unconverged runs are scored as they are
            trainer.fit(EnsembleData(R, labels))
        return trainer.predict()

    fit_predict.__name__ = f"cf_{solver}"
    return fit_predict


def default_methods(solvers=("als", "varpro", "pytorch"), random_state=0, **cf_params) -> dict:
    """{'cf_<solver>': ..., 'mean': ..., 'stacking': ..., 'hgb_stacking': ..., 'best_single': ...}.

    A solver whose dependency is missing (pytorch without torch) is left out with a log line.
    """
    methods: dict[str, Callable] = {}
    for solver in solvers:
        if solver == "pytorch":
            try:
                make_trainer(3, solver="pytorch", latent_dim=1)
            except ImportError as exc:
                logger.warning("solver='pytorch' left out: %s", exc)
                continue
        methods[f"cf_{solver}"] = cf_method(solver, random_state=random_state, **cf_params)
    methods.update(BASELINES)
    return methods


def fold_matrix(
    X, y, train, test, *, estimators=None, inner_cv=5, random_state=None, n_jobs=None
) -> tuple[np.ndarray, np.ndarray]:
    """R for one outer fold, columns ordered [train rows, test rows], and its labels.

    Returns
    -------
    R : ndarray of shape (n_estimators, n_train + n_test)
        Train columns: out-of-fold predictions (inner ``inner_cv``-fold CV on the train
        rows). Test columns: predictions of the pool refitted on all train rows.
    labels : ndarray of shape (n_train + n_test,), y on train columns, NaN on test columns
    """
    pairs = _check_estimators(
        default_estimators(random_state) if estimators is None else estimators
    )
    X, y = np.asarray(X), np.asarray(y)
    R_train = out_of_fold_predictions(
        pairs, X[train], y[train], cv=inner_cv, random_state=random_state, n_jobs=n_jobs
    )
    R_test = np.empty((len(pairs), len(test)))
    for u, (_, est) in enumerate(pairs):
        fitted = clone(est).fit(X[train], y[train])
        R_test[u] = fitted.predict_proba(X[test])[:, list(fitted.classes_).index(1)]
    labels = np.r_[y[train].astype(np.float64), np.full(len(test), np.nan)]
    return np.hstack([R_train, np.clip(R_test, 0.0, 1.0)]), labels


def repeated_cv(
    X,
    y,
    *,
    estimators=None,
    methods: dict | None = None,
    n_splits: int = 5,
    n_repeats: int = 2,
    inner_cv: int = 5,
    missing_rates=(0.0,),
    missing_mode: str = "random",
    regimes: dict | None = None,
    metric: Callable = pr_auc,
    random_state=0,
    cache_dir=None,
    cache_key: str | None = None,
    progress: bool = False,
    n_jobs=None,
    repeats=None,
):
    """Score every method on the same repeated stratified folds and the same R.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), 0/1
    estimators : list of (name, estimator) or None (``default_estimators``)
    methods : dict name -> callable(R, labels) -> p (n,), optional (``default_methods()``)
    n_splits, n_repeats : outer ``RepeatedStratifiedKFold`` (5 x 2 by default)
    inner_cv : folds of the inner CV that builds R's training columns
    missing_rates : iterable of float in [0, 1)
        Every fold's R is scored once per rate, with that fraction of cells removed
        (``remove_predictions``, one draw per fold and rate shared by all methods).
    missing_mode : {'random', 'block'}
    regimes : dict name -> dict or None, optional
        Instead of ``missing_rates``: named missing-prediction regimes, each the keyword
        arguments of ``cfensemble.synthetic.apply_missingness`` (rate, mode, ...) or None
        for the complete R; one draw per fold and regime, shared by all methods. Rows then
        carry the regime's name in a column 'regime' and the share of missing cells in
        'missing_rate'.
    metric : callable(y_true, p) -> float, default=pr_auc
    random_state : int
    cache_dir, cache_key : str or Path, optional
        When both are given, each fold's R is stored as ``<cache_dir>/<cache_key>_r<repeat>
        _f<fold>.npz`` and read back on the next run (the key must identify data and pool).
    progress : bool
        A tqdm bar over folds.
    repeats : iterable of int, optional
        Run only these repeats (0-based, each < ``n_repeats``). The splits of all
        ``n_repeats`` are still drawn, so runs split by repeat (across processes or days)
        score the very folds, missing cells and R of one run with every repeat.

    Returns
    -------
    pandas.DataFrame with one row per (repeat, fold, missing_rate, method): columns
    repeat, fold, missing_rate, method, score, seconds.
    """
    import pandas as pd

    X, y = np.asarray(X), np.asarray(y)
    methods = default_methods(random_state=random_state) if methods is None else methods
    rng = check_random_state(random_state)
    splitter = RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=n_repeats, random_state=rng.randint(2**31 - 1)
    )
    splits = list(splitter.split(X, y))
    if repeats is not None:
        repeats = sorted({int(r) for r in repeats})
        if not repeats or repeats[0] < 0 or repeats[-1] >= n_repeats:
            raise InvalidInputError(
                f"repeats must be repeat numbers in [0, {n_repeats - 1}] (n_repeats="
                f"{n_repeats}); got {repeats}"
            )
    iterator = [
        (k, split) for k, split in enumerate(splits) if repeats is None or k // n_splits in repeats
    ]
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=cache_key or "folds", leave=False, disable=None)
    rows = []
    for k, (train, test) in iterator:
        repeat, fold = divmod(k, n_splits)
        seed = 1000 * (int(random_state) if random_state is not None else 0) + k
        R, labels = _cached_fold_matrix(
            X,
            y,
            train,
            test,
            estimators,
            inner_cv,
            seed,
            cache_dir,
            cache_key,
            repeat,
            fold,
            n_jobs,
        )
        y_test = y[test]
        cols = slice(len(train), None)
        if regimes is None:
            cases = [
                (
                    None,
                    rate,
                    R
                    if rate == 0
                    else remove_predictions(R, rate, mode=missing_mode, random_state=seed),
                )
                for rate in missing_rates
            ]
        else:
            cases = []
            for regime, spec in regimes.items():
                R_reg = R if spec is None else apply_missingness(R, random_state=seed, **spec)
                cases.append((regime, float(np.isnan(R_reg).mean()), R_reg))
        for regime, rate, R_rate in cases:
            for name, method in methods.items():
                t0 = time.perf_counter()
                p = method(R_rate, labels)
                rows.append(
                    {
                        "repeat": repeat,
                        "fold": fold,
                        **({} if regime is None else {"regime": regime}),
                        "missing_rate": rate,
                        "method": name,
                        "score": metric(y_test, np.asarray(p)[cols]),
                        "seconds": time.perf_counter() - t0,
                    }
                )
    return pd.DataFrame(rows)


def check_fold_counts(labels, n_splits: int, what: str, option: str) -> None:
    """Raise unless each class has at least ``n_splits`` labeled instances (stratified
    K-fold puts one of each class in every fold). ``what`` and ``option`` name the request
    and the setting to change in the message (the library's or the CLI's names)."""
    y = np.asarray(labels, dtype=np.float64)
    n_pos = int(np.nansum(y))
    n_neg = int((~np.isnan(y)).sum()) - n_pos
    fewest = min(n_pos, n_neg)
    if fewest < n_splits:
        raise InvalidInputError(
            f"{what} needs at least {n_splits} labeled instances of each class, got {n_neg} "
            f"negative and {n_pos} positive: "
            + (
                "each class needs at least 2 labeled instances"
                if fewest < 2
                else f"set {option} to at most {fewest}"
            )
        )


def cross_validate_predictions(
    R,
    labels,
    methods: dict | None = None,
    *,
    n_splits: int = 5,
    n_repeats: int = 2,
    metric: Callable = pr_auc,
    random_state=0,
    progress: bool = False,
):
    """Score combiners on a prediction matrix you already have, by hiding labels.

    Repeated stratified K-fold over the labeled instances: each fold's labels are hidden
    (its columns become unlabeled, like the instances that never had a label), every
    method is fitted on all of R with the remaining labels (transductively, as the
    benchmark does) and scored on the hidden fold. This is :func:`repeated_cv` for an R
    built elsewhere (your own models' held-out predictions).

    Parameters
    ----------
    R : array-like of shape (n_classifiers, n_instances), NaN = missing
    labels : array-like of shape (n_instances,), 0, 1 or NaN (unlabeled, never scored)
    methods : dict name -> callable(R, labels) -> p of shape (n_instances,), optional
        ``default_methods(("als",))`` by default: CF with its defaults and the baselines.
    n_splits, n_repeats : int
        Folds and repeats of the stratified split of the labeled instances.
    metric : callable(y_true, p) -> float, default=pr_auc
    random_state : int
    progress : bool
        A tqdm bar over folds.

    Returns
    -------
    pandas.DataFrame with one row per (repeat, fold, method): columns repeat, fold,
    method, score, seconds (of the method's fit and prediction).
    """
    import pandas as pd

    data = EnsembleData(R, labels)  # validates shapes, values and labels (None: all NaN)
    R, labels = data.R, data.labels
    methods = default_methods(("als",), random_state=random_state) if methods is None else methods
    check_fold_counts(labels, n_splits, f"{n_splits}-fold CV", "n_splits")
    labeled = np.flatnonzero(~np.isnan(labels))
    y = labels[labeled].astype(int)
    splitter = RepeatedStratifiedKFold(
        n_splits=n_splits, n_repeats=n_repeats, random_state=random_state
    )
    splits = list(enumerate(splitter.split(labeled, y)))
    if progress:
        from tqdm.auto import tqdm

        # disable=None: a bar on a terminal only, none in a redirected log
        splits = tqdm(splits, desc="folds", leave=False, disable=None)
    rows = []
    for k, (_, held) in splits:
        repeat, fold = divmod(k, n_splits)
        hidden = labeled[held]
        fold_labels = labels.copy()
        fold_labels[hidden] = np.nan
        for name, method in methods.items():
            t0 = time.perf_counter()
            p = np.asarray(method(R, fold_labels))
            rows.append(
                {
                    "repeat": repeat,
                    "fold": fold,
                    "method": name,
                    "score": metric(labels[hidden], p[hidden]),
                    "seconds": time.perf_counter() - t0,
                }
            )
    return pd.DataFrame(rows)


def _cached_fold_matrix(
    X, y, train, test, estimators, inner_cv, seed, cache_dir, cache_key, repeat, fold, n_jobs
):
    path = None
    if cache_dir is not None and cache_key is not None:
        path = Path(cache_dir) / f"{cache_key}_r{repeat}_f{fold}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as f:
                if f["R"].shape[1] == len(train) + len(test):
                    return f["R"], f["labels"]
    R, labels = fold_matrix(
        X,
        y,
        train,
        test,
        estimators=estimators,
        inner_cv=inner_cv,
        random_state=seed,
        n_jobs=n_jobs,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, R=R, labels=labels)
    return R, labels


def paired_comparison(scores, method: str, other: str, *, tie_tol: float = 1e-3, by=()) -> dict:
    """Paired difference of two methods over the rows they share.

    Parameters
    ----------
    scores : DataFrame from ``repeated_cv`` (several data sets may be concatenated; add a
        'dataset' column and pass it in ``by`` so pairs match within data sets)
    method, other : method names; differences are ``method - other``
    tie_tol : float, |difference| <= tie_tol counts as a tie
    by : extra key columns identifying a pair (e.g. ('dataset', 'rate'))

    Returns
    -------
    dict with n, wins, ties, losses, mean_diff, median_diff, p_value (two-sided Wilcoxon
    signed-rank test, NaN when every difference is zero or n < 2)
    """
    from scipy.stats import wilcoxon

    keys = [*by, "repeat", "fold", *[c for c in ("regime", "missing_rate") if c in scores]]
    a = scores[scores["method"] == method].set_index(keys)["score"]
    b = scores[scores["method"] == other].set_index(keys)["score"]
    a, b = a.align(b, join="inner")
    diff = (a - b).to_numpy()
    out = {
        "n": int(diff.size),
        "wins": int((diff > tie_tol).sum()),
        "ties": int((np.abs(diff) <= tie_tol).sum()),
        "losses": int((diff < -tie_tol).sum()),
        "mean_diff": float(diff.mean()) if diff.size else float("nan"),
        "median_diff": float(np.median(diff)) if diff.size else float("nan"),
        "p_value": float("nan"),
    }
    if diff.size >= 2 and np.any(diff != 0):
        out["p_value"] = float(wilcoxon(diff).pvalue)
    return out
