"""
CF-Ensemble against averaging and stacking with missing predictions
===================================================================

When some base classifiers did not score some instances (a model that abstains, a
modality not measured for every patient, a classifier added late), the usual combiners
need the gaps filled first: averaging skips them, stacking imputes each classifier's
mean. CF-Ensemble fills them from the factors, that is from the classifiers that did
score the instance and from how the classifiers relate to each other.

This example removes 0% to 40% of the cells of ``R`` at random and compares the test
PR-AUC of label-aware ALS with the mean, stacking on mean-imputed R and a gradient-boosting
stacker that takes NaN natively. Three seeds per point keep it fast; the benchmark
(``benchmarks/results/pytorch_vs_als.md``) uses five and more methods.
"""

import matplotlib.pyplot as plt
import numpy as np

from cfensemble.baselines import hgb_stacking, mean_aggregation, stacking
from cfensemble.data import EnsembleData
from cfensemble.metrics import pr_auc
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

rates = [0.0, 0.2, 0.4]
seeds = [0, 1, 2]
methods = ["CF-Ensemble (ALS)", "stacking (mean-imputed)", "HGB stacker (NaN native)", "mean"]
scores = {name: np.zeros((len(rates), len(seeds))) for name in methods}

for i, rate in enumerate(rates):
    for j, seed in enumerate(seeds):
        s = make_ensemble(
            n_classifiers=12,
            n_instances=1000,
            positive_rate=0.1,
            missing_rate=rate,
            random_state=seed,
        )
        trainer = CFEnsembleTrainer(
            n_classifiers=12, latent_dim=4, rho=0.5, max_iter=300, random_state=seed
        )
        preds = {
            "CF-Ensemble (ALS)": trainer.fit(EnsembleData(s.R, s.labels)).predict(),
            "stacking (mean-imputed)": stacking(s.R, s.labels),
            "HGB stacker (NaN native)": hgb_stacking(s.R, s.labels),
            "mean": mean_aggregation(s.R),
        }
        for name, p in preds.items():
            scores[name][i, j] = pr_auc(s.y_true[s.test_idx], p[s.test_idx])

print("test PR-AUC, mean over seeds")
print(f"{'missing':>8s} " + " ".join(f"{name[:14]:>15s}" for name in methods))
for i, rate in enumerate(rates):
    print(f"{rate:8.0%} " + " ".join(f"{scores[n][i].mean():15.3f}" for n in methods))

# %%
# The figure shows the mean over seeds and, as a band, the smallest and largest seed.
fig, ax = plt.subplots(figsize=(7, 4.5))
for name in methods:
    sc = scores[name]
    ax.plot(np.array(rates) * 100, sc.mean(axis=1), marker="o", label=name)
    ax.fill_between(np.array(rates) * 100, sc.min(axis=1), sc.max(axis=1), alpha=0.15)
ax.set(
    xlabel="cells of R missing (%)",
    ylabel="test PR-AUC",
    title="12 classifiers, 1,000 instances, 10% positives",
)
ax.legend()
fig.tight_layout()
