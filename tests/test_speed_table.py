"""README's speed table is generated from benchmarks/RESULTS.md (benchmarks/speed_table.py)."""

import pathlib
import re

import pytest

from benchmarks import speed_table

ROOT = pathlib.Path(__file__).resolve().parent.parent


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- speed:start -->\n(.*?)\n<!-- speed:end -->", text, flags=re.S)
    assert found, "README.md has no speed block"
    return found.group(1)


def test_readme_block_is_what_the_generator_writes_from_the_committed_results():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    assert readme_block() == speed_table.block(results)


def test_every_row_states_its_target_and_verdict():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    rows = [line for line in speed_table.block(results).splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == len(speed_table.ROWS)
    for line, row in zip(rows, speed_table.ROWS):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == row.what and cells[2] == row.target and cells[3] in ("yes", "**no**", "not measured")
        assert cells[4].startswith("`benchmarks/") and re.search(r"\(\d", cells[4])  # the script and its load


def test_the_verdict_follows_the_numbers():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    growth = speed_table.sections(results)["growth"]
    wall = growth.cell("verify wall (s)", "Exhaustive", n="20", devices="1")
    slow = results.replace(
        growth.text, growth.text.replace(f"| 20 | 1,048,576 | 1 | {wall} |", "| 20 | 1,048,576 | 1 | 31.0 |")
    )
    assert slow != results
    line = next(x for x in speed_table.block(slow).splitlines() if x.startswith("| exhaustive equality, n = 20"))
    assert "| 31.0 s | < 30 s | **no** |" in line


def test_a_missing_number_is_refused_not_filled_in():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    cut = re.sub(r"<!-- startup:start -->.*?<!-- startup:end -->", "", results, flags=re.S)
    with pytest.raises(speed_table.MissingResult, match="no section 'startup'"):
        speed_table.block(cut)
    with pytest.raises(speed_table.MissingResult, match="no single row"):
        speed_table.sections(results)["growth"].cell("verify wall (s)", "Exhaustive", n="19")


def test_the_device_row_prefers_an_accelerator_and_judges_only_it():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    cpu = speed_table.sections(results)["device-cpu-cpu"].text
    line = lambda text: next(x for x in speed_table.block(text).splitlines() if "benchmarks.device" in x)  # noqa: E731
    assert "| ≤ 5 min on one GPU | not measured |" in line(results)  # a CPU run does not meet a GPU target
    for wall, verdict in (("200", "yes"), ("301", "**no**")):
        gpu = cpu.replace("cpu (cpu)", "gpu (NVIDIA H200)", 1)
        gpu = re.sub(r"Whole run \d+ s", f"Whole run {wall} s", gpu)
        text = results + f"\n<!-- device-gpu-nvidia-h200:start -->\n{gpu}<!-- device-gpu-nvidia-h200:end -->\n"
        assert f"| {wall} s on gpu (NVIDIA H200) | ≤ 5 min on one GPU | {verdict} |" in line(text)
