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


@pytest.mark.slow  # the module fixture trains the smoke cell twice (about 30 s on 2 cores)
def test_smoke_cell_trains_and_records_its_settings(smoke_rows):
    cell, row, _ = smoke_rows
    assert row["seed"] == cell.seed == 0 and row["steps_run"] == cell.steps and row["key"] == cell.key
    assert [c["step"] for c in row["curve"]] == list(range(cell.eval_every, cell.steps + 1, cell.eval_every))
    assert 0.0 <= row["test_acc"] <= 1.0 and row["params"] > 0 and row["state_size"] == 16
    preds, labels = row["test_pred_counts"], row["test_label_counts"]
    assert len(preds) == len(labels) == 64  # one count per class of index lookup's alphabet
    assert sum(preds) == sum(labels) == cell.test_size
    assert row["constant_predictor"] == train.constant_predictor(preds)
    assert row["budget_exhausted"] == (not row["early_stopped"])
    stops = [c["step"] for c in row["curve"] if c["val_acc"] >= cell.stop_at]
    assert row["steps_to_stop"] == (stops[0] if stops else None)


@pytest.mark.slow  # the smoke fixture
def test_same_seed_same_numbers(smoke_rows):
    _, a, b = smoke_rows
    assert {k: v for k, v in a.items() if k not in VOLATILE} == {k: v for k, v in b.items() if k not in VOLATILE}


@pytest.mark.slow  # the smoke fixture, and a third training run
def test_x64_elsewhere_does_not_change_the_numbers(smoke_rows):
    """A process may have jax_enable_x64 on (``JAX_ENABLE_X64``, or inside
    ``constructions.float64_scope()``); training must not notice (it once did: float64 intermediates changed the losses from the 7th digit on)."""
    import jax

    cell, row, _ = smoke_rows
    strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE}  # noqa: E731
    other = not jax.config.jax_enable_x64  # the fixture's rows were trained in this process's setting
    with jax.enable_x64(other):
        assert strip(train.run(cell)) == strip(row), f"jax_enable_x64={other}"


@pytest.mark.slow  # spawns worker processes, each importing JAX and training
def test_parallel_jobs_give_the_same_numbers(smoke_rows, tmp_path):
    """Two worker processes (spawned) train the smoke protocol (stage 1, then the Transformer's
    seed 1 at its chosen rate) with a fresh compilation cache; the cell trained here too (no
    cache) has the same row, and the run is recorded in runs.json with its wall clock.  The cache
    holds one training step per configuration: the Transformer's three cells (two learning
    rates, two seeds) share theirs, since the rate is an input of the program."""
    cell, row, _ = smoke_rows
    cache = tmp_path / "jax"
    log: list[str] = []
    rows = runner.run_protocol("smoke", str(tmp_path), log=log.append, jobs=2, cache=str(cache))
    # the second worker's first cell is the LSTM's, not the Transformer's second rate, whose
    # programs the first worker is still compiling (runner.pick)
    started = [m.split(":")[0] for m in log if ": training, group" in m]
    steps = [f for f in os.listdir(cache) if f.startswith("jit_train_step-")]
    assert len(steps) == 2, steps  # the Transformer's and the LSTM's (one training length each)
    tf, lstm = protocols.groups("smoke")
    assert started[:2] == [tf.stage1()[0].key, lstm.stage1()[0].key], started
    chosen = protocols.select(rows[:2])
    assert [r["key"] for r in rows] == [c.key for c in tf.stage1() + tf.stage2(chosen) + lstm.stage1()]
    strip = lambda r: {k: v for k, v in r.items() if k not in VOLATILE | {"protocol"}}  # noqa: E731
    assert strip(next(r for r in rows if r["key"] == cell.key)) == strip(row)
    runs = json.loads((tmp_path / "runs.json").read_text())
    assert len(runs) == 1 and runs[0]["jobs"] == 2 and runs[0]["wall_seconds"] > 0
    assert sorted(runs[0]["cells_trained"]) == sorted(r["key"] for r in rows)
    text = report.render(str(tmp_path), "smoke")
    assert f"* Wall clock: **{runs[0]['wall_seconds'] / 60:.1f} min** for the cells trained, over 1 run(s)" in text
    assert f"--out {tmp_path} --jobs 2`" in text and "0 missing" in text
    with pytest.raises(ValueError, match="jobs must be an integer >= 1, got 0"):
        runner.run_protocol("smoke", str(tmp_path), jobs=0)


