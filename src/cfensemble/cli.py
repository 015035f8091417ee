"""The ``cfensemble`` command: demo, benchmark, fit, predict, score and compare on a user's
own matrix.

    cfensemble demo [--out DIR]
    cfensemble benchmark --config FILE [--out DIR]
    cfensemble fit --predictions R.csv --labels y.csv [--solver als] --out model.cfe
    cfensemble predict --model model.cfe --predictions R_new.csv --out p.csv
    cfensemble score --predictions p.csv --labels y_new.csv
    cfensemble compare --predictions R.csv --labels y.csv [--folds 5 --repeats 2]

Prediction files are CSV (``.csv``, ``.txt``; ``.tsv`` tab-separated) or Parquet
(``.parquet``, ``.pq``), chosen by extension. Default layout: one column per classifier with
a header, one row per instance; ``--transposed``: one row per classifier, its name in the
first column, one column per instance. Blank cells are missing predictions. Labels: one
value per instance (0, 1, or blank for unlabeled), in their own file or in a column of the
predictions file (``--label-column``).

User mistakes (missing files, bad values, mismatched columns) print one line to stderr and
exit with status 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from cfensemble._fileio import atomic_write, same_file
from cfensemble.exceptions import CFEnsembleError, InvalidInputError, NonFiniteError

logger = logging.getLogger("cfensemble")

CSV_EXT = {".csv": ",", ".txt": ",", ".tsv": "\t"}
PARQUET_EXT = (".parquet", ".pq")
CONFIDENCES = ("uniform", "certainty", "calibration", "adaptive")
SOLVERS = ("als", "varpro", "pytorch")


class UserError(InvalidInputError):
    """A mistake in the command line or the input files: reported without a traceback."""


# Cell texts read as a blank (missing) cell, as pandas reads them by default.
NA_TEXTS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL", "None", "<NA>"})


# ---------------------------------------------------------------------------- file I/O
def _suffix(path: Path) -> str:
    return path.suffix.lower()


def _check_format(path: Path, what: str) -> str:
    ext = _suffix(path)
    if ext in CSV_EXT:
        return "csv"
    if ext in PARQUET_EXT:
        return "parquet"
    raise UserError(
        f"{what} {path}: unsupported extension {ext or '(none)'!r}; use .csv, .tsv, .txt "
        "or .parquet"
    )


def _need_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UserError(
            "Parquet files need pyarrow: pip install cfensemble[parquet] (or pip install pyarrow)"
        ) from None


def _check_readable(path: Path, what: str) -> None:
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory, expected a file")


def read_csv_rows(
    path, what: str = "file", *, drop_trailing_blanks: bool = True
) -> tuple[list[list[str]], list[int]]:
    """Every record of a CSV/TSV file as a list of stripped cell texts, with its line number.

    Strict: the file must be UTF-8 (a leading byte-order mark is dropped); quoting errors
    and NUL bytes are refused with the line number. Empty lines at the end of the file are
    dropped (editor artefacts) unless ``drop_trailing_blanks=False``; an empty line
    elsewhere is returned as ``[]``. Cells whose
    text is one of :data:`NA_TEXTS` are returned as ``""`` (blank).
    """
    import csv

    path = Path(path)
    _check_readable(path, what)
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=CSV_EXT[_suffix(path)], strict=True)
            line = 1
            try:
                for row in reader:
                    rows.append(["" if c.strip() in NA_TEXTS else c.strip() for c in row])
                    lines.append(line)
                    line = reader.line_num + 1
            except csv.Error as exc:
                raise UserError(f"{what} {path}, line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{what} {path} is not UTF-8 text (byte {exc.start} cannot be decoded); save it "
            "as UTF-8 CSV"
        ) from None
    while drop_trailing_blanks and rows and rows[-1] in ([], [""]):
        rows.pop()
        lines.pop()
    _check_delimiter(rows, path, what)
    return rows, lines


def _check_delimiter(rows, path: Path, what: str) -> None:
    """A UserError when a one-column file's header splits on another common delimiter (a
    comma-separated .tsv, a semicolon-separated .csv, a tab-separated .csv)."""
    if not rows or len(rows[0]) != 1:
        return
    used = CSV_EXT[_suffix(path)]
    for sep, name in ((",", "commas"), (";", "semicolons"), ("\t", "tabs")):
        if sep != used and len(rows[0][0].split(sep)) > 1:
            kind = {",": "a .csv", "\t": "a .tsv"}.get(sep)
            fix = f"save it as {kind} file" if kind else "save it with commas as a .csv file"
            raise UserError(
                f"{what} {path}: its header {rows[0][0]!r} is one column that holds {name}; "
                f"a {_suffix(path)} file is read with {repr(used)} between cells: {fix}"
            )


def _table(rows, lines, path: Path, what: str, header: list[str]):
    """A DataFrame of cell texts from records that must each have len(header) fields."""
    import pandas as pd

    k = len(header)
    body = []
    for row, line in zip(rows, lines, strict=True):
        if not row:  # an empty line: an instance with every cell blank
            row = [""] * k
        if len(row) != k:
            raise UserError(
                f"{what} {path}, line {line}: {len(row)} field(s), but the header has {k} "
                f"{header[:8]}{'...' if k > 8 else ''}; every row needs one field per "
                "column (blank for missing)"
            )
        body.append(row)
    df = pd.DataFrame(body, columns=range(k), dtype=object)
    if not body:
        df = pd.DataFrame({j: pd.Series(dtype=object) for j in range(k)})
    df.columns = header
    df.attrs["lines"] = list(lines)
    return df


def read_frame(path, what: str = "file"):
    """A DataFrame from CSV (cell texts, '' when blank) or Parquet; ``attrs['lines']`` holds
    each row's line number in a CSV file."""
    import pandas as pd

    path = Path(path)
    kind = _check_format(path, what)
    _check_readable(path, what)
    if kind == "parquet":
        _need_pyarrow()
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - parser errors of every kind
            raise UserError(f"{what} {path} cannot be read: {exc}") from None
    rows, lines = read_csv_rows(path, what)
    if not rows:
        raise UserError(f"{what} {path} is empty")
    header = rows[0]
    dup = sorted({c for c in header if header.count(c) > 1 and c != ""})
    if dup:
        raise UserError(f"{what} {path}: column names repeat: {dup}")
    return _table(rows[1:], lines[1:], path, what, header)


