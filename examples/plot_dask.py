"""
A Dask fit on a local cluster
=============================

``CFEnsembleTrainer(..., backend="dask")`` keeps column blocks of ``R`` on the workers of a
Dask cluster: the instance half-step maps over the blocks with X broadcast, the
classifier half-step sums per-block normal equations by a tree reduction, and varpro's
objective and gradient are sums over blocks. The result equals the in-memory fit to
float tolerance.

Here the cluster is a ``LocalCluster`` in this process (two workers, one thread each,
bound to 127.0.0.1). On a real cluster, start ``dask scheduler`` on one machine and
``dask worker tcp://scheduler:8786`` on the others (cfensemble installed everywhere) and
pass ``dask_client="tcp://scheduler:8786"``, or create a ``distributed.Client`` first:
the trainer uses the active client. An ``R`` that is itself a dask array (too large to
load, say) goes in as :class:`cfensemble.distributed.DaskEnsembleData`: the blocks are
then built from the array's chunks on the workers.
"""

import time
import warnings

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

from cfensemble.data import EnsembleData
from cfensemble.distributed import DaskEnsembleData
from cfensemble.optimization import CFEnsembleTrainer
from cfensemble.synthetic import make_ensemble

s = make_ensemble(
    n_classifiers=12, n_instances=20_000, positive_rate=0.1, missing_rate=0.3, random_state=0
)
data = EnsembleData(s.R, s.labels)
params = dict(n_classifiers=12, latent_dim=4, rho=0.5, max_iter=20, random_state=0)

cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,
    protocol="tcp://",
    host="127.0.0.1",
    scheduler_kwargs={"dashboard": False},
)
client = Client(cluster)

fits = {}
for backend in ("numpy", "dask"):
    extra = {"dask_client": client, "dask_block_size": 5_000} if backend == "dask" else {}
    tr = CFEnsembleTrainer(**params, backend=backend, **extra)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20 sweeps: enough to compare, not to converge
        tr.fit(data)
    fits[backend] = tr
    print(f"{backend:6s} {tr.n_iter_} sweeps in {time.perf_counter() - t0:.2f} s")

p_numpy, p_dask = fits["numpy"].predict(), fits["dask"].predict()
print("largest difference between the two predictions:", np.abs(p_numpy - p_dask).max())

# %%
# The same fit from a dask array, chunked over instances: R is never gathered on the
# client while fitting.
lazy = DaskEnsembleData(da.from_array(s.R, chunks=(12, 5_000)), s.labels)
tr = CFEnsembleTrainer(**params, backend="dask", dask_client=client)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    tr.fit(lazy)
print("dask array, largest difference:", np.abs(tr.predict() - p_numpy).max())

client.close()
cluster.close()

# %%
# The two fits follow the same objective, sweep by sweep, and predict the same
# probabilities. On one machine the in-memory path is faster: Dask pays for moving
# blocks and scheduling tasks, and earns it back only when R does not fit one machine.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
for backend, tr in fits.items():
    ax1.plot(tr.history_["combined"], label=backend, ls="-" if backend == "numpy" else "--")
ax1.set(xlabel="ALS sweep", ylabel="L_CF", yscale="log", title="objective per sweep")
ax1.legend()
ax2.scatter(p_numpy, p_dask, s=3, alpha=0.3)
ax2.plot([0, 1], [0, 1], color="0.5", lw=1)
ax2.set(xlabel="numpy backend", ylabel="dask backend", title="predicted probabilities")
fig.tight_layout()
