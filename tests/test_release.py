"""Release basics: the LICENSE file is the licence pyproject.toml declares, CITATION.cff names the
paper and this software, and the wheel builds, installs and runs ``verify``.

The wheel is built from a copy of the distributed files (no build folders in the repository),
without build isolation and without dependencies (no network: the shared environment already
holds setuptools and the runtime dependencies), installed with ``pip install --no-deps
--target``, and run from a folder outside the repository so that only the installed copy can be
imported.
"""

from __future__ import annotations

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = (ROOT / "pyproject.toml").read_text()


def _field(name: str) -> str:
    return re.search(rf'^{name} = "(.*?)"', PYPROJECT, re.M).group(1)


def test_license_file_matches_pyproject():
    declared = re.search(r'^license = \{ text = "(.*?)" \}', PYPROJECT, re.M).group(1)
    assert declared == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_citation_file_names_the_paper_and_the_software():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors"):  # the keys the format requires
        assert cff[key], key
    assert cff["type"] == "software" and cff["license"] == "MIT" and cff["version"] == _field("version")
    paper = cff["preferred-citation"]
    assert (
        paper["title"] == "Separations in the Representational Capabilities of Transformers and Recurrent Architectures"
    )
    assert [a["family-names"] for a in paper["authors"]] == ["Bhattamishra", "Hahn", "Blunsom", "Kanade"]
    assert paper["year"] == 2024 and "NeurIPS 2024" in paper["collection-title"]


def _copy_distribution(dest: pathlib.Path) -> None:
    """pyproject.toml, README.md, LICENSE and the .py files of the listed packages."""
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, dest / name)
    packages = ast.literal_eval(re.search(r"^packages = (\[.*?\])", PYPROJECT, re.M).group(1))
    for package in packages:
        folder = ROOT / package.replace(".", "/")
        target = dest / package.replace(".", "/")
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            shutil.copy(source, target / source.name)


def test_wheel_builds_installs_and_runs_verify(tmp_path):
    src, wheels, site, elsewhere = (tmp_path / d for d in ("src", "wheels", "site", "elsewhere"))
    for d in (src, wheels, elsewhere):
        d.mkdir()
    _copy_distribution(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    env = {**os.environ, "PIP_NO_INDEX": "1"}
    env.pop("PYTHONPATH", None)
    subprocess.run(
        [*pip, "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
        check=True,
        env=env,
        capture_output=True,
    )
    (wheel,) = wheels.glob("separations-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    assert "verify/_cli.py" in names and "constructions/_onnx.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, env=env, capture_output=True
    )

    env["PYTHONPATH"] = str(site)
    where = subprocess.run(
        [sys.executable, "-c", "import verify, constructions; print(verify.__file__); print(constructions.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    script = site / "bin" / "verify"
    assert script.exists()
    ran = subprocess.run(
        [str(script), "--task", "index_lookup", "--arch", "tf1", "--n", "3", "--alphabet-size", "2", "--exhaustive"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert "pass" in ran.stdout and " 24 " in ran.stdout  # 2^3 strings x 3 indices, every one checked


def test_ci_runs_the_readme_test_commands():
    """README prints two test commands, the fast group and the tests marked ``slow``; ``.ci/run``
    runs both, exactly as printed, so CI runs every test."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    fast = '.venv/bin/python -m pytest -n 2 -m "not slow"'
    slow = ".venv/bin/python -m pytest -n 2 -m slow"
    assert f"{fast}\n```" in readme and f"\n{slow}\n```" in readme
    assert ci[-2:] == [fast, slow]
    assert re.search(r'^addopts = ".*--strict-markers', PYPROJECT, re.M) and '"slow: ' in PYPROJECT