def _names(cols, k: int = 10) -> str:
    """A list of column names for a message: the first k, and how many in all."""
    cols = [str(c) for c in cols]
    return str(cols) if len(cols) <= k else f"{cols[:k]} ... ({len(cols)} in all)"


def _row_ref(df, i: int) -> str:
    lines = df.attrs.get("lines")
    return f"row {i + 1} (line {lines[i]})" if lines and i < len(lines) else f"row {i + 1}"


def _numeric(df, path: Path, what: str) -> np.ndarray:
    """float array of the frame, or a UserError naming the first non-numeric cell."""
    import pandas as pd

    out = np.empty(df.shape, dtype=np.float64)
    for j, col in enumerate(df.columns):
        raw = df.iloc[:, j]
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            # Text where a probability belongs: an id column more often than not.
            hint = "; if this column holds instance ids, name it with --id-column"
            raise UserError(
                f"{what} {path}: column {str(col)!r}, {_row_ref(df, i)} holds "
                f"{raw.iloc[i]!r}; expected a number (or a blank cell){hint}"
            )
        out[:, j] = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def read_predictions(path, *, transposed=False, id_column=None, label_column=None):
    """Read a prediction matrix file.

    Returns
    -------
    R : ndarray of shape (n_classifiers, n_instances), NaN where blank
    names : list of str, classifier names
    ids : ndarray of shape (n_instances,) or None
    labels : ndarray of shape (n_instances,) or None (from ``label_column``)
    """
    path = Path(path)
    df = read_frame(path, "predictions file")
    df.columns = [str(c) for c in df.columns]
    ids = labels = None
    if transposed:
        # The header holds the instance ids; --id-column then only names the labels file's
        # id column (labels matched by id) and the id column of predict's output.
        if label_column is not None:
            raise UserError(
                "--label-column needs the default layout (one column per classifier); with "
                "--transposed the header holds the instance ids and the labels go in their "
                "own file (--labels)"
            )
        if df.shape[1] < 2:
            raise UserError(
                f"predictions file {path}: with --transposed the first column names the "
                "classifiers and each further column is one instance; found "
                f"{df.shape[1]} column(s)"
            )
        names = [str(v) for v in df.iloc[:, 0]]
        ids = np.asarray(df.columns[1:], dtype=object)
        body = df.iloc[:, 1:]
        _check_names(names, path, transposed)
        R = _numeric(body, path, "predictions file")
    else:
        for flag, col in (("--id-column", id_column), ("--label-column", label_column)):
            if col is not None and col not in df.columns:
                raise UserError(
                    f"{flag} {col!r} is not a column of {path}; its columns are "
                    f"{_names(df.columns)}{_transposed_hint(df)}"
                )
        if id_column is not None:
            ids = df[id_column].to_numpy(dtype=object)
        if label_column is not None:
            labels = _parse_labels(df[label_column], path, label_column)
        body = df.drop(columns=[c for c in (id_column, label_column) if c is not None])
        names = list(body.columns)
        layout = _transposed_hint(df)
        _check_names(names, path, transposed, layout)
        try:
            R = _numeric(body, path, "predictions file").T
        except UserError as exc:
            raise UserError(f"{exc}{layout}") from None
    if R.shape[0] == 0:
        raise UserError(f"predictions file {path} holds no classifier columns")
    if R.shape[1] == 0:
        raise UserError(f"predictions file {path} holds no instances (only a header)")
    finite = R[~np.isnan(R)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        u, i = np.argwhere((R < 0) | (R > 1))[0]
        row = R[u][~np.isnan(R[u])]
        hint = ""
        if not transposed and np.all(row == np.round(row)) and row.max() > 1:
            hint = f"; if {names[u]!r} holds instance ids, name it with --id-column"
        where = f"instance {i + 1}" if transposed else f"instance {i + 1}, {_row_ref(df, i)}"
        raise UserError(
            f"predictions file {path}: classifier {names[u]!r}, {where} holds "
            f"{float(R[u, i])!r}; predictions must be probabilities in [0, 1] (blank = missing)"
            f"{hint}"
        )
    return R, names, ids, labels


def _looks_transposed(long: int, short: int) -> bool:
    """Far longer one way than the other (over twice, and over 20): axes swapped?"""
    return long > 2 * max(short, 1) and long > 20


def _transposed_hint(df) -> str:
    """A hint for a file with far more columns than rows: classifiers as rows?"""
    if _looks_transposed(df.shape[1], df.shape[0]):
        return (
            f"; the file has {df.shape[1]} columns and {df.shape[0]} rows: if its rows are "
            "the classifiers, pass --transposed"
        )
    return ""


def _drop_transposed_hint(R, path, transposed: bool) -> str:
    """The reverse hint: a file read with --transposed into far more classifiers than
    instances probably has instances as rows."""
    m, n = R.shape
    if not transposed or not _looks_transposed(m, n):
        return ""
    return (
        f"; read with --transposed, {path} gives {m} classifiers x {n} instances: if its rows "
        "are the instances, drop --transposed"
    )


def _check_names(names, path: Path, transposed: bool, extra: str = "") -> None:
    """Classifier names: unique and present (checked before the cells are parsed, so that
    a pandas index column is named as such, not as a column of text); ``extra`` ends the
    message (a layout hint)."""
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"predictions file {path}: classifier names repeat: {dup}")
    unnamed = [n for n in names if n.startswith("Unnamed:") or n in ("", "nan")]
    if unnamed:
        hint = "without a header the first row would be read as names"
        if not transposed and names[0] in unnamed and len(unnamed) == 1:
            hint = (
                "the first column has no name: an index written by pandas' to_csv? Write the "
                "file with index=False, or name that column and pass it as --id-column"
            )
        raise UserError(
            f"predictions file {path}: every classifier needs a name in the header "
            f"(found {_names(unnamed)}); {hint}{extra}"
        )


