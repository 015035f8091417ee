"""Optional dependencies: imported when a feature needs them, with an error naming the extra."""

from __future__ import annotations

import importlib

from cfensemble.exceptions import MissingDependencyError


def import_optional(module: str, message: str):
    """``module`` imported, or :class:`MissingDependencyError` with ``message`` (which says
    what needs it and how to install it) when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(message) from exc
