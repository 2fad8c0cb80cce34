"""Every notebook under notebooks/ runs clean, top to bottom (in a scratch copy)."""

import pathlib
import shutil

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# the notebooks that recompute their results end to end (06: precision searches to n = 1024 and a
# certificate at n = 4096) run in the slow group; every notebook runs in one group or the other
SLOW = {"06_precision"}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1
    assert SLOW <= {p.stem for p in NOTEBOOKS}  # a renamed notebook must not drop out of the slow group


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if p.stem in SLOW else []) for p in NOTEBOOKS]
)
def test_notebook_runs(path, tmp_path):
    work = tmp_path / path.name
    shutil.copy(path, work)
    nb = nbformat.read(work, as_version=4)
    # allow_errors: every cell runs and a failing one leaves an error output, reported below (with
    # the default, execute() would raise on the first failure and a check after it could not fail)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)  # every code cell ran
    errors = [
        f"cell {c.execution_count}: {o['ename']}: {o['evalue']}"
        for c in code
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, "\n".join(errors)
