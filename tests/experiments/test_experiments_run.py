"""The protocol runner: the smoke configuration trains and is reproducible from its seed; an
interrupted run resumes without redoing finished cells; the report names missing cells; bad input
gets a one-line error and exit code 2."""

import dataclasses
import json
import os

import pytest

from experiments import __main__ as cli
from experiments import protocols, report, runner, train

VOLATILE = {"train_seconds"}


@pytest.fixture(scope="module")
def smoke_rows():
    cell = protocols.cells("smoke")[0]
    return cell, train.run(cell), train.run(cell)


def test_smoke_cell_trains_and_records_its_settings(smoke_rows):
    cell, row, _ = smoke_rows
    assert row["seed"] == cell.seed == 0 and row["steps_run"] == cell.steps and row["key"] == cell.key
    assert [c["step"] for c in row["curve"]] == list(range(cell.eval_every, cell.steps + 1, cell.eval_every))
    assert 0.0 <= row["test_acc"] <= 1.0 and row["params"] > 0 and row["state_size"] == 16


def test_same_seed_same_numbers(smoke_rows):
    _, a, b = smoke_rows
    assert {k: v for k, v in a.items() if k not in VOLATILE} == {k: v for k, v in b.items() if k not in VOLATILE}


def _fake_row(cell, acc=0.5):
    row = dataclasses.asdict(cell)
    row.update(key=cell.key, label=cell.label, steps_run=cell.steps, early_stopped=False, best_val_acc=acc,
               final_val_acc=acc, test_acc=acc, params=10, params_no_embed=5, state_size=4, state_kind="h",
               train_seconds=0.0, curve=[{"step": cell.steps, "val_acc": acc, "train_loss": 1.0}])  # fmt: skip
    return row


def test_resume_skips_finished_cells(tmp_path, monkeypatch):
    first, second = protocols.cells("smoke")
    runner.write_json_atomic(runner.cell_path(str(tmp_path), first), _fake_row(first, 0.25))
    calls = []
    monkeypatch.setattr(train, "run", lambda cell, progress=None: calls.append(cell.key) or _fake_row(cell))
    rows = runner.run_protocol("smoke", str(tmp_path), log=lambda m: None)
    assert calls == [second.key]
    assert [r["key"] for r in rows] == [first.key, second.key] and rows[0]["test_acc"] == 0.25
    assert runner.missing(str(tmp_path), "smoke") == []
    table = json.loads((tmp_path / "results.json").read_text())
    assert [r["test_acc"] for r in table] == [0.25, 0.5]
    assert (tmp_path / "results.csv").read_text().count("\n") == 3
    assert not [f for f in os.listdir(tmp_path / "cells") if f.startswith(".tmp")]
    runner.run_protocol("smoke", str(tmp_path), log=lambda m: None)
    assert calls == [second.key]  # nothing redone


def test_report_lists_missing_cells(tmp_path):
    grid = protocols.cells("cpu")
    runner.write_json_atomic(runner.cell_path(str(tmp_path), grid[0]), _fake_row(grid[0], 1.0))
    text = report.render(str(tmp_path), "cpu")
    assert f"{len(grid) - 1} missing" in text
    assert f"`{grid[1].key}`" in text and f"`{grid[0].key}`" not in text.split("## Missing cells")[1]
    assert "| TF-(1, 64) |" in text and "1.000 (" in text


def test_cli_bad_input(capsys):
    assert cli.main(["run", "--protocol", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown protocol 'huge'; choose one of smoke, cpu, full"
    assert cli.main(["report", "--results", "/nonexistent/x"]) == 2
    assert "no results under '/nonexistent/x'" in capsys.readouterr().err
