import numpy as np

from cfensemble.data import EnsembleData
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble


def test_seed_snippet_runs():
    s = make_ensemble(n_classifiers=8, n_instances=400, random_state=0)
    m = s.R.shape[0]
    tr = CFEnsembleTrainer(
        n_classifiers=m,
        latent_dim=3,
        rho=0.5,
        use_label_aware_confidence=True,
        label_aware_alpha=1.0,
        random_state=0,
        max_iter=20,
    ).fit(EnsembleData(s.R, s.labels))
    p = tr.predict()
    assert p.shape == (400,)
    assert np.all((p >= 0) & (p <= 1))
