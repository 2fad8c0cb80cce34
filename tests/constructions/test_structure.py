"""The import structure of the project, read from the source (AST), not from a running import.

* a builder module of ``constructions/`` (one that calls ``register(``) imports shared pieces
  (gadgets, codes, the core) and never another builder module;
* the modules of ``tasks``, ``constructions``, ``bounds`` and ``verify`` import each other
  without a cycle (imports inside functions included: a deferred import hides a cycle, it does
  not remove it).
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("tasks", "constructions", "bounds", "verify")


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """The project modules ``name`` imports anywhere in its source."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    here = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # import a.b.c of a non-module attribute: the module that holds it
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _is_builder(name: str) -> bool:
    tree = ast.parse(MODULES[name].read_text())
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "register"
        for node in ast.walk(tree)
    )


BUILDERS = {name for name in MODULES if name.startswith("constructions.") and _is_builder(name)}


def test_builders_are_found():
    # every registered construction lives in a builder module (a check that the AST reading works)
    assert {
        "constructions.index_lookup",
        "constructions.equality",
        "constructions.threshold",
        "constructions.nearest_neighbor",
        "constructions.associative_recall",
        "constructions.dyck_rnn",
        "constructions.rnn_index_lookup",
        "constructions.rnn_associative_recall",
        "constructions.rnn_halves",
    } <= BUILDERS
    assert "constructions._gadgets" not in BUILDERS and "constructions._registry" not in BUILDERS


def test_no_builder_imports_another_builder():
    bad = sorted((b, other) for b in BUILDERS for other in GRAPH[b] & BUILDERS)
    assert not bad, f"builder modules import builder modules: {bad}"


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    colour, stack = {}, []

    def visit(u):
        colour[u] = "grey"
        stack.append(u)
        for v in sorted(graph[u]):
            if colour.get(v) == "grey":
                return stack[stack.index(v) :] + [v]
            if v not in colour:
                found = visit(v)
                if found:
                    return found
        colour[u] = "black"
        stack.pop()
        return None

    for u in sorted(graph):
        if u not in colour:
            found = visit(u)
            if found:
                return found
    return None


def _without_package_imports(graph):
    """Drop the edges from a module to a package that contains it (``from . import x`` style access to
    the own package's namespace, which Python resolves while the package is initialising)."""
    return {u: {v for v in vs if not (_is_package(v) and u.startswith(v + "."))} for u, vs in graph.items()}


def test_no_import_cycle():
    cycle = _cycle(_without_package_imports(GRAPH))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
