"""Benchmark report: markdown, CSV and PNG figures from a :class:`BenchmarkResult`.

Files written to the report folder:

``report.md``             tables (PR-AUC, ROC-AUC, fit time) and the figures, with notes
``results.csv``           one row per (setting, seed, method): all metrics, fit time, n_iter
``summary.csv``           mean and standard deviation over seeds per (setting, method)
``timing.csv``            the fit-time sweep over n
``pr_curves.png``         precision-recall curves of every method, one panel per setting
``loss_curves.png``       L_CF per iteration of every CF optimizer, one panel per setting
``fit_time.png``          fit time against n (log-log) and time per iteration
``similarity.png``        cosine similarity of classifiers from the learned factors X
``weights.png``           the aggregator's weight per classifier

Figures are drawn with matplotlib's Agg canvas (no display needed, no global backend set).
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path

import numpy as np

from cfensemble.exceptions import InvalidInputError

logger = logging.getLogger("cfensemble")

METRICS = ("pr_auc", "roc_auc", "brier", "log_loss")
_CF = ("als", "varpro", "pytorch")
_COLORS = {
    "als": "#1f77b4",
    "varpro": "#d62728",
    "pytorch": "#9467bd",
    "mean": "#7f7f7f",
    "stacking": "#2ca02c",
    "best_single": "#ff7f0e",
    "hgb_stacking": "#17becf",
}
_LABELS = {
    "als": "CF: ALS",
    "varpro": "CF: varpro",
    "pytorch": "CF: PyTorch",
    "mean": "mean",
    "stacking": "stacking",
    "best_single": "best single",
    "hgb_stacking": "HGB stacking",
}


def _color(method: str, i: int = 0) -> str:
    return _COLORS.get(method, f"C{(i + 3) % 10}")


def _label(method: str) -> str:
    return _LABELS.get(method, method)


# ---------------------------------------------------------------------------- tables
def _ordered(items):
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def summarize(result, metric: str = "pr_auc"):
    """Mean and std over seeds of ``metric`` per (setting, method).

    Returns
    -------
    settings : list of str;  methods : list of str
    mean, std : ndarray of shape (n_settings, n_methods), NaN where a pair did not run
    count : ndarray of int, seeds per cell
    """
    settings = _ordered(r.setting.key for r in result.runs)
    methods = _ordered(r.method for r in result.runs)
    vals: dict = {}
    for r in result.runs:
        value = r.fit_time if metric == "fit_time_s" else r.metrics[metric]
        vals.setdefault((r.setting.key, r.method), []).append(value)
    shape = (len(settings), len(methods))
    mean, std, count = np.full(shape, np.nan), np.full(shape, np.nan), np.zeros(shape, int)
    for i, s in enumerate(settings):
        for j, m in enumerate(methods):
            v = vals.get((s, m))
            if v:
                mean[i, j], std[i, j], count[i, j] = np.mean(v), np.std(v), len(v)
    return settings, methods, mean, std, count


def _cell(mean, std, count, digits=3) -> str:
    if np.isnan(mean):
        return "-"
    text = f"{mean:.{digits}f}"
    if count > 1:
        text += f" ± {std:.{digits}f}"
    return text


def text_table(result, metric: str = "pr_auc") -> str:
    """A plain-text table (settings x methods) for the terminal; '*' marks the best."""
    settings, methods, mean, std, count = summarize(result, metric)
    higher = metric in ("pr_auc", "roc_auc")
    head = ["setting"] + [_label(m) for m in methods]
    rows = []
    for i, s in enumerate(settings):
        best = np.nanargmax(mean[i]) if higher else np.nanargmin(mean[i])
        cells = [
            _cell(mean[i, j], std[i, j], count[i, j]) + ("*" if j == best else " ")
            for j in range(len(methods))
        ]
        rows.append([s] + cells)
    widths = [max(len(r[k]) for r in [head] + rows) for k in range(len(head))]
    lines = [
        "  ".join(
            h.ljust(w) if k == 0 else h.rjust(w)
            for k, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                c.ljust(w) if k == 0 else c.rjust(w)
                for k, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def markdown_table(result, metric: str = "pr_auc", digits: int = 3) -> str:
    """Markdown table (settings x methods), the best of each row in bold."""
    settings, methods, mean, std, count = summarize(result, metric)
    higher = metric in ("pr_auc", "roc_auc")
    out = ["| setting | " + " | ".join(_label(m) for m in methods) + " |"]
    out.append("|---|" + "---:|" * len(methods))
    for i, s in enumerate(settings):
        best = None
        if metric != "fit_time_s" and not np.all(np.isnan(mean[i])):
            best = np.nanargmax(mean[i]) if higher else np.nanargmin(mean[i])
        cells = []
        for j in range(len(methods)):
            c = _cell(mean[i, j], std[i, j], count[i, j], digits)
            cells.append(f"**{c}**" if j == best else c)
        out.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        path.write_text("")
        return
    fields = _ordered(k for r in rows for k in r)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _summary_rows(result) -> list[dict]:
    rows = []
    for metric in METRICS + ("fit_time_s",):
        settings, methods, mean, std, count = summarize(result, metric)
        for i, s in enumerate(settings):
            for j, m in enumerate(methods):
                if count[i, j]:
                    rows.append(
                        {
                            "setting": s,
                            "method": m,
                            "metric": metric,
                            "mean": mean[i, j],
                            "std": std[i, j],
                            "n_seeds": int(count[i, j]),
                        }
                    )
    return rows


# ---------------------------------------------------------------------------- figures
def _plain_log_ticks(ax, x=True, y=True) -> None:
    """Log axes labelled 0.2, 500, 2000 rather than 2x10^-1."""
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    if x:
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    if y:
        from matplotlib.ticker import LogFormatter

        class _Plain(LogFormatter):
            def _num_to_string(self, x, vmin, vmax):
                return f"{x:g}"

        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        # Minor labels only where the axis spans about a decade or less (LogFormatter thins
        # them), since such a range may hold no major tick at all.
        ax.yaxis.set_minor_formatter(_Plain(labelOnlyBase=False, minor_thresholds=(1, 0.4)))


def _figure(nrows, ncols, w=4.2, h=3.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w * ncols, h * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    return fig, axes


def _save(fig, path: Path, title: str, fontsize: int) -> Path:
    """Title the figure, write it to ``path`` and return ``path``."""
    fig.suptitle(title, fontsize=fontsize)
    fig.savefig(path, dpi=110)
    return path


def _settings_figure(runs):
    """The settings of ``runs`` in order, and a figure with one panel per setting."""
    settings = _ordered(r.setting.key for r in runs)
    fig, axes = _figure(*_grid(len(settings)))
    return settings, fig, axes


def _grid(n):
    ncols = min(n, 4) if n != 4 else 2
    return (n + ncols - 1) // ncols, ncols


def _first_seed_runs(result):
    seed0 = result.runs[0].setting.seed if result.runs else None
    return [r for r in result.runs if r.setting.seed == seed0]


def plot_pr_curves(result, path: Path) -> Path | None:
    from sklearn.metrics import precision_recall_curve

    runs = _first_seed_runs(result)
    if not runs:
        return None
    settings, fig, axes = _settings_figure(runs)
    for ax, key in zip(axes, settings, strict=False):
        here = [r for r in runs if r.setting.key == key]
        base = float(np.mean(here[0].y_test))
        for i, r in enumerate(here):
            prec, rec, _ = precision_recall_curve(r.y_test, r.p_test)
            ax.step(
                rec,
                prec,
                where="post",
                color=_color(r.method, i),
                lw=1.6 if r.method in _CF else 1.2,
                ls="-" if r.method in _CF else "--",
                label=f"{_label(r.method)} ({r.metrics['pr_auc']:.3f})",
            )
        ax.axhline(base, color="k", lw=0.8, ls=":", label=f"chance ({base:.3f})")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(key, fontsize=10)
        ax.legend(
            fontsize=7,
            loc="lower left",
            title="method (PR-AUC)",
            title_fontsize=7,
            framealpha=0.75,
        )
        ax.grid(alpha=0.3)
    for ax in axes[len(settings) :]:
        ax.set_visible(False)
    title = f"Precision-recall curves on test instances (seed {runs[0].setting.seed})"
    return _save(fig, path, title, fontsize=12)


def plot_loss_curves(result, path: Path) -> Path | None:
    runs = [r for r in _first_seed_runs(result) if r.history]
    if not runs:
        return None
    settings, fig, axes = _settings_figure(runs)
    for ax, key in zip(axes, settings, strict=False):
        for i, r in enumerate(x for x in runs if x.setting.key == key):
            h = np.asarray(r.history)
            ax.plot(
                np.arange(1, h.size + 1),
                h,
                color=_color(r.method, i),
                lw=1.6,
                label=f"{_label(r.method)} (final {h[-1]:.4g})",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("iteration (ALS sweep / L-BFGS step / epoch)")
        ax.set_ylabel("$L_{CF}$ (training data)")
        _plain_log_ticks(ax)
        ax.set_title(key, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    for ax in axes[len(settings) :]:
        ax.set_visible(False)
    title = "The shared objective $L_{CF}$ per iteration of each optimizer (same function for all)"
    return _save(fig, path, title, fontsize=12)


def plot_fit_time(result, path: Path) -> Path | None:
    if not result.timing:
        return None
    fig, (ax1, ax2) = _figure(1, 2, w=5.0, h=3.8)
    methods = _ordered(t["method"] for t in result.timing)
    for i, m in enumerate(methods):
        rows = sorted(
            (t for t in result.timing if t["method"] == m), key=lambda t: t["n_instances"]
        )
        n = [t["n_instances"] for t in rows]
        ax1.plot(n, [t["fit_time_s"] for t in rows], "o-", color=_color(m, i), label=_label(m))
        ax2.plot(
            n,
            [1e3 * t["time_per_iter_s"] for t in rows],
            "o-",
            color=_color(m, i),
            label=_label(m),
        )
    for ax, ylabel, title in (
        (ax1, "fit time (s)", "Fit time against n"),
        (ax2, "time per iteration (ms)", "Time per iteration against n"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n instances (columns of R)")
        _plain_log_ticks(ax)
        ax.set_xticks(sorted({t["n_instances"] for t in result.timing}))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend()
        ax.grid(alpha=0.3, which="both")
    threads = result.config.get("threads")
    note = f"{threads} thread(s)" if threads else "default threads"
    return _save(fig, path, f"Synthetic data, m={_timing_m(result)}; {note}", fontsize=11)


def _timing_m(result) -> str:
    synth = result.config.get("synthetic") or {}
    return str(synth.get("n_classifiers", "?"))


def _factor_runs(result):
    """Per dataset, the CF runs of its first setting (seed 0, the first missing rate)."""
    out = {}
    for r in result.runs:
        if r.X is None:
            continue
        first = out.setdefault(r.setting.dataset, (r.setting, []))
        if r.setting == first[0]:
            first[1].append(r)
    return [(s, runs) for s, runs in out.values() if runs]


def _cosine(X: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(X, axis=0)
    Xn = X / np.where(norms > 0, norms, 1.0)
    return Xn.T @ Xn


def plot_similarity(result, path: Path) -> Path | None:
    groups = _factor_runs(result)
    if not groups:
        return None
    ncols = max(len(runs) for _, runs in groups)
    fig, axes = _figure(len(groups), ncols, w=4.4, h=4.0)
    axes = axes.reshape(len(groups), ncols)
    image = None
    for g, (setting, runs) in enumerate(groups):
        for j, r in enumerate(runs):
            ax = axes[g, j]
            S = _cosine(r.X)
            image = ax.imshow(S, vmin=-1, vmax=1, cmap="RdBu_r")
            names = r.classifier_names or [str(u) for u in range(S.shape[0])]
            ticks = np.arange(len(names))
            ax.set_xticks(ticks, names, rotation=90, fontsize=6)
            ax.set_yticks(ticks, names, fontsize=6)
            ax.set_title(f"{_label(r.method)}\n{setting.key}", fontsize=9)
        for j in range(len(runs), ncols):
            axes[g, j].set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label="cosine of factor columns")
    title = "Classifier similarity from the learned factors: cos(x_u, x_v), X of shape (d, m)"
    return _save(fig, path, title, fontsize=11)


def plot_weights(result, path: Path) -> Path | None:
    groups = [(s, [r for r in runs if r.w is not None]) for s, runs in _factor_runs(result)]
    groups = [(s, runs) for s, runs in groups if runs]
    if not groups:
        return None
    fig, axes = _figure(len(groups), 1, w=9.0, h=3.4)
    for ax, (setting, runs) in zip(axes, groups, strict=True):
        m = runs[0].w.size
        names = runs[0].classifier_names or [str(u) for u in range(m)]
        if m == 2 * len(names):  # aggregator_input='both': filled predictions, then R_hat
            names = [f"{c} (obs)" for c in names] + [f"{c} (rec)" for c in names]
        elif m != len(names):
            names = [str(u) for u in range(m)]
        width = 0.8 / len(runs)
        x = np.arange(m)
        for k, r in enumerate(runs):
            ax.bar(
                x + (k - (len(runs) - 1) / 2) * width,
                r.w,
                width,
                color=_color(r.method, k),
                label=_label(r.method),
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
        ax.set_xlabel("base classifier")
        ax.set_ylabel("weight $w_u$")
        ax.set_title(setting.key, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    # 'auto' (the default): its stacking part, sigmoid(w . logit z + b); 'weighted':
    # sigmoid(w . z + b); z = the observed predictions, missing cells from r_hat.
    title = "Stacking weight per classifier (of 'auto''s stacking part by default)"
    return _save(fig, path, title, fontsize=11)


FIGURES = {
    "pr_curves.png": (plot_pr_curves, "Precision-recall curves (test instances)"),
    "loss_curves.png": (plot_loss_curves, "L_CF per iteration for each optimizer"),
    "fit_time.png": (plot_fit_time, "Fit time against n"),
    "similarity.png": (plot_similarity, "Classifier similarity from the learned factors"),
    "weights.png": (plot_weights, "Aggregator weight per classifier"),
}


# ---------------------------------------------------------------------------- report
def write_report(result, out_dir) -> Path:
    """Write the markdown report, CSVs and PNGs into ``out_dir`` (created if needed).

    Returns
    -------
    pathlib.Path of ``report.md``
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"report folder {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "results.csv", result.rows())
    _write_csv(out / "summary.csv", _summary_rows(result))
    _write_csv(out / "timing.csv", result.timing)
    written = []
    for name, (fn, title) in FIGURES.items():
        if fn(result, out / name) is not None:
            written.append((name, title))

    cfg = result.config
    lines = [
        f"# CF-Ensemble benchmark report: {cfg.get('name', 'benchmark')}",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} in {result.wall_time:.1f} s; "
        f"seeds {cfg['seeds']}. Every method sees the same prediction matrix R; labeled "
        "columns supervise, the test columns are unlabeled during fitting and scored after.",
        "",
        "## PR-AUC on test instances"
        + (" (mean ± std over seeds)" if len(cfg["seeds"]) > 1 else ""),
        "",
        markdown_table(result, "pr_auc"),
        "",
        "## ROC-AUC on test instances",
        "",
        markdown_table(result, "roc_auc"),
        "",
        "## Fit time (s)",
        "",
        markdown_table(result, "fit_time_s", digits=2),
        "",
    ]
    if result.timing:
        lines += ["## Fit time against n", "", "| method | n | fit time (s) | iterations |"]
        lines.append("|---|---:|---:|---:|")
        for t in result.timing:
            lines.append(
                f"| {_label(t['method'])} | {t['n_instances']} | {t['fit_time_s']:.2f} | "
                f"{t['n_iter']} |"
            )
        lines.append("")
    lines += ["## Figures", ""]
    for name, title in written:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += [
        "## Files",
        "",
        "- `results.csv`: one row per setting, seed and method (PR-AUC, ROC-AUC, Brier, "
        "log-loss, fit time, iterations, converged)",
        "- `summary.csv`: mean and std over seeds",
        "- `timing.csv`: the fit-time sweep",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(cfg, indent=2),
        "```",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    logger.info("report written to %s", path)
    return path