def _parse_labels(series, path: Path, col, lines=None) -> np.ndarray:
    import pandas as pd

    num = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype(str).str.strip()
    bad = (np.isnan(num) & series.notna().to_numpy() & (text != "").to_numpy()) | (
        ~np.isnan(num) & (num != 0) & (num != 1)
    )
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = f"row {i + 1}" + (f" (line {lines[i]})" if lines and i < len(lines) else "")
        hint = " (-1 is not 'unlabeled' here: leave the cell blank)" if num[i] == -1 else ""
        raise UserError(
            f"labels {path}: column {str(col)!r}, {where} holds {series.iloc[i]!r}; "
            f"labels must be 0, 1 or blank (unlabeled){hint}"
        )
    return num


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_labels(path, n_instances: int, label_column=None, id_column=None, ids=None) -> np.ndarray:
    """Labels of shape (n_instances,): 0, 1 or NaN (blank = unlabeled).

    The file holds one value per instance, in one column (header optional: a first row
    with a cell that is neither blank nor a number is the header) or in the column
    ``label_column`` of a wider table. When the file has a column named ``id_column``
    (the predictions' id column), labels are matched to the predictions' ``ids`` by it,
    whatever the order of the rows; instances the file does not list are unlabeled, and ids
    the predictions do not have are left out (with a note), unless none of its ids match.
    """
    path = Path(path)
    kind = _check_format(path, "labels file")
    lines = None
    header_hint = ""
    if kind == "parquet":
        df = read_frame(path, "labels file")
    else:
        rows, lines = read_csv_rows(path, "labels file", drop_trailing_blanks=False)
        if not any(rows):
            raise UserError(f"labels file {path} is empty")
        first = rows[0]
        if any(v != "" and not _is_number(v) for v in first):
            header, rows, lines = first, rows[1:], lines[1:]
            dup = sorted({c for c in header if header.count(c) > 1 and c != ""})
            if dup:
                raise UserError(f"labels file {path}: column names repeat: {dup}")
            if any(_is_number(c) for c in header):
                header_hint = (
                    f" (its first row {header} was read as the header: a file of ids and "
                    "labels needs a header naming both columns)"
                )
        else:
            header = [str(j) for j in range(max(1, len(first)))]
        df = _table(rows, lines, path, "labels file", header)
    df.columns = [str(c) for c in df.columns]
    if id_column is not None and id_column in df.columns and ids is not None:
        return _labels_by_id(df, path, label_column, id_column, ids, lines)
    if id_column is not None and df.shape[1] > 1:
        # Row order would silently pair labels with the wrong instances if the file is
        # sorted differently: only a one-column labels file is read in row order.
        raise UserError(
            f"labels file {path} has columns {list(df.columns)} but none named {id_column!r} "
            f"(--id-column){header_hint}: name its id column {id_column!r} to match the labels "
            "by id, or give one label column in the predictions' row order"
        )
    if label_column is not None:
        if label_column not in df.columns:
            raise UserError(
                f"--label-column {label_column!r} is not a column of {path}; its columns "
                f"are {_names(df.columns)}"
            )
        series = df[label_column]
        if df.shape[1] > 1:
            print(
                f"cfensemble: warning: labels file {path}: column {label_column!r} is read in "
                "the predictions' row order; its other column(s) "
                f"{_names([c for c in df.columns if c != label_column])} are not matched to "
                "the instances (to match by id, name the id column with --id-column)",
                file=sys.stderr,
            )
    elif df.shape[1] == 1:
        series = df.iloc[:, 0]
    else:
        raise UserError(
            f"labels file {path} has {df.shape[1]} columns {list(df.columns)}{header_hint}; "
            "name the label column with --label-column"
        )
    labels = _parse_labels(series.reset_index(drop=True), path, series.name, lines)
    if labels.size > n_instances and np.isnan(labels[n_instances:]).all():
        labels = labels[:n_instances]  # trailing blank lines
    if labels.size != n_instances:
        raise UserError(
            f"labels file {path} has {labels.size} rows but the predictions have "
            f"{n_instances} instances: give one label (or a blank) per instance"
        )
    return labels


def _labels_by_id(df, path: Path, label_column, id_column: str, ids, lines) -> np.ndarray:
    """Labels matched to the predictions' ids through the labels file's ``id_column``."""
    others = [c for c in df.columns if c != id_column]
    if label_column is None:
        if len(others) != 1:
            raise UserError(
                f"labels file {path} has the id column {id_column!r} and {len(others)} other "
                f"columns {others}; name the label column with --label-column"
            )
        label_column = others[0]
    elif label_column not in df.columns:
        raise UserError(
            f"--label-column {label_column!r} is not a column of {path}; its columns are "
            f"{_names(df.columns)}"
        )
    key = [str(v).strip() for v in df[id_column]]
    seen: dict[str, int] = {}
    for i, k in enumerate(key):
        if k in seen:
            raise UserError(
                f"labels file {path}: id {k!r} appears twice (rows {seen[k] + 1} and {i + 1} "
                f"of column {id_column!r}); give each instance one label"
            )
        seen[k] = i
    pred = [str(v).strip() for v in ids]
    position = {k: j for j, k in enumerate(pred)}
    if len(position) != len(pred):
        from collections import Counter

        dup = sorted(k for k, c in Counter(pred).items() if c > 1)[:5]
        raise UserError(
            f"the predictions' id column {id_column!r} repeats ids {dup}: labels cannot be "
            "matched by id"
        )
    unknown = [k for k in key if k not in position]
    if len(unknown) == len(key):
        raise UserError(
            f"labels file {path}: its {len(unknown)} id(s) of column {id_column!r} are not ids "
            f"of the predictions, e.g. {unknown[:5]}; both files must use the same ids"
        )
    values = _parse_labels(df[label_column].reset_index(drop=True), path, label_column, lines)
    if unknown:
        # One labels file for every instance, predictions for some of them (a test part):
        # the usual case, so the extra labels are left out, and said so.
        print(
            f"cfensemble: note: labels file {path}: {len(unknown)} of its {len(key)} ids have "
            f"no row in the predictions (e.g. {unknown[:3]}); their labels are not used",
            file=sys.stderr,
        )
        keep = np.array([k in position for k in key])
        key, values = [k for k in key if k in position], values[keep]
    labels = np.full(len(pred), np.nan)
    labels[[position[k] for k in key]] = values
    return labels


