"""Choosing the rank of the factorization from the data, without labels.

The public home of :func:`select_rank` (``latent_dim='auto'`` in every trainer); the code
lives beside the ALS kernels it fits with, in ``cfensemble.optimization._rank``.
"""

from cfensemble.optimization._rank import (
    DEFAULT_MAX_RANK,
    RankSelection,
    _fit_factors,  # noqa: F401  (the benchmark probes fit one rank with it)
    holdout_mask,
    max_rank,
    select_rank,
)

__all__ = ["DEFAULT_MAX_RANK", "RankSelection", "holdout_mask", "max_rank", "select_rank"]
