import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from ana import *

paths = sys.argv[1].split(",")
res = {}
for p in paths:
    res.update(load(p))


def auto_fill(P, e, agg):
    r = min(e.get("rank", 1), 3)
    return P.get(f"r{r}|{agg}")


combos = {
    "mean": ["mean"],
    "stack_p": ["stack_p_0.001"],
    "stack_l": ["stack_l_0.001"],
    "eb_p": ["eb_p"],
    "eb_l": ["eb_l"],
    "single": ["single"],
    "top3": ["top3"],
    "M+Sp": ["mean", "stack_p_0.001"],
    "M+Sl": ["mean", "stack_l_0.001"],
    "M+Sp+1": ["mean", "stack_p_0.001", "single"],
    "M+Sl+1": ["mean", "stack_l_0.001", "single"],
    "Sl+1": ["stack_l_0.001", "single"],
    "Sp+1": ["stack_p_0.001", "single"],
    "M+1": ["mean", "single"],
    "M+Sp+Sl": ["mean", "stack_p_0.001", "stack_l_0.001"],
    "M+Sp+Sl+1": ["mean", "stack_p_0.001", "stack_l_0.001", "single"],
    "M+EBp+1": ["mean", "eb_p", "single"],
    "M+Sl01+1": ["mean", "stack_l_0.1", "single"],
    "Sl01+1": ["stack_l_0.1", "single"],
    "M+Sp+top3": ["mean", "stack_p_0.001", "top3"],
    "Sp+Sl+1": ["stack_p_0.001", "stack_l_0.001", "single"],
}
methods = {b: (lambda b: lambda P, e: P[b])(b) for b in BASE}
fills = ["r1", "r2", "r3", "auto"]
first = next(iter(res.values()))
if "rank" not in first:
    fills = ["none"]
for f in fills:
    for cname, parts in combos.items():

        def fn(P, e, f=f, parts=parts):
            ps = []
            for a in parts:
                if f == "auto":
                    r = min(e.get("rank", 1), 3)
                    ps.append(P[f"r{r}|{a}"])
                else:
                    ps.append(P[f"{f}|{a}"])
            return np.mean(ps, axis=0)

        methods[f"{f}|{cname}"] = fn


def graceful(f, sname, k=20):
    def fn(P, e):
        ff = f if f != "auto" else f"r{min(e.get('rank', 1), 3)}"
        t = min(1.0, e["npos"] / k)
        pm, ps, p1 = P[f"{ff}|mean"], P[f"{ff}|{sname}"], P[f"{ff}|single"]
        return (1 - 2 * t / 3) * pm + t / 3 * ps + t / 3 * p1

    return fn


for f in fills:
    methods[f"{f}|G20_Sl01"] = graceful(f, "stack_l_0.1")
    methods[f"{f}|G10_Sl01"] = graceful(f, "stack_l_0.1", 10)
    methods[f"{f}|G20_Sp"] = graceful(f, "stack_p_0.001")
df = score_table(res, methods)
df.to_pickle(sys.argv[2])
for r in (0, 1, None):
    print("---- repeat", r)
    summarize(df, repeat=r, top=int(sys.argv[3]) if len(sys.argv) > 3 else 25)
