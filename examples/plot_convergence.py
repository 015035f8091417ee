"""
Convergence of ALS, varpro and PyTorch on one problem
=====================================================

The three solvers minimize the same objective, ``L_CF``, computed by one function
(:func:`cfensemble.objective.cf_objective`), and each records it per iteration in
``history_`` together with the time since the fit started. This example fits the three
on one problem and draws ``L_CF`` against time.

They do not optimize quite the same thing, which the curves show:

* **ALS** (``solver="als"``) alternates closed-form half-steps for the classifier factors
  X and the instance factors Y, with label-aware confidence, and refits the aggregator
  each sweep. It is an approximation: its L_CF is evaluated at its own Y.
* **varpro** (``solver="varpro"``) eliminates Y in closed form (Y = Y*(X)) and runs
  L-BFGS over X and the aggregator with the exact gradient.
* **PyTorch** (``formulation="projected"``) minimizes the same projected objective by
  Adam, one full-batch step per epoch.

Every trainer starts from the balanced SVD factors of ``R`` (``init="svd"``, the default);
ALS and varpro are also drawn from small random factors (``init="random"``, dashed), the
earlier default, from which ALS spends most of its sweeps moving scale between X and Y.
"""

import warnings

import matplotlib.pyplot as plt

from cfensemble.data import EnsembleData
from cfensemble.metrics import pr_auc
from cfensemble.optimization import CFEnsemblePyTorchTrainer, CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

s = make_ensemble(n_classifiers=12, n_instances=2000, positive_rate=0.1, random_state=1)
data = EnsembleData(s.R, s.labels)
common = dict(n_classifiers=12, latent_dim=4, rho=0.5, random_state=0)

trainers = {
    "ALS": CFEnsembleTrainer(**common, solver="als", max_iter=100),
    "varpro": CFEnsembleTrainer(**common, solver="varpro", max_iter=100),
    "PyTorch projected": CFEnsemblePyTorchTrainer(
        **common, formulation="projected", lr=0.05, device="cpu"
    ),
    "ALS, random start": CFEnsembleTrainer(**common, solver="als", max_iter=100, init="random"),
    "varpro, random start": CFEnsembleTrainer(
        **common, solver="varpro", max_iter=100, init="random"
    ),
}
with warnings.catch_warnings():
    # The compiled kernels are built on first use: one short fit keeps that out of the times.
    warnings.simplefilter("ignore")
    CFEnsembleTrainer(**common, max_iter=2).fit(data)
for name, tr in trainers.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the point is the path, converged or not
        tr.fit(data)
    h = tr.history_
    test = pr_auc(s.y_true[s.test_idx], tr.predict()[s.test_idx])
    print(
        f"{name:20s} {tr.n_iter_:4d} iterations in {h['time'][-1]:6.2f} s, "
        f"final L_CF {tr.combined_loss(data):.5f}, test PR-AUC {test:.3f}"
    )

# %%
# Left: L_CF against wall-clock time. Right: against the iteration count (a sweep, an
# L-BFGS iteration, or an Adam step). A fit that stopped at its start (varpro from the SVD
# start here: its warm-up sweeps already met the gradient tolerance) is one point.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
for k, (name, tr) in enumerate(trainers.items()):
    h = tr.history_
    style = dict(label=name, color=f"C{k % 3}", ls="--" if "random" in name else "-", marker=".")
    ax1.plot(h["time"], h["combined"], **style)
    ax2.plot(range(1, len(h["combined"]) + 1), h["combined"], **style)
ax1.set(xlabel="seconds since fit started", ylabel="L_CF", xscale="log", yscale="log")
ax2.set(xlabel="iteration", ylabel="L_CF", xscale="log", yscale="log")
ax1.set_title("objective against time")
ax2.set_title("objective against iterations")
ax1.legend()
fig.tight_layout()
