"""
CF-Ensemble against averaging and stacking with missing predictions
===================================================================

When some base classifiers did not score some instances (a model that abstains, a
modality not measured for every patient, a classifier added late), the usual combiners
need the gaps filled first: averaging skips them, stacking imputes each classifier's
mean. CF-Ensemble fills them from the factors, that is from the classifiers that did
score the instance and from how the classifiers relate to each other.

This example removes 0% to 40% of the cells of ``R`` at random and compares the test
PR-AUC of CF-Ensemble (ALS) with the mean, stacking on mean-imputed R and a gradient-boosting
stacker that takes NaN natively, then removes 30% of the cells in each of the three ways
real ensembles lose predictions (``missing_mode``: at random, by block, informatively).
Three seeds per point keep it fast; the benchmark (``benchmarks/results/pytorch_vs_als.md``)
uses five and more methods. The trainer runs with its defaults (rank chosen from held-out
cells, ``aggregator='auto'``).
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


def test_scores(rate, seed, mode="random"):
    """Test PR-AUC of every method on one synthetic ensemble."""
    s = make_ensemble(
        n_classifiers=12,
        n_instances=1000,
        positive_rate=0.1,
        missing_rate=rate,
        missing_mode=mode,
        random_state=seed,
    )
    trainer = CFEnsembleTrainer(max_iter=300, random_state=seed)
    preds = {
        "CF-Ensemble (ALS)": trainer.fit(EnsembleData(s.R, s.labels)).predict(),
        "stacking (mean-imputed)": stacking(s.R, s.labels),
        "HGB stacker (NaN native)": hgb_stacking(s.R, s.labels),
        "mean": mean_aggregation(s.R),
    }
    return {name: pr_auc(s.y_true[s.test_idx], p[s.test_idx]) for name, p in preds.items()}


for i, rate in enumerate(rates):
    for j, seed in enumerate(seeds):
        for name, value in test_scores(rate, seed).items():
            scores[name][i, j] = value

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

# %%
# How the cells go missing
# ------------------------
# The same 30% removed at random, as blocks (half of the classifiers absent together for
# part of the instances) and informatively (a classifier abstains more often where it is
# unsure); see :func:`cfensemble.synthetic.apply_missingness`.
modes = ["random", "block", "informative"]
by_mode = {name: np.zeros((len(modes), len(seeds))) for name in methods}
for i, mode in enumerate(modes):
    for j, seed in enumerate(seeds):
        for name, value in test_scores(0.3, seed, mode).items():
            by_mode[name][i, j] = value

print("test PR-AUC with 30% missing, mean over seeds")
print(f"{'mode':>12s} " + " ".join(f"{name[:14]:>15s}" for name in methods))
for i, mode in enumerate(modes):
    print(f"{mode:>12s} " + " ".join(f"{by_mode[n][i].mean():15.3f}" for n in methods))

fig, ax = plt.subplots(figsize=(7, 4.5))
width = 0.2
for k, name in enumerate(methods):
    ax.bar(np.arange(len(modes)) + (k - 1.5) * width, by_mode[name].mean(axis=1), width, label=name)
ax.set_xticks(np.arange(len(modes)), modes)
ax.set(ylabel="test PR-AUC (mean of 3 seeds)", title="30% of R missing, three ways")
ax.legend(loc="lower left")
fig.tight_layout()
