"""No import cycle inside src/cfensemble: module-level and function-level imports alike."""

import ast
from pathlib import Path

import cfensemble

ROOT = Path(cfensemble.__file__).parent
# Every module takes part, persistence included: it resolves trainer classes through a
# whitelist of dotted names (importlib), so it imports no trainer module.


def _modules() -> dict:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def _edges(mods: dict) -> dict:
    def owner(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = {}
    for name, path in mods.items():
        pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {owner(a.name) for a in node.names if a.name.startswith("cfensemble")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base.startswith("cfensemble"):
                    targets |= {owner(f"{base}.{a.name}") for a in node.names}
        edges[name] = targets - {name}
    return edges


def _cycle(graph: dict):
    """One cycle of ``graph`` as a list of nodes, or None (depth-first search)."""
    state, stack = {}, []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w) :] + [w]
            if w not in state and (found := visit(w)):
                return found
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_module_cycle():
    assert _cycle(_edges(_modules())) is None


def test_no_package_cycle():
    """Subpackages (optimization, distributed, benchmark) and top-level modules as nodes."""
    edges = _edges(_modules())
    top = {}
    for m, ts in edges.items():
        for t in ts:
            a, b = ".".join(m.split(".")[:2]), ".".join(t.split(".")[:2])
            if a != b:
                top.setdefault(a, set()).add(b)
    assert _cycle(top) is None


def test_the_checker_sees_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    # the graph is real: the trainers import the kernels, the backends the trainers' kernels
    edges = _edges(_modules())
    assert "cfensemble.optimization._als" in edges["cfensemble.optimization._trainer"]
    assert "cfensemble.optimization._varpro" in edges["cfensemble.distributed._blocks"]