def test_pick_skips_a_group_still_compiling():
    """A free worker takes the first queued cell whose group has no cell compiling; if every
    queued cell's group is compiling, the first cell (a worker never waits)."""
    tf, lstm = protocols.groups("smoke")
    a, b = tf.stage1()
    queue = [((0, 0, 0), a), ((0, 0, 1), b), ((1, 0, 0), lstm.stage1()[0])]
    assert runner.pick(queue, set()) == 0
    assert runner.pick(queue, {0}) == 2
    assert runner.pick(queue, {1}) == 0
    assert runner.pick(queue[:2], {0}) == 0
    assert runner.pick([], {0}) == 0


def _fake_row(cell, acc=0.5, curve=None, **extra):
    curve = curve or [{"step": cell.steps, "val_acc": acc, "train_loss": 1.0}]
    row = dataclasses.asdict(cell)
    row.update(key=cell.key, label=cell.label, steps_run=curve[-1]["step"], early_stopped=acc >= 0.99,
               best_val_acc=max(c["val_acc"] for c in curve), final_val_acc=curve[-1]["val_acc"], test_acc=acc,
               params=10, params_no_embed=5, state_size=4, state_kind="h", train_seconds=0.0, curve=curve)  # fmt: skip
    row.update(extra)
    return row


def test_selection_rule():
    tf = protocols.groups("smoke")[0]
    a, b = tf.stage1()  # lr 3e-3, 1e-3
    curve = lambda *v: [{"step": 20 * (i + 1), "val_acc": x, "train_loss": 1.0} for i, x in enumerate(v)]  # noqa: E731
    assert protocols.select([_fake_row(a, curve=curve(0.2, 0.5)), _fake_row(b, curve=curve(0.6, 0.3))])["lr"] == 1e-3
    # tie on validation accuracy: fewer steps to reach it wins, then the larger learning rate
    assert protocols.select([_fake_row(a, curve=curve(0.2, 0.6)), _fake_row(b, curve=curve(0.6, 0.6))])["lr"] == 1e-3
    assert protocols.select([_fake_row(a, curve=curve(0.6, 0.1)), _fake_row(b, curve=curve(0.6, 0.6))])["lr"] == 3e-3
    with pytest.raises(ValueError):
        protocols.select([])


def test_stage2_derived_from_disk_and_resumable(tmp_path, monkeypatch):
    """Stage 2 runs seed 1 at stage 1's best rate; after an interruption in stage 2 the rerun
    derives the same stage-2 cell from the files on disk; a deleted stage-2 file is retrained and
    nothing else is."""
    tf, lstm = protocols.groups("smoke")
    accs = {3e-3: 0.3, 1e-3: 0.7}
    calls = []

    def fake(cell, progress=None):
        calls.append(cell.key)
        if cell.seed == 1 and len(calls) == 3:
            raise KeyboardInterrupt  # interrupted in stage 2
        return _fake_row(cell, accs[cell.lr])

    monkeypatch.setattr(train, "run", fake)
    with pytest.raises(KeyboardInterrupt):
        runner.run_protocol("smoke", str(tmp_path), log=lambda m: None)
    s1 = [c.key for c in tf.stage1()]
    s2 = tf.cell(1e-3, 1).key
    assert calls == s1 + [s2]
    # the interrupted run is recorded with the cells it finished (the report's wall clock)
    (run,) = json.loads((tmp_path / "runs.json").read_text())
    assert run["interrupted"] and run["cells_trained"] == s1
    assert [c.key for c in runner.planned(str(tmp_path), [tf])] == s1 + [s2]
    assert runner.missing(str(tmp_path), "smoke") == [s2, lstm.stage1()[0].key]
    rows = runner.run_protocol("smoke", str(tmp_path), log=lambda m: None)
    assert calls == s1 + [s2, s2, lstm.stage1()[0].key]
    assert [r["key"] for r in rows] == s1 + [s2, lstm.stage1()[0].key]
    assert runner.missing(str(tmp_path), "smoke") == []
    table = json.loads((tmp_path / "results.json").read_text())
    assert [r["test_acc"] for r in table] == [0.3, 0.7, 0.7, 0.3]
    assert (tmp_path / "results.csv").read_text().count("\n") == 5
    assert not [f for f in os.listdir(tmp_path / "cells") if f.startswith(".tmp")]
    os.remove(runner.cell_path(str(tmp_path), tf.cell(1e-3, 1)))
    rows = runner.run_protocol("smoke", str(tmp_path), log=lambda m: None, only="tf1")
    assert calls[5:] == [s2]  # only the deleted cell
    assert len(rows) == 3  # --only's groups; the folder's table still has every finished cell
    assert len(json.loads((tmp_path / "results.json").read_text())) == 4


