"""Package boundaries: no package reaches into another one's private parts.

The packages (tasks, constructions, bounds, verify, experiments, benchmarks) use each other only
through public names. Read from the source (its syntax tree), a module of one package must not

* import another package's underscore module (``from constructions._model import ...``,
  ``import constructions._model``, ``from constructions import _model``) or underscore name
  (``from bounds import _grid_helper``);
* read an underscore attribute off another package's module (``constructions._model``);
* call or read an underscore member that only another package's classes define
  (``model._prepared(...)`` in verify, where ``_prepared`` is a method of ``constructions.Model``).

Tests may use private names; they are not scanned.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("tasks", "constructions", "bounds", "verify", "experiments", "benchmarks", "fileio")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _files(package: str):
    return sorted((ROOT / package).rglob("*.py"))


def private_members(trees) -> set[str]:
    """Underscore names a package's classes define: methods, class attributes, ``self._x``."""
    out = set()
    for tree in trees:
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            for node in ast.walk(cls):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
                    out.add(node.name)
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                    if isinstance(node.ctx, ast.Store) and _private(node.attr):
                        out.add(node.attr)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and _private(node.target.id):
                    out.add(node.target.id)
    return out


def violations(package: str, tree, members: dict[str, set[str]]) -> list[str]:
    """What module ``tree`` of ``package`` reaches into in other packages (one line each);
    ``members``: :func:`private_members` of every package."""
    found = []
    aliases = {}  # local name -> the other package's module it is bound to

    def other(module: str) -> bool:
        return module.split(".")[0] in PACKAGES and module.split(".")[0] != package

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if not other(a.name):
                    continue
                if any(_private(p) for p in a.name.split(".")[1:]):
                    found.append(f"line {node.lineno}: import {a.name}")
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and other(node.module):
            if any(_private(p) for p in node.module.split(".")[1:]):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            for a in node.names:
                if _private(a.name):
                    found.append(f"line {node.lineno}: from {node.module} import {a.name}")
                else:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    own = members[package]
    foreign = {name for p, names in members.items() if p != package for name in names} - own
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in aliases:
            found.append(f"line {node.lineno}: {ast.unparse(node)} (a private name of {aliases[base.id]})")
        elif node.attr in foreign and not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
            found.append(f"line {node.lineno}: {ast.unparse(node)} (a private member of another package's class)")
    return found


@pytest.fixture(scope="module")
def trees():
    return {p: {f: ast.parse(f.read_text(), filename=str(f)) for f in _files(p)} for p in PACKAGES}


def test_every_package_is_scanned(trees):
    for p in PACKAGES:
        assert trees[p], f"no Python files found under {p}/"


def test_no_package_uses_another_ones_private_names(trees):
    members = {p: private_members(t.values()) for p, t in trees.items()}
    assert members["constructions"]  # e.g. Model._prepared: the scan sees private members of classes
    bad = []
    for p, files in trees.items():
        for path, tree in files.items():
            bad += [f"{path.relative_to(ROOT).as_posix()} {v}" for v in violations(p, tree, members)]
    assert not bad, "private names used across packages:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    "source,flagged",
    [
        ("from constructions._model import batch_sharding", True),
        ("import constructions._precision", True),
        ("import constructions._precision as prec", True),
        ("from constructions import _transformer", True),
        ("import constructions\nconstructions._model.batch_sharding()", True),
        ("def f(model):\n    return model._forward('float64')", True),
        ("from constructions import Model, batch_sharding\nimport constructions\nconstructions.build", False),
        ("from ._engine import check\nfrom . import _report", False),  # the package's own modules
        ("class A:\n    def _forward(self):\n        return self._forward()", False),
        ("from verify._precision_search import search", True),
        ("from verify.certify import certify", False),
    ],
)
def test_the_scan_flags_what_it_should(source, flagged):
    members = {p: set() for p in PACKAGES}
    members["constructions"] = {"_forward", "_prepared"}
    assert bool(violations("benchmarks", ast.parse(source), members)) == flagged
