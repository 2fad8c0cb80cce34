"""The distribution ships every package: `pip install .` (not editable) copies only the packages named in
pyproject.toml, so a subpackage missing there works in the repository and fails for a user (it did:
`verify.certify` was missing, and notebook 06 failed from a fresh install)."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP = ("tasks", "constructions", "bounds", "verify", "experiments", "fileio")


def test_every_package_is_in_the_distribution():
    # the `packages = [...]` line of [tool.setuptools] (no tomllib: Python 3.10 is supported)
    line = re.search(r"^packages = (\[.*?\])", (ROOT / "pyproject.toml").read_text(), re.M)
    listed = set(ast.literal_eval(line.group(1)))
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found == listed, (
        f"in the tree but not listed: {sorted(found - listed)}; listed, not found: {sorted(listed - found)}"
    )