def test_constant_predictor():
    assert train.constant_predictor([0, 1000]) and train.constant_predictor([5, 995])
    assert not train.constant_predictor([20, 980]) and not train.constant_predictor([500, 500])
    assert train.constant_predictor([0] * 63 + [7])
    with pytest.raises(ValueError):
        train.constant_predictor([0, 0])


def test_report_flags_constant_predictors_and_old_rows(tmp_path):
    """A row with constant_predictor true is flagged; a row written before the field existed shows '?'."""
    tf, lstm = protocols.groups("smoke")
    out = str(tmp_path)
    for c in tf.stage1():
        runner.write_json_atomic(runner.cell_path(out, c), _fake_row(c, 0.482, constant_predictor=True))
    runner.write_json_atomic(runner.cell_path(out, tf.cell(3e-3, 1)), _fake_row(tf.cell(3e-3, 1), 0.5))
    runner.write_json_atomic(runner.cell_path(out, lstm.stage1()[0]), _fake_row(lstm.stage1()[0], 0.25))
    text = report.render(out, "smoke")
    tf_line = next(line for line in text.splitlines() if line.startswith("| TF-(1, 16) |"))
    assert "**constant predictor**" in tf_line and "| 0.003 |" in tf_line  # tie: larger lr
    assert "0.491 [0.482, 0.500] (2/2 seeds)" in tf_line and "60 / 60 (budget ran out)" in tf_line
    lstm_line = next(line for line in text.splitlines() if line.startswith("| LSTM-(1, 16) |"))
    assert "| ? |" in lstm_line and "1 seed" in lstm_line


def _summary(group, acc, steps_run=None, stopped=None):
    row = _fake_row(group.stage1()[0], acc)
    if steps_run is not None:
        row.update(steps_run=steps_run, early_stopped=stopped)
    return dict(group=group, chosen=row, seeds=[row])


def test_verdicts_from_crafted_rows():
    groups = {g.name: g for g in protocols.groups("cpu")}
    tf = [groups[f"index_lookup_n{n}_tf1_w64"] for n in (20, 50, 100, 200)]
    ref, text, task, match, expect, _ = report.STATEMENTS[0]
    assert report.verdict([_summary(g, 1.0) for g in tf], task, match, expect)[0] == "reproduced"
    v, why = report.verdict([_summary(g, 1.0) for g in tf[:3]] + [_summary(tf[3], 0.469)], task, match, expect)
    assert v == "not reproduced" and "n=200: 0.469" in why
    assert report.verdict([], task, match, expect)[0] == "not tested"
    # "fails" claims: only n > 100 counts
    rnn = [groups[f"index_lookup_n{n}_lstm1_w64"] for n in (20, 200, 200)]
    _, _, task, match, expect, named = report.STATEMENTS[1]
    assert report.verdict([_summary(rnn[0], 1.0), _summary(rnn[2], 0.02)], task, match, expect)[0] == "reproduced"
    assert report.verdict([_summary(rnn[0], 0.02)], task, match, expect)[0] == "not tested"
    assert report.verdict([_summary(rnn[2], 0.995)], task, match, expect)[0] == "not reproduced"
    # a named model without a result is not tested, and the verdict says it covers only the others
    dss = groups["index_lookup_n200_dss2_w64"]
    v, why = report.verdict([_summary(rnn[2], 0.02), _summary(dss, 0.02)], task, match, expect, named)
    assert v == "reproduced for the models tested"
    assert why.endswith("not tested: Mamba, RetNet, LinTF (no finished group at a length the claim covers)")
    v, why = report.verdict([_summary(rnn[2], 0.995)], task, match, expect, named)
    assert v == "not reproduced" and "not tested: DSS, Mamba" in why
    # several seeds: how many groups had every seed as claimed
    two = dict(_summary(rnn[2], 0.02), seeds=[_fake_row(rnn[2].stage1()[0], a) for a in (0.02, 0.995)])
    assert (
        "every seed as claimed in 0 of the 1 groups with several seeds" in report.verdict([two], task, match, expect)[1]
    )
    # Dyck: TF-(1,256) slower than LSTM where both stop early
    d = lambda m, l, w, n: groups[f"dyck_n{n}_{m}{l}_w{w}"]  # noqa: E731
    fast = [_summary(d("lstm", 1, 64, 20), 1.0, 300, True), _summary(d("tf", 1, 256, 20), 1.0, 900, True)]
    assert report.slower_verdict(fast) == ("reproduced", "n=20: TF 900 vs LSTM 300 steps")
    fast[1] = _summary(d("tf", 1, 256, 20), 1.0, 200, True)
    assert report.slower_verdict(fast)[0] == "not reproduced"
    assert report.slower_verdict(fast[:1])[0] == "not tested"


