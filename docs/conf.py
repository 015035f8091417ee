"""Sphinx configuration for the cfensemble documentation (built offline by ``make docs``)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The worktree's source first, so that a checkout documents itself even without install;
# docs/ for the gallery's sort key.
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(DOCS))

# Small problems run several times faster single-threaded on a shared machine.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import cfensemble  # noqa: E402

project = "cfensemble"
author = "the cfensemble developers"
copyright = "2026, the cfensemble developers"
version = release = cfensemble.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
templates_path = ["_templates"]

# ----------------------------------------------------------------------------- offline
# Nothing in this build or in the built pages reaches the network: no intersphinx, no
# MathJax (formulas are written as literal blocks), no version switcher, no analytics.
intersphinx_mapping: dict = {}

# ----------------------------------------------------------------------------- autodoc
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False
autodoc_default_options: dict = {}
autodoc_typehints = "none"  # numpydoc writes the types from the docstrings
autodoc_member_order = "bysource"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

# ----------------------------------------------------------------------------- MyST
myst_enable_extensions: list = []
myst_heading_anchors = 3
# The benchmark reports are included as written: they skip heading levels.
suppress_warnings = ["myst.header"]


# ----------------------------------------------------------------------------- measured
def _write_measured_pages() -> None:
    """One page per ``benchmarks/results/*.md``, each including the file as committed.

    The figures are never retyped: a rerun of a benchmark updates the documentation.
    """
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    out = DOCS / "measured"
    out.mkdir(exist_ok=True)
    names = []
    for md in results:
        page = out / f"{md.stem}.md"
        text = f"```{{include}} ../../benchmarks/results/{md.name}\n```\n"
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
        names.append(md.stem)
    index = (
        "# What we measured\n\n"
        "Every benchmark under `benchmarks/` writes its report to `benchmarks/results/`; the\n"
        "pages below include those reports as committed (command, date, machine, every row,\n"
        'the losses included). `make bench` reruns them. Where a report speaks of "the\n'
        'seed", it means the original CF-Ensemble formulation that this project started\n'
        "from (see the design page).\n\n"
        "```{toctree}\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n"
    )
    idx = out / "index.md"
    if not idx.exists() or idx.read_text() != index:
        idx.write_text(index)


_write_measured_pages()

# ----------------------------------------------------------------------------- gallery
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "show_signature": False,
    # The timing pages load jQuery and DataTables from a CDN; the build log and each
    # example's page give the times anyway.
    "write_computation_times": False,
}

# ----------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"cfensemble {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": [],  # no outbound link: the site is read offline
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}


# ----------------------------------------------------------------------------- docstrings
# The docstrings are written for ``help()`` first: they use |x| for absolute values and
# attribute names with a trailing underscore (``X_``) in running text, both of which
# reStructuredText reads as markup (a substitution, a hyperlink reference). Escape the two
# outside inline literals, doctest lines and literal blocks, before numpydoc parses them.
_LITERAL = re.compile(r"(``.*?``|`[^`]*`_{0,2})")
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)_(?![\w`])")


# A line that starts with one letter and a period ("d. the rank") would open a list.
_ENUMERATOR = re.compile(r"^(\s*)([A-Za-z])\. ")


def _escape_text(text: str) -> str:
    parts = _LITERAL.split(text)
    for k in range(0, len(parts), 2):  # even parts lie outside inline literals and roles
        part = parts[k].replace("|", r"\|")
        parts[k] = _TRAILING_UNDERSCORE.sub(r"\1\\_", part)
    return "".join(parts)


def _escape_docstring(app, what, name, obj, options, lines) -> None:
    literal_indent = None
    for k, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if literal_indent is not None:
            if stripped and indent <= literal_indent:
                literal_indent = None
            else:
                continue
        if stripped.startswith((">>>", "...")):
            continue
        if stripped.startswith(".."):  # directives keep their own syntax
            if line.rstrip().endswith("::"):
                literal_indent = indent
            continue
        lines[k] = _ENUMERATOR.sub(r"\1\\\2. ", _escape_text(line))
        if line.rstrip().endswith("::"):
            literal_indent = indent


# scikit-learn generates metadata-routing methods on every estimator; their docstrings link
# into scikit-learn's own documentation, which this offline build does not have.
def _skip_member(app, what, name, obj, skip, options):
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _escape_docstring, priority=400)
    app.connect("autodoc-skip-member", _skip_member)
