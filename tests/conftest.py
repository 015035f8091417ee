import numpy as np
import pytest

from cfensemble.synthetic import make_ensemble


@pytest.fixture(scope="session")
def small_ensemble():
    """m=8 classifiers, n=600 instances, half labeled, 10% positives."""
    return make_ensemble(n_classifiers=8, n_instances=600, random_state=0)


@pytest.fixture(scope="session")
def missing_ensemble():
    return make_ensemble(n_classifiers=8, n_instances=600, missing_rate=0.3, random_state=1)


@pytest.fixture
def rng():
    return np.random.RandomState(0)