def test_mamba_width_verdict():
    full = {g.name: g for g in protocols.groups("full")}
    m = lambda w, acc: _summary(full[f"index_lookup_n200_mamba2_w{w}"], acc)  # noqa: E731
    tf = _summary(full["index_lookup_n200_tf1_w64"], 1.0)
    assert report.mamba_width_verdict([tf, m(64, 0.1), m(256, 0.4)])[0] == "reproduced"
    assert report.mamba_width_verdict([tf, m(64, 0.4), m(256, 0.1)])[0] == "not reproduced"
    assert report.mamba_width_verdict([tf, m(64, 0.1)])[0] == "not tested"
    table = report._mamba_widths([tf, m(256, 0.4), m(64, 0.1)]).splitlines()
    assert table[2:] == ["| TF-(1, 64) | 1.000 |", "| Mamba-(2, 64) | 0.100 |", "| Mamba-(2, 256) | 0.400 |"]
    assert report._mamba_widths([tf, m(64, 0.1)]) == ""


def test_report_lists_missing_cells(tmp_path):
    groups = protocols.groups("cpu")
    first = groups[0].stage1()[0]
    runner.write_json_atomic(runner.cell_path(str(tmp_path), first), _fake_row(first, 1.0))
    text = report.render(str(tmp_path), "cpu")
    n_stage1 = len(protocols.cells("cpu"))
    pending = sum(1 for g in groups if g.seeds > 1)
    assert f"{n_stage1 - 1 + pending} missing" in text
    tail = text.split("## Missing cells")[1]
    assert f"`{groups[0].stage1()[1].key}`" in tail and f"`{first.key}`" not in tail
    assert f"`{groups[0].name}: stage 2 (2 more seeds) after stage 1`" in tail
    assert "| TF-(1, 64) | 20 | learns | 0.001 (stage 1: 1/3 lrs) | 1.000 |" in text


