"""
The label-leakage trap
======================

Minimized literally, the CF-Ensemble objective

    L_CF = rho * L_recon(X, Y) + (1 - rho) * L_sup(X, Y, theta)

gives every instance its own free factor ``y_i``. The labeled instances' factors can then
absorb their labels: the supervised loss goes to zero on them, training PR-AUC to 1,
while the unlabeled (test) instances, which never see a label, get factors made by a
different process. The PyTorch trainer keeps this literal objective as
``formulation="free"`` for study. ``formulation="projected"`` computes every ``y_i`` the
same way, as the reconstruction optimum given X, so nothing can leak.

This example fits both, plus variable projection (``solver="varpro"``, the projected
objective minimized by L-BFGS), with the aggregator on the reconstruction ``R_hat`` as in
the original CF-Ensemble formulation (``aggregator_input="reconstruction"``), and
compares train and test PR-AUC. The benchmark over five seeds, with missing cells too,
is in :doc:`/user_guide/objective`.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from cfensemble.data import EnsembleData
from cfensemble.metrics import pr_auc
from cfensemble.optimization import CFEnsemblePyTorchTrainer, CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

s = make_ensemble(n_classifiers=12, n_instances=2000, positive_rate=0.1, random_state=0)
data = EnsembleData(s.R, s.labels)
common = dict(
    n_classifiers=12, latent_dim=4, rho=0.5, aggregator_input="reconstruction", random_state=0
)

trainers = {
    "PyTorch free\n(literal L_CF)": CFEnsemblePyTorchTrainer(
        **common, formulation="free", lr=0.05, device="cpu"
    ),
    "PyTorch projected": CFEnsemblePyTorchTrainer(
        **common, formulation="projected", lr=0.05, device="cpu"
    ),
    "varpro\n(projected, L-BFGS)": CFEnsembleTrainer(**common, solver="varpro"),
}
train_scores, test_scores, losses = {}, {}, {}
for name, tr in trainers.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few epochs short of early stopping is fine here
        p = tr.fit(data).predict()
    train_scores[name] = pr_auc(s.y_true[s.labeled_idx], p[s.labeled_idx])
    test_scores[name] = pr_auc(s.y_true[s.test_idx], p[s.test_idx])
    losses[name] = tr.combined_loss(data)
    print(
        f"{name.splitlines()[0]:18s} train {train_scores[name]:.3f}  "
        f"test {test_scores[name]:.3f}  L_CF {losses[name]:.4f}"
    )

# %%
# Left: train and test PR-AUC. Right: the objective each fit reached. The lowest L_CF
# and a training score of 1 together are the sign of the leak, not of a better model:
# compare the test bars.
names = list(trainers)
x = np.arange(len(names))
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), width_ratios=(2, 1))
ax.bar(x - 0.2, [train_scores[n] for n in names], 0.4, label="train (labels seen)")
ax.bar(x + 0.2, [test_scores[n] for n in names], 0.4, label="test (unlabeled columns)")
for k, n in enumerate(names):
    ax.text(k - 0.2, train_scores[n] + 0.01, f"{train_scores[n]:.2f}", ha="center")
    ax.text(k + 0.2, test_scores[n] + 0.01, f"{test_scores[n]:.2f}", ha="center")
ax.set_xticks(x, names)
ax.set(ylabel="PR-AUC", ylim=(0, 1.1), title="complete R, 10% positives, aggregator on R_hat")
ax.legend(loc="lower left")
ax2.bar(x, [losses[n] for n in names], color="0.5")
ax2.set_xticks(x, [n.splitlines()[0] for n in names], rotation=20)
ax2.set(ylabel="L_CF at the fit", title="objective reached")
fig.tight_layout()