def write_predictions(path, p: np.ndarray, ids=None, id_name: str = "id") -> None:
    """Write probabilities (and ids) to CSV or Parquet, atomically: a temporary file in the
    same folder is flushed, fsynced and renamed over ``path``, so a failure or an interrupt
    leaves an existing file at ``path`` as it was."""
    import pandas as pd

    path = Path(path)
    kind = _check_format(path, "output file")
    cols = {}
    if ids is not None:
        cols[id_name] = ids
    cols["probability"] = p
    df = pd.DataFrame(cols)
    _check_out_folder(path)
    if kind == "parquet":
        _need_pyarrow()
        if ids is not None:
            df[id_name] = df[id_name].astype(str)
        _write(path, lambda f: df.to_parquet(f, index=False), binary=True)
    else:
        sep = CSV_EXT[_suffix(path)]
        _write(
            path,
            lambda f: df.to_csv(f, sep=sep, index=False, float_format="%.10g", lineterminator="\n"),
            binary=False,
        )


def _check_out_folder(path: Path) -> None:
    if path.exists() and path.is_dir():
        raise UserError(f"--out {path} is a directory, expected a file name")
    if str(path.parent) and not path.parent.exists():
        raise UserError(f"output folder {path.parent} does not exist")


def _write(path: Path, write, *, binary: bool) -> None:
    """atomic_write with disk errors reported with the file's name."""
    try:
        atomic_write(path, write, binary=binary)
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}; {path} is unchanged"
        ) from None


def _refuse_overwriting_inputs(args, inputs: dict[str, object]) -> None:
    """A UserError if --out names (or links to) one of the command's input files."""
    out = Path(args.out)
    for flag, p in inputs.items():
        if p is not None and same_file(out, p):
            raise UserError(
                f"--out {out} is the same file as {flag} {p}: refusing to overwrite an input; "
                "choose another output name"
            )


# ---------------------------------------------------------------------------- commands
def _progress_bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    # disable=None: bars only on a terminal, so logs and pipes stay clean.
    return tqdm(total=total, desc=desc, unit="it", leave=False, disable=None if enabled else True)


def _latent_dim(text: str):
    """--latent-dim: 'auto' or a positive integer."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {value}")
    return value


def _n_jobs(text: str) -> int:
    """--n-jobs: a nonzero integer (-1: every core)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a nonzero integer (-1: all cores), got {text!r}"
        ) from None
    if value == 0:
        raise argparse.ArgumentTypeError("expected a nonzero integer (-1: all cores), got 0")
    return value


def _make_trainer(args, m: int):
    from cfensemble.factory import make_trainer

    # The trainer options of `fit`, under the trainer's names.
    options = ("rho", "lambda_reg", "confidence", "aggregator", "init")
    params = {name: getattr(args, name) for name in options}
    params["random_state"] = args.seed
    if args.max_iter:
        params["max_iter"] = args.max_iter
    if args.tol is not None:
        params["min_delta" if args.solver == "pytorch" else "tol"] = args.tol
    if args.solver == "pytorch":
        params["device"] = "cpu"
    # One thread unless asked: torch's own default (every core) made a small pytorch fit
    # 10x slower on a loaded 2-core machine (21.6 s against 2.1 s), and the kernels of
    # als/varpro default to one thread too.
    params["n_jobs"] = args.n_jobs if args.n_jobs is not None else 1
    latent_dim = args.latent_dim if args.latent_dim is not None else "auto"
    try:
        return make_trainer(m, solver=args.solver, latent_dim=latent_dim, **params)
    except ImportError as exc:
        raise UserError(f"--solver {args.solver}: {exc}") from None


def _predictions_and_labels(args, unscored: str | None = None):
    """(R, names, ids, labels) of ``fit``/``score``: the labels from ``--labels`` (matched by
    id when it has the ``--id-column``) or from ``--label-column`` of the predictions file.
    ``unscored``: warn about instances with no prediction, ending with these words."""
    if args.labels is None and args.label_column is None:
        raise UserError("give the labels: --labels FILE, or --label-column NAME of --predictions")
    in_file_labels = args.labels is None
    R, names, ids, labels = read_predictions(
        args.predictions,
        transposed=args.transposed,
        id_column=args.id_column,
        label_column=args.label_column if in_file_labels else None,
    )
    if unscored is not None:
        _warn_unscored(R, ids, args.predictions, unscored)
    if not in_file_labels:
        try:
            labels = read_labels(
                args.labels, R.shape[1], args.label_column, id_column=args.id_column, ids=ids
            )
        except UserError as exc:
            hint = _drop_transposed_hint(R, args.predictions, args.transposed)
            if not hint:
                raise
            raise UserError(f"{exc}{hint}") from None
    return R, names, ids, labels


