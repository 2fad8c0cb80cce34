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


def test_x64_elsewhere_does_not_change_the_numbers(smoke_rows):
    """A process may have jax_enable_x64 on (``JAX_ENABLE_X64``, or inside
    ``constructions.float64_scope()``); training must not notice (it once did: float64 intermediates changed the losses from the 7th digit on)."""
    import jax

    cell, row, _ = smoke_rows
    strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE}  # noqa: E731
    for x64 in (True, False):
        with jax.enable_x64(x64):
            assert strip(train.run(cell)) == strip(row), f"jax_enable_x64={x64}"


@pytest.mark.slow  # spawns worker processes, each importing JAX and training
def test_parallel_jobs_give_the_same_numbers(smoke_rows, tmp_path):
    """Two worker processes (spawned) train the two smoke cells; each row equals the one trained in
    this process, and the run is recorded in runs.json with its wall clock."""
    cell, row, _ = smoke_rows
    rows = runner.run_protocol("smoke", str(tmp_path), log=lambda m: None, jobs=2)
    assert [r["key"] for r in rows] == [c.key for c in protocols.cells("smoke")]
    strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE | {"protocol"}}  # noqa: E731
    assert strip(rows[0]) == strip(row)
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert len(runs) == 1 and runs[0]["jobs"] == 2 and runs[0]["wall_seconds"] > 0
    assert runs[0]["cells_trained"] == [r["key"] for r in rows]
    text = report.render(str(tmp_path), "smoke")
    assert f"* Wall clock: **{runs[0]['wall_seconds'] / 60:.1f} min** for the cells trained, over 1 run(s)" in text
    assert f"--out {tmp_path} --jobs 2`" in text
    with pytest.raises(ValueError, match="jobs must be an integer >= 1, got 0"):
        runner.run_protocol("smoke", str(tmp_path), jobs=0)


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
    assert cli.main(["run", "--protocol", "smoke", "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --jobs must be at least 1, got 0"
    assert cli.main(["run", "--protocol", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown protocol 'huge'; choose one of smoke, cpu, full"
    assert cli.main(["report", "--results", "/nonexistent/x"]) == 2
    assert "no results under '/nonexistent/x'" in capsys.readouterr().err


@pytest.mark.slow  # spawns worker processes, each importing JAX and training
def test_sigterm_stops_the_worker_processes(tmp_path):
    """`kill` on a parallel run unwinds it: the parent exits with 143 and takes its workers with it
    (none is left training on as an orphan).  Linux only: children read from /proc."""
    import signal
    import subprocess
    import sys
    import time

    children_file = "/proc/{0}/task/{0}/children"
    if not os.path.exists(children_file.format(os.getpid())):
        pytest.skip("needs /proc/<pid>/task/<pid>/children")
    proc = subprocess.Popen(
        [sys.executable, "-m", "experiments", "run", "--protocol", "smoke", "--out", str(tmp_path), "--jobs", "2"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "cells queued on 2 worker processes" in proc.stderr.readline()
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(children_file.format(proc.pid)) as fh:
                kids = [int(p) for p in fh.read().split()]
            if len(kids) >= 2:
                break
            time.sleep(0.2)
        assert len(kids) >= 2, kids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM

        def running(pid):  # a zombie (state Z) has exited; a reaped child has no /proc entry
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    return fh.read().split()[2] != "Z"
            except FileNotFoundError:
                return False

        def alive():
            return [k for k in kids if running(k)]

        deadline = time.time() + 30
        while time.time() < deadline and alive():
            time.sleep(0.2)
        assert alive() == []
    finally:
        if proc.poll() is None:
            proc.kill()
