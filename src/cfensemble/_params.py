"""Constructor parameters stored the scikit-learn way, for trainers and meta-estimators."""

from __future__ import annotations


def store_params(estimator, params: dict) -> None:
    """Set every constructor argument as an attribute, unchanged (scikit-learn's rule).

    Called as ``store_params(self, locals())`` first thing in an ``__init__`` whose
    signature lists every parameter explicitly (``get_params`` reads that signature).
    """
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)