def cmd_fit(args) -> int:
    from cfensemble.data import EnsembleData

    out = Path(args.out)
    _refuse_overwriting_inputs(args, {"--predictions": args.predictions, "--labels": args.labels})
    _check_out_folder(out)
    if args.max_iter is not None and args.max_iter < 1:
        raise UserError(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.tol is not None and not args.tol >= 0.0:
        raise UserError(f"--tol must be >= 0, got {args.tol}")
    if args.rho is not None and not 0.0 <= args.rho <= 1.0:
        raise UserError(f"--rho must be in [0, 1], got {args.rho}")
    if not args.lambda_reg >= 0.0:
        raise UserError(f"--lambda must be >= 0, got {args.lambda_reg}")
    R, names, ids, labels = _predictions_and_labels(args, unscored="predict gives them")
    n_lab = int((~np.isnan(labels)).sum())
    n_pos = int(np.nansum(labels))
    if n_lab == 0 or n_pos == 0 or n_pos == n_lab:
        raise UserError(
            f"the labels hold {n_lab} labeled instance(s), {n_pos} positive: fitting needs "
            "labeled instances of both classes (0 and 1)"
        )
    m, n = R.shape
    blank = [names[u] for u in np.flatnonzero(np.isnan(R).all(axis=1))]
    if blank:
        raise UserError(
            f"predictions file {args.predictions}: classifier column(s) {blank} hold no "
            "prediction at all (every cell blank); drop them from the file"
        )
    trainer = _make_trainer(args, m)
    data = EnsembleData(R, labels)
    limit = trainer.max_iter
    t0 = time.perf_counter()
    with _progress_bar(limit, f"fit {args.solver}", not args.no_progress) as bar:
        trainer.callback = lambda it, loss: (bar.update(1), bar.set_postfix(L_CF=f"{loss:.4g}"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer.fit(data)
    trainer.callback = None  # a function cannot go into the model file
    dt = time.perf_counter() - t0
    shown = set()
    for w in caught:
        text = str(w.message)
        # The library's own warnings (UserWarning and its ConvergenceWarning), each once;
        # the unscored-instance one was said above, by id.
        if not issubclass(w.category, UserWarning) or "hold no prediction from any" in text:
            continue
        if text not in shown:
            shown.add(text)
            print(f"cfensemble: warning: {text}", file=sys.stderr)
    # save() refuses a model it could not read back (non-finite values) and replaces the
    # file atomically: a failure or an interrupt here leaves a previous model intact.
    try:
        trainer.save(out, classifier_names=names)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}; {out} is unchanged") from None
    history = trainer.history_.get("combined") or [float("nan")]
    print(
        f"fitted {args.solver} (latent_dim={trainer.latent_dim_}) on {m} classifiers x {n} "
        f"instances ({n_lab} labeled, {n_pos} positive; {data.missing_rate:.1%} cells "
        f"missing) in {dt:.2f} s, {trainer.n_iter_} "
        f"{'epoch' if args.solver == 'pytorch' else 'iteration'}"
        f"{'' if trainer.n_iter_ == 1 else 's'}, L_CF={history[-1]:.5g}"
    )
    if data.missing_rate == 0 and trainer.aggregator_input == "filled":
        print(
            "note: R is complete, so the aggregator sees R itself: the solver, rank and "
            "lambda change nothing in its predictions; the factors only fill missing cells, "
            "which the files given to predict may have"
        )
    print(f"model saved to {out}")
    return 0


def _match_columns(model_names, m: int, names, R, path, transposed: bool = False):
    """R's rows reordered to the model's classifier order, or a UserError saying what differs."""
    if model_names is None:  # a model saved from Python without names: order is trusted
        if len(names) != m:
            raise UserError(f"the model expects {m} classifier columns, {path} has {len(names)}")
        return R
    if list(names) == list(model_names):
        return R
    missing = [c for c in model_names if c not in names]
    extra = [c for c in names if c not in model_names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from {path}: {_names(missing)}")
        if extra:
            parts.append(f"not in the model: {_names(extra)}")
        hint = (
            " (a classifier that scored none of these instances can be given as a column of "
            "blank cells)"
            if missing
            else ""
        )
        hint += _drop_transposed_hint(R, path, transposed)
        raise UserError(
            "the classifier columns differ from those the model was fitted on ("
            + "; ".join(parts)
            + f"); the model expects {_names(model_names)}{hint}"
        )
    order = [names.index(c) for c in model_names]
    logger.info("columns of %s reordered to the model's order", path)
    return R[order]


def _warn_unscored(R, ids, path, what: str) -> None:
    """A CLI warning naming the instances no classifier scored (all cells blank)."""
    empty = np.flatnonzero(np.isnan(R).all(axis=0))
    if empty.size == 0:
        return
    shown = [str(ids[i]) for i in empty[:5]] if ids is not None else [str(i + 1) for i in empty[:5]]
    which = "ids" if ids is not None else "instances (1-based)"
    more = " ..." if empty.size > 5 else ""
    print(
        f"cfensemble: warning: {path}: {empty.size} instance(s) hold no prediction from any "
        f"classifier ({which} {', '.join(shown)}{more}); {what} the positive share of the "
        "fitted labels",
        file=sys.stderr,
    )


def cmd_predict(args) -> int:
    from cfensemble.persistence import load

    model_path = Path(args.model)
    _refuse_overwriting_inputs(args, {"--model": args.model, "--predictions": args.predictions})
    _check_format(Path(args.out), "output file")
    _check_out_folder(Path(args.out))
    if not model_path.exists():
        raise UserError(f"model file {model_path} does not exist")
    trainer = load(model_path)
    R, names, ids, _ = read_predictions(
        args.predictions, transposed=args.transposed, id_column=args.id_column
    )
    R = _match_columns(
        trainer.classifier_names_,
        trainer.n_classifiers,
        names,
        R,
        args.predictions,
        args.transposed,
    )
    _warn_unscored(R, ids, args.predictions, "they are predicted at")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*hold no prediction from any classifier")
        p = trainer.predict(R)
    if not np.isfinite(p).all():
        raise NonFiniteError(
            f"the model gave {int((~np.isfinite(p)).sum())} non-finite probabilities; "
            f"nothing was written to {args.out}"
        )
    write_predictions(
        args.out,
        p,
        ids,
        id_name=args.id_column or "instance",
    )
    print(
        f"predicted {p.size} instances with {type(trainer).__name__} "
        f"({getattr(trainer, 'solver', 'pytorch')}) in {time.perf_counter() - t0:.2f} s; "
        f"written to {args.out}"
    )
    return 0


def cmd_score(args) -> int:
    """PR-AUC, ROC-AUC, Brier and log-loss of every probability column against the labels."""
    from cfensemble.metrics import evaluate

    P, names, ids, labels = _predictions_and_labels(args)
    labeled = ~np.isnan(labels)
    shared = labeled & ~np.isnan(P).any(axis=0)
    rows = []
    for name, p in zip(names, P, strict=True):
        use = shared if args.same_rows else labeled & ~np.isnan(p)
        y = labels[use]
        if y.size == 0 or y.min() == y.max():
            raise UserError(
                f"column {name!r}: {y.size} instance(s) have both a label and a probability, "
                f"{int(y.sum())} positive; scoring needs both classes (0 and 1)"
            )
        rows.append((name, int(use.sum()), int(y.sum()), evaluate(y, p[use])))
    width = max(len("column"), *(len(r[0]) for r in rows))
    head = f"{'column':{width}s}  {'scored':>7s}  {'positive':>8s}"
    print(f"{head}  PR-AUC  ROC-AUC   Brier  log-loss")
    for name, n_used, n_pos, m in rows:
        print(
            f"{name:{width}s}  {n_used:7d}  {n_pos:8d}  {m['pr_auc']:6.4f}  {m['roc_auc']:7.4f}  "
            f"{m['brier']:6.4f}  {m['log_loss']:8.4f}"
        )
    skipped = int((~labeled).sum())
    if skipped:
        print(
            f"({skipped} instance(s) without a label, blank or not in the labels file, not scored)"
        )
    if not args.same_rows and len({r[1] for r in rows}) > 1:
        print(
            "(the columns were scored on different instances, each on those it has a "
            f"probability for; --same-rows scores every column on the {int(shared.sum())} "
            "they all have)"
        )
    return 0


def cmd_compare(args) -> int:
    """CF against the baselines on the user's own R: labels hidden fold by fold."""
    from cfensemble.baselines import BASELINES
    from cfensemble.evaluation import (
        cf_method,
        check_fold_counts,
        cross_validate_predictions,
        paired_comparison,
    )
    from cfensemble.factory import make_trainer

    if args.folds < 2 or args.repeats < 1:
        raise UserError(
            f"--folds must be >= 2 and --repeats >= 1, got {args.folds}, {args.repeats}"
        )
    if args.out is not None:
        _refuse_overwriting_inputs(
            args, {"--predictions": args.predictions, "--labels": args.labels}
        )
        _check_out_folder(Path(args.out))
    R, _names, _ids, labels = _predictions_and_labels(args)
    cf = f"cf_{args.solver}"
    params = {"random_state": args.seed, "n_jobs": 1}
    if args.solver == "pytorch":
        params["device"] = "cpu"
    try:
        make_trainer(R.shape[0], solver=args.solver, latent_dim=1)  # torch present?
    except ImportError as exc:
        raise UserError(f"--solver {args.solver}: {exc}") from None
    methods = {cf: cf_method(args.solver, **params), **BASELINES}
    n_lab = int((~np.isnan(labels)).sum())
    n_pos = int(np.nansum(labels))
    check_fold_counts(labels, args.folds, f"--folds {args.folds}", "--folds")  # before output
    print(
        f"{args.folds}-fold CV x {args.repeats} repeat(s) over the {n_lab} labeled instances "
        f"({n_pos} positive) of {R.shape[0]} classifiers x {R.shape[1]} instances "
        f"({float(np.isnan(R).mean()):.1%} cells missing): each fold's labels hidden, every "
        "method fitted on the whole file with the rest, scored on the hidden fold"
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_validate_predictions(
            R,
            labels,
            methods,
            n_splits=args.folds,
            n_repeats=args.repeats,
            random_state=args.seed,
            progress=not args.no_progress,
        )
    means = scores.groupby("method", sort=False)["score"].agg(["mean", "std"])
    paired = {name: paired_comparison(scores, cf, name) for name in means.index if name != cf}
    width = max(len(m) for m in means.index)
    print(f"{'method':{width}s}  PR-AUC  sd over folds  {cf} minus it  W/T/L     p")
    for name, row in means.iterrows():
        line = f"{name:{width}s}  {row['mean']:6.4f}  {row['std']:12.3f}"
        if name != cf:
            r = paired[name]
            p = "n/a" if not np.isfinite(r["p_value"]) else f"{r['p_value']:.3g}"
            w_t_l = f"{r['wins']}/{r['ties']}/{r['losses']}"
            line += f"  {r['mean_diff']:+13.4f}  {w_t_l:8s}  {p}"
        print(line)
    folds = len(scores) // len(methods)
    print(
        f"({folds} folds in {time.perf_counter() - t0:.1f} s. W/T/L: folds where {cf} is "
        "ahead / within 0.001 / behind; p: two-sided Wilcoxon signed-rank test over the "
        "folds, which share their data, so a rough guide.)"
    )
    best = means.drop(index=cf)["mean"].idxmax()
    r = paired[best]
    if abs(r["mean_diff"]) <= 1e-3 or not (r["p_value"] < 0.05):
        verdict = f"tied with the best baseline, {best}"
    else:
        verdict = f"{'ahead of' if r['mean_diff'] > 0 else 'behind'} the best baseline, {best}"
    print(
        f"verdict: {cf} is {verdict} ({r['mean_diff']:+.4f} PR-AUC"
        + ("" if not np.isfinite(r["p_value"]) else f", p = {r['p_value']:.3g}")
        + "; tied: within 0.001 or p >= 0.05)"
    )
    if not np.isnan(R).any():
        print(
            f"note: R is complete, so {cf} is its aggregator 'auto' on R itself (a blend of "
            "the mean, stacking and the best single classifier); the factorization only "
            "fills missing cells"
        )
    if args.out is not None:
        _write(Path(args.out), lambda f: scores.to_csv(f, index=False), binary=False)
        print(f"fold scores written to {args.out}")
    return 0


def _run_and_report(cfg: dict, out_dir: Path, progress: bool) -> int:
    from cfensemble.benchmark import run_benchmark, text_table, write_report

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a directory")
    from cfensemble.benchmark.runner import make_settings

    n_settings = len(make_settings(cfg))
    print(
        f"cfensemble {cfg.get('name', 'benchmark')}: {n_settings} data settings x "
        f"{len(cfg['methods'])} methods ({', '.join(cfg['methods'])})"
        + (", then a fit-time sweep (its table is in the report)" if cfg["timing"] else ""),
        flush=True,
    )
    t0 = time.perf_counter()
    result = run_benchmark(cfg, progress=progress)
    report = write_report(result, out_dir)
    print()
    print("PR-AUC on test instances (* = best in row):")
    print(text_table(result, "pr_auc"))
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nreport: {report} (+ CSV and PNG files in {out_dir}/)")
    print(f"wall time: {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_demo(args) -> int:
    import copy

    from cfensemble.benchmark import DEMO_CONFIG, validate_config

    cfg = copy.deepcopy(DEMO_CONFIG)
    if args.n_instances is not None:
        cfg["synthetic"]["n_instances"] = [args.n_instances]
    if args.no_real:
        cfg["real"] = []
    if args.no_timing:
        cfg["timing"] = None
    if args.methods:
        cfg["methods"] = args.methods
    if args.threads is not None:
        cfg["threads"] = args.threads or None
    cfg = validate_config(cfg)
    return _run_and_report(cfg, Path(args.out), not args.no_progress)


def cmd_benchmark(args) -> int:
    from cfensemble.benchmark import load_config

    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path(f"cfensemble-{cfg.get('name', 'benchmark')}")
    return _run_and_report(cfg, out, not args.no_progress)


# ---------------------------------------------------------------------------- parser
def _add_io_layout(p, id_help: str | None = None) -> None:
    p.add_argument(
        "--transposed",
        action="store_true",
        help="classifiers as rows (name in the first column), instances as columns",
    )
    p.add_argument(
        "--id-column",
        metavar="NAME",
        help=id_help
        or "a column of instance ids (not a classifier); labels are matched by it, and it is "
        "copied to predict's output (with --transposed the header holds the ids and NAME "
        "names the labels file's id column)",
    )


def _add_labels(p, labels_help: str) -> None:
    p.add_argument("--labels", help=labels_help)
    p.add_argument(
        "--label-column",
        metavar="NAME",
        help="the label column (of --labels, or of --predictions when --labels is absent)",
    )


def build_parser() -> argparse.ArgumentParser:
    from cfensemble._version import __version__

    parser = argparse.ArgumentParser(
        prog="cfensemble",
        description="CF-Ensemble: combine base-classifier probabilities by collaborative "
        "filtering.",
    )
    parser.add_argument("--version", action="version", version=f"cfensemble {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    common.add_argument("--no-progress", action="store_true", help="no progress bars")
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    parser.commands = sub.choices  # name -> its parser (main() reports unknown options there)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="synthetic (10%%, 5%%, 1%% positives) and real data, every method, a report",
        description="Run every method (ALS, varpro, PyTorch, mean, stacking, best single) on "
        "synthetic data at 10%, 5% and 1% positives and on breast_cancer, with complete R "
        "and with 30% of the cells missing; print a PR-AUC table and write a report.",
    )
    demo.add_argument(
        "--out", default="cfensemble-report", help="report folder (default cfensemble-report)"
    )
    demo.add_argument("--n-instances", type=int, help="synthetic size (default 2000)")
    demo.add_argument(
        "--methods",
        nargs="+",
        metavar="METHOD",
        help="subset of: als varpro pytorch mean stacking best_single (default: all)",
    )
    demo.add_argument("--no-real", action="store_true", help="skip the real data set")
    demo.add_argument("--no-timing", action="store_true", help="skip the fit-time sweep")
    demo.add_argument(
        "--threads", type=int, help="BLAS/torch threads (default 1; 0 = library default)"
    )
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser(
        "benchmark",
        parents=[common],
        help="the runs of a JSON config (levels, seeds, sizes, solvers), a report",
        description="Run the settings of a JSON config (synthetic sizes and positive rates, "
        "bundled real data sets, missing rates, seeds, solvers) and write a report folder: "
        "PR-AUC tables (markdown, CSV) and plots.",
    )
    bench.add_argument("--config", required=True, help="JSON file (see benchmarks/config.json)")
    bench.add_argument("--out", help="report folder (default cfensemble-<config name>)")
    bench.set_defaults(func=cmd_benchmark)

    fit = sub.add_parser(
        "fit",
        parents=[common],
        help="fit CF-Ensemble on a prediction matrix file and save the model",
        description="Fit CF-Ensemble on the base classifiers' probabilities (one column per "
        "classifier, one row per instance, blank = missing) and the labels (0, 1 or blank = "
        "unlabeled: those rows still shape the factors), and save the model. Every option "
        "has a default.",
    )
    fit.add_argument("--predictions", required=True, help="R as .csv/.tsv/.parquet")
    _add_labels(fit, "labels file: 0, 1 or blank (unlabeled) per instance")
    fit.add_argument("--out", required=True, help="model file to write (e.g. model.cfe)")
    fit.add_argument(
        "--solver",
        choices=SOLVERS,
        default="als",
        help="als (default, as in the library): alternating least squares; varpro: the same "
        "objective by L-BFGS; pytorch: gradient descent (needs the torch extra). At the "
        "default rho = 1 they score within 0.001 of each other on the real-data benchmark",
    )
    fit.add_argument(
        "--latent-dim",
        type=_latent_dim,
        default="auto",
        metavar="auto|D",
        help="rank d, or 'auto' (default): chosen from held-out cells, below n_classifiers",
    )
    fit.add_argument(
        "--rho",
        type=float,
        default=None,
        help="reconstruction weight in [0, 1] (default: 1)",
    )
    fit.add_argument(
        "--aggregator",
        choices=("auto", "weighted", "shrinkage", "mean"),
        default="auto",
        help="how the filled predictions are combined: auto (default: the mean, stacking "
        "and the best classifier averaged), weighted (stacking), shrinkage (stacking shrunk "
        "toward equal weights), mean (not with --solver varpro, whose objective fits the "
        "aggregator's weights)",
    )
    fit.add_argument(
        "--lambda",
        dest="lambda_reg",
        metavar="LAMBDA",
        type=float,
        default=0.01,
        help="L2 penalty on the factors X and Y, >= 0 (default 0.01)",
    )
    fit.add_argument(
        "--max-iter", type=int, help="iterations (default 100; epochs for pytorch, 200)"
    )
    fit.add_argument(
        "--tol",
        type=float,
        help="stop when the objective's relative change per iteration falls below this "
        "(default: 1e-3 for als, 1e-6 for varpro; pytorch: its early-stopping min_delta)",
    )
    fit.add_argument(
        "--confidence",
        choices=CONFIDENCES,
        default="uniform",
        help="weight of each observed cell in the reconstruction: uniform (default), "
        "certainty (|2r - 1|), calibration (per classifier, from the labels), adaptive (both)",
    )
    fit.add_argument(
        "--init",
        choices=("svd", "random"),
        default="svd",
        help="the factors' start: svd (default): balanced SVD factors of the predictions, "
        "missing cells at the instance's mean; random: small random factors (the earlier "
        "default, slower to converge)",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=None,
        metavar="N",
        help="threads of the fit: the als/varpro kernels, or torch's intra-op threads with "
        "--solver pytorch (default 1; -1: every core)",
    )
    _add_io_layout(fit)
    fit.set_defaults(func=cmd_fit)

    pred = sub.add_parser(
        "predict",
        parents=[common],
        help="probabilities for new instances from a saved model",
        description="Write the probability that each instance is positive, from a model saved "
        "by 'cfensemble fit', for a predictions file with the same classifiers (columns "
        "matched by name, any order; blank = missing).",
    )
    pred.add_argument("--model", required=True, help="model file written by 'cfensemble fit'")
    pred.add_argument("--predictions", required=True, help="R_new with the same classifiers")
    pred.add_argument("--out", required=True, help="output .csv/.tsv/.parquet")
    _add_io_layout(
        pred,
        "a column of instance ids (not a classifier), copied to the output's first column "
        "(with --transposed the header holds the ids and NAME names the output's id column, "
        "'instance' by default)",
    )
    pred.set_defaults(func=cmd_predict)

    score = sub.add_parser(
        "score",
        parents=[common],
        help="PR-AUC, ROC-AUC, Brier and log-loss of probabilities against labels",
        description="Score every probability column of a file (predict's output, or a "
        "predictions file: each classifier's own score) against labels: instances with a "
        "label and a probability are scored; blank labels are unlabeled and left out.",
    )
    score.add_argument(
        "--predictions",
        required=True,
        help="probabilities: predict's --out, or a predictions file (one column each)",
    )
    _add_labels(score, "labels file (as for fit; blank = unlabeled)")
    score.add_argument(
        "--same-rows",
        action="store_true",
        help="score every column on the instances all of them have a probability for "
        "(default: each column on its own)",
    )
    _add_io_layout(
        score,
        id_help="a column of instance ids (not a probability); labels are "
        "matched by it when the labels file has a column of that name",
    )
    score.set_defaults(func=cmd_score)

    compare = sub.add_parser(
        "compare",
        parents=[common],
        help="CF-Ensemble against the mean, stacking and the best single classifier on "
        "your predictions file, by hiding labels",
        description="Is CF-Ensemble worth it on my data? Repeated stratified K-fold over the "
        "labeled instances: each fold's labels are hidden, CF (the fit defaults) and the "
        "baselines (mean of the observed cells, class-weighted stacking, an HGB stacker, the "
        "best single classifier) are fitted on the whole file with the other labels, and "
        "scored (PR-AUC) on the hidden fold. The predictions must be held-out ones (out-of-"
        "fold on your training rows), as for fit.",
    )
    compare.add_argument("--predictions", required=True, help="R: one column per classifier")
    _add_labels(compare, "labels file (blank = unlabeled, never scored)")
    compare.add_argument("--solver", choices=SOLVERS, default="als", help="CF's solver")
    compare.add_argument("--folds", type=int, default=5, help="folds (default %(default)s)")
    compare.add_argument(
        "--repeats", type=int, default=2, help="repeats of the folds (default %(default)s)"
    )
    compare.add_argument("--seed", type=int, default=0, help="seed of the folds and of CF")
    compare.add_argument("--out", help="also write every fold's scores to this CSV")
    _add_io_layout(
        compare,
        id_help="a column of instance ids (not a classifier); labels are matched by it "
        "when the labels file has a column of that name",
    )
    compare.set_defaults(func=cmd_compare)
    return parser


def _setup_logging(verbose: bool) -> None:
    if verbose and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _one_line(exc: BaseException) -> str:
    """The message the CLI prints for an error: one line, naming the file of an OSError."""
    if isinstance(exc, OSError) and not isinstance(exc, CFEnsembleError):
        name = f"{exc.filename}: " if exc.filename is not None else ""
        text = f"{name}{exc.strerror or exc}"
    elif isinstance(exc, (CFEnsembleError, ValueError, TypeError, ImportError)):
        text = str(exc)
    else:
        text = (
            f"unexpected {type(exc).__name__}: {exc} (please report it; --debug shows the "
            "traceback)"
        )
    return " ".join(text.split()) or type(exc).__name__


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_as_interrupt():
    """SIGTERM, and SIGINT whatever handler it had, stop the command as Ctrl-C does: nothing
    partial is written, status 130. A SIGINT the process was started to ignore stays
    ignored; the handlers in place before are restored after the command."""
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN or sig == signal.SIGTERM:
                previous[sig] = signal.signal(sig, _interrupt)
    except ValueError:  # not the main thread: signals are the host's business
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv=None) -> int:
    """Entry point of the ``cfensemble`` console script; returns the exit status.

    0 on success, 1 on an error (one line on stderr; ``--debug`` shows the traceback), 2 on
    a command-line syntax error, 130 on Ctrl-C or SIGTERM (no file changed).
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse would answer with the top-level usage; the command's own is the useful one.
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose)
    try:
        with _signals_as_interrupt():
            return args.func(args)
    except KeyboardInterrupt:
        print("cfensemble: interrupted; no file was changed", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error becomes one line and status 1
        if args.debug:
            raise
        print(f"cfensemble {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
