"""
Quick start
===========

Fit CF-Ensemble on a matrix of base-classifier probabilities, predict every instance,
and compare with averaging and stacking on the same matrix.

``R`` has one row per base classifier and one column per instance; NaN marks a
prediction that a classifier did not make. Labels are 0, 1, or NaN for instances
without a label (here: the test half, predicted transductively).
"""

# %%
# A synthetic ensemble
# --------------------
# :func:`~cfensemble.synthetic.make_ensemble` draws 12 classifiers with correlated errors,
# 10% positives, half of the instances labeled, and removes 30% of the cells at random.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import precision_recall_curve

from cfensemble.baselines import mean_aggregation, stacking
from cfensemble.data import EnsembleData
from cfensemble.metrics import pr_auc
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

s = make_ensemble(
    n_classifiers=12, n_instances=2000, positive_rate=0.1, missing_rate=0.3, random_state=0
)
print("R:", s.R.shape, f"{np.isnan(s.R).mean():.0%} missing;", int(s.labels.size), "instances,")
print(int(np.sum(~np.isnan(s.labels))), "labeled,", s.test_idx.size, "to predict")

# %%
# Fit and predict
# ---------------
# Every parameter has a default. ``latent_dim='auto'`` chooses the rank of the
# factorization ``R ~ X^T Y`` from held-out observed cells (below the number of
# classifiers, so that the factors denoise rather than copy R); ``rho=None`` takes the
# solver's default (1.0: the factors by reconstruction alone); ``aggregator='auto'``
# blends the mean, stacking and the best single classifier. The values used are the
# fitted attributes ``latent_dim_`` and ``rho_``.
data = EnsembleData(s.R, s.labels)
trainer = CFEnsembleTrainer(max_iter=300, random_state=0)
trainer.fit(data)
print("rank chosen:", trainer.latent_dim_, "of those tried:", trainer.rank_candidates_.tolist())
print("rho used:", trainer.rho_)
p = trainer.predict()  # one probability per instance of data, labeled or not

test = s.test_idx
scores = {
    "CF-Ensemble (ALS)": p[test],
    "stacking": stacking(s.R, s.labels)[test],
    "mean": mean_aggregation(s.R)[test],
}
for name, q in scores.items():
    print(f"{name:18s} test PR-AUC {pr_auc(s.y_true[test], q):.3f}")
print("L_CF at the fit:", round(trainer.combined_loss(data), 5), "after", trainer.n_iter_, "sweeps")

# %%
# What the fit did
# ----------------
# Left: precision-recall curves on the test instances. Right: the objective
# ``L_CF = rho * L_recon + (1 - rho) * L_sup`` per ALS sweep.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name, q in scores.items():
    prec, rec, _ = precision_recall_curve(s.y_true[test], q)
    ax1.plot(rec, prec, label=f"{name} ({pr_auc(s.y_true[test], q):.3f})")
ax1.set(xlabel="recall", ylabel="precision", title="test instances, 30% of R missing")
ax1.legend()
h = trainer.history_
ax2.plot(h["combined"], label="L_CF")
ax2.plot(h["recon"], label="L_recon")
ax2.plot(h["sup"], label="L_sup")
ax2.set(xlabel="ALS sweep", ylabel="loss", yscale="log", title="objective per sweep")
ax2.legend()
fig.tight_layout()

# %%
# New instances
# -------------
# Columns the fit never saw are folded in: their factors are solved with X fixed, then
# the aggregator is applied.
R_new = s.R[:, :5]
print(np.round(trainer.predict(R_new), 3))