def test_full_dry_run_end_to_end(tmp_path, capsys):
    """The accelerator protocol's dry run on a subset (the CLI without --only covers every
    configuration): a few steps per cell, the compile check at the largest length, stage 2, and
    the report written by the run itself."""
    only = "^(index_lookup_n20_tf1_w64|eq_random_n20_lstm1_w64)$"
    out = tmp_path / "dry"
    assert cli.main(["run", "--protocol", "full", "--dry-run", "--only", only, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "index_lookup tf-(1, 64) at n = 400 compiles" in err and "eq_random lstm-(1, 64) at n = 400 compiles" in err
    rows = runner.collect(str(out), "full", dry_run=True, only=only)
    groups = protocols.groups("full", dry_run=True, only=only)
    assert [g.name for g in groups] == ["index_lookup_n20_tf1_w64", "eq_random_n20_lstm1_w64"]
    assert len(rows) == 2 + 1 + 2  # two learning rates each, and the Transformer's seed 1
    assert all(r["steps_run"] <= 4 and r["test_size"] == 64 for r in rows)
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Training experiments: results (dry run") and "0 missing" in text
    assert "## Eq-random" in text and "| TF-(1, 64) | 20 | learns |" in text and "**Dry run**: a few steps" in text
    # the full grid's dry run covers every distinct configuration once, at its smallest length
    every = protocols.groups("full", dry_run=True)
    assert len({g.config for g in every}) == len(every) == len({g.config for g in protocols.groups("full")})


def test_cli_bad_input(capsys):
    assert cli.main(["run", "--protocol", "smoke", "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --jobs must be at least 1, got 0"
    assert cli.main(["run", "--protocol", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: unknown protocol 'huge'; choose one of smoke, cpu, full"
    assert cli.main(["run", "--protocol", "full", "--dry-run", "--only", "nothing_like_this"]) == 2
    assert capsys.readouterr().err.strip() == "error: --only 'nothing_like_this' matches no group of protocol 'full'"
    assert cli.main(["run", "--protocol", "cpu", "--only", "("]) == 2
    assert capsys.readouterr().err.startswith("error: --only '(' is not a regular expression")
    assert cli.main(["report", "--results", "/nonexistent/x"]) == 2
    assert "no results under '/nonexistent/x'" in capsys.readouterr().err


def test_cli_refuses_targets_before_any_work(capsys, tmp_path):
    """argparse's errors are one line too; an --out that is a file, an empty --report or --write, and
    a report in a missing folder are refused before the results folder is created or a cell trained."""
    cases = [
        (["run", "--protocol", "smoke", "--jobs", "abc"], "error: argument --jobs: invalid int value: 'abc'"),
        ([], "error: the following arguments are required: cmd"),
        (["run", "--protocol", "smoke", "--dry-run", "--out", str(tmp_path / "f.npz")], "exists and is not a folder"),
        (["run", "--protocol", "smoke", "--out", str(tmp_path / "o"), "--report", ""], "empty file name"),
        (
            ["run", "--protocol", "smoke", "--out", str(tmp_path / "o"), "--report", str(tmp_path / "no" / "x.md")],
            "does not exist",
        ),
        (["report", "--results", "experiments/results/cpu", "--write", ""], "empty file name"),
    ]
    (tmp_path / "f.npz").write_bytes(b"keep")
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error:") and message in err, (argv, err)
    assert sorted(os.listdir(tmp_path)) == ["f.npz"] and (tmp_path / "f.npz").read_bytes() == b"keep"


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


def test_probe_rung_reruns_seed0_unless_it_stopped_early(tmp_path):
    """With a probe budget, stage 1 trains each rate for the probe only; seed 0 is retrained at the
    chosen rate for the whole budget unless its probe stopped early; the report's result row is
    the whole-budget run, never the probe."""
    g = dataclasses.replace(protocols.groups("smoke")[0], steps=60, probe=20, seeds=2)
    a, b = g.stage1()
    assert a.steps == b.steps == 20 and g.cell(a.lr, 0).steps == 60
    out = str(tmp_path)
    for cell, acc in ((a, 0.4), (b, 0.7)):
        runner.write_json_atomic(runner.cell_path(out, cell), _fake_row(cell, acc))
    st = runner.group_state(out, g)
    assert [(c.seed, c.steps, c.lr) for c in st["stage2_cells"]] == [(0, 60, b.lr), (1, 60, b.lr)]
    assert report.summarize(out, g)["chosen"] is None  # the whole-budget run is not there yet
    full0 = g.cell(b.lr, 0)
    runner.write_json_atomic(runner.cell_path(out, full0), _fake_row(full0, 0.8))
    s = report.summarize(out, g)
    assert s["selected"]["key"] == b.key and s["chosen"]["key"] == full0.key and s["chosen"]["test_acc"] == 0.8
    # a probe that stopped early is its own whole-budget run: only seed 1 is added
    runner.write_json_atomic(runner.cell_path(out, b), _fake_row(b, 0.995))
    st = runner.group_state(out, g)
    assert [(c.seed, c.steps) for c in st["stage2_cells"]] == [(1, 60)]
    assert report.summarize(out, g)["chosen"]["key"] == b.key
    with pytest.raises(protocols.ProtocolError):
        dataclasses.replace(g, probe=61)
    # the report's sum of training times counts a continued seed-0 cell's own steps only (full0's
    # key is also a stage-1 cell of the smoke protocol, the only one of its cells in this folder)
    row = _fake_row(full0, 0.8, train_seconds=420.0, resumed_from={"key": b.key, "step": 20, "train_seconds": 120.0})
    runner.write_json_atomic(runner.cell_path(out, full0), row)
    assert "Sum of the finished cells' training times: 5 min (a seed-0 cell" in report.render(out, "smoke")


def test_figures_show_the_whole_budget_run_after_a_probe():
    """plots.best_runs agrees with the report: the probe rung chooses the rate, the whole-budget
    seed-0 run at that rate is what the figures show."""
    from experiments import plots

    g = dataclasses.replace(protocols.groups("smoke")[0], steps=60, probe=20, seeds=2)
    a, b = g.stage1()
    rows = [_fake_row(a, 0.4), _fake_row(b, 0.7), _fake_row(g.cell(b.lr, 0), 0.8), _fake_row(g.cell(b.lr, 1), 0.1)]
    assert [r["key"] for r in plots.best_runs(rows)] == [g.cell(b.lr, 0).key]
    assert [r["key"] for r in plots.best_runs(rows[:2])] == [b.key]


def test_verdict_uses_the_best_seed_and_shows_seed_0():
    """A claim is judged on the group's best seed (the paper's best run) and the evidence names
    seed 0 and the spread; a "fails" claim holds only if every seed fails."""
    groups = {g.name: g for g in protocols.groups("cpu")}
    g = groups["index_lookup_n50_tf1_w64"]
    _, _, task, match, expect, _ = report.STATEMENTS[0]
    s = _summary(g, 0.985)
    s["seeds"] = [s["chosen"], _fake_row(g.cell(1e-3, 1), 1.0), _fake_row(g.cell(1e-3, 2), 0.97)]
    v, why = report.verdict([s], task, match, expect)
    assert v == "reproduced" and "seed 0 0.985" in why and "1/3 as claimed" in why
    s["seeds"] = [s["chosen"], _fake_row(g.cell(1e-3, 1), 0.98)]
    assert report.verdict([s], task, match, expect)[0] == "not reproduced"
    rnn = groups["index_lookup_n200_lstm1_w64"]
    _, _, task, match, expect, _ = report.STATEMENTS[1]
    s = _summary(rnn, 0.02)
    s["seeds"] = [s["chosen"], _fake_row(rnn.cell(1e-3, 1), 0.995)]
    assert report.verdict([s], task, match, expect)[0] == "not reproduced"


@pytest.mark.slow  # the dry run of one cpu group: its compile check at n = 200 and five short trainings (66 s)
def test_seed0_continues_from_its_probe(tmp_path):
    """The cpu dry run of one group (probe 2 of 4 steps, two rates, two seeds): seed 0's
    whole-budget cell continues from its probe's saved state, gives the same row as a run from
    step 0, and the states are gone afterwards; a state that belongs to another cell is refused
    with a one-line reason and the runner trains from step 0 instead."""
    out = str(tmp_path)
    only = "^index_lookup_n20_tf1_w64$"
    (g,) = protocols.groups("cpu", dry_run=True, only=only)
    assert (g.probe, g.steps, g.eval_every) == (2, 4, 2)
    rows = runner.run_protocol("cpu", out, log=lambda m: None, dry_run=True, only=only)
    chosen = runner.group_state(out, g)["chosen"]
    seed0 = next(r for r in rows if r["seed"] == 0 and r["steps"] == 4)
    assert seed0["resumed_from"]["key"] == chosen["key"] and seed0["resumed_from"]["step"] == 2
    assert os.listdir(tmp_path / "states") == []
    cell = g.cell(chosen["lr"], 0)
    scratch = train.run(cell)
    assert "resumed_from" not in scratch
    assert {k: v for k, v in seed0.items() if k not in VOLATILE | {"resumed_from", "protocol"}} == {
        k: v for k, v in scratch.items() if k not in VOLATILE
    }
    probe = dataclasses.replace(cell, steps=2)
    state = str(tmp_path / "probe.npz")
    train.run(probe, save_state=state)
    other = dataclasses.replace(cell, seed=1)
    with pytest.raises(train.StateError, match=r"is the state of .*_s0_T2_.*, not of a shorter run of .*_s1_T4_"):
        train.run(other, resume=state)
    with pytest.raises(
        train.StateError, match=r"is the state of .*_s0_T2_.*, not of a shorter run of .*_s0_T8_.* with its"
    ):
        train.run(dataclasses.replace(cell, steps=8, eval_every=4), resume=state)  # another validation schedule
    with pytest.raises(train.StateError, match=r"step 2 is not a validation step \(every 2\) below the budget 2"):
        train.run(probe, resume=state)
    with open(state, "wb") as fh:
        fh.write(b"not a state")
    with pytest.raises(train.StateError, match=r"probe.npz: not a readable training state"):
        train.run(cell, resume=state)
    said = []
    again = runner._train(other, said.append, resume=state)
    assert "resumed_from" not in again and said[0].endswith("; training from step 0")
    with pytest.raises(protocols.ProtocolError, match="probe must be a multiple of eval_every 100, got 150"):
        dataclasses.replace(protocols.groups("cpu")[0], probe=150)
