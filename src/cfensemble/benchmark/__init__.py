"""Benchmark runner and report (markdown, CSV, PNG) behind ``cfensemble demo`` and
``cfensemble benchmark``."""

from cfensemble.benchmark.report import markdown_table, text_table, write_report
from cfensemble.benchmark.runner import (
    DEMO_CONFIG,
    BenchmarkResult,
    Run,
    Setting,
    load_config,
    run_benchmark,
    validate_config,
)

__all__ = [
    "DEMO_CONFIG",
    "BenchmarkResult",
    "Run",
    "Setting",
    "load_config",
    "markdown_table",
    "run_benchmark",
    "text_table",
    "validate_config",
    "write_report",
]
