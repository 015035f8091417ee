import numpy as np
import pytest

from cfensemble.exceptions import InvalidInputError
from cfensemble.rank import holdout_mask, max_rank, select_rank
from cfensemble.synthetic import make_low_rank


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_select_rank_recovers_the_planted_rank(rank):
    R = make_low_rank(12, 600, rank, missing_rate=0.3, random_state=rank)
    sel = select_rank(R, random_state=0)
    assert sel.rank == rank
    assert sel.candidates[0] == 1 and sel.errors.shape == sel.candidates.shape


def test_select_rank_never_exceeds_m_minus_one():
    R = make_low_rank(4, 300, 4, noise=0.0, random_state=0)  # a full-rank 4 x n matrix
    sel = select_rank(R, candidates=range(1, 9), patience=None, random_state=0)
    assert sel.candidates.max() == 3 and sel.rank <= 3
    assert max_rank(2) == 1 and max_rank(1) == 1
    assert select_rank(make_low_rank(2, 50, 1, random_state=0)).rank == 1


def test_select_rank_one_standard_error_rule_prefers_the_smaller_rank():
    R = make_low_rank(12, 600, 3, missing_rate=0.3, random_state=5)
    strict = select_rank(R, one_standard_error=False, patience=None, random_state=0)
    lenient = select_rank(R, patience=None, random_state=0)
    assert lenient.rank <= strict.rank
    best = int(np.argmin(lenient.errors))
    chosen = int(np.flatnonzero(lenient.candidates == lenient.rank)[0])
    assert lenient.errors[chosen] - lenient.errors[best] <= lenient.std_errors[chosen]


def test_select_rank_is_deterministic_and_validates():
    R = make_low_rank(8, 200, 2, missing_rate=0.2, random_state=0)
    a = select_rank(R, random_state=3)
    b = select_rank(R, random_state=3)
    assert a.rank == b.rank and np.array_equal(a.errors, b.errors)
    with pytest.raises(InvalidInputError, match="2-D"):
        select_rank(R[0])
    with pytest.raises(InvalidInputError, match="candidates"):
        select_rank(R, candidates=[0, 1])
    with pytest.raises(ValueError, match="holdout"):
        select_rank(R, holdout=1.5)


def test_holdout_mask_keeps_a_cell_per_column():
    rng = np.random.RandomState(0)
    observed = rng.random_sample((3, 500)) < 0.5
    hide = holdout_mask(observed, 0.9, rng)
    assert not (hide & ~observed).any()
    kept = observed & ~hide
    assert (kept.any(axis=0) | ~observed.any(axis=0)).all()
