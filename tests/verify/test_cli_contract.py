"""The error contract of ``verify`` (README "Exit status", docs/DESIGN.md §6.6) and the cases of
issue 19: bad input and refused requests exit 2 with one line before anything is built or
written; a bug in our code exits 3 (never 2); JSON is strict."""

from __future__ import annotations

import json
import math
import os
import time

import pytest

import tasks
import verify._cli as cli
import verify._report as report
from verify._json import dumps

TINY = ["--task", "index_lookup", "--arch", "tf1", "--n", "8", "--alphabet-size", "2"]


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def strict_loads(text):
    def refuse(c):
        raise ValueError(f"non-standard JSON constant {c}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("exc", [KeyError("k"), TypeError("t"), IndexError("i"), ValueError("plain")])
def test_a_bug_is_exit_3_with_the_traceback_in_a_file(capsys, monkeypatch, exc):
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "_run_rows", boom)
    code, out, err = run(capsys, *TINY)
    assert code == 3 and out == "" and err.count("\n") == 1 and "internal error" in err, err
    path = err.rsplit("traceback in ", 1)[1].strip()
    try:
        assert type(exc).__name__ in open(path, encoding="utf-8").read()
    finally:
        os.unlink(path)
    code, _, err = run(capsys, *TINY, "--debug")
    assert code == 3 and "Traceback (most recent call last)" in err


def test_ctrl_c_in_process_is_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_rows", interrupted)
    code, _, err = run(capsys, *TINY)
    assert code == 130 and err == "verify: interrupted\n"


def test_strict_json_replaces_non_finite_numbers():
    text = dumps({"a": math.inf, "b": -math.inf, "c": math.nan, "d": [1.5, (2, math.inf)]})
    assert strict_loads(text) == {"a": "inf", "b": "-inf", "c": None, "d": [1.5, [2, "inf"]]}


def test_a_refused_format_does_not_touch_the_save_target(capsys, tmp_path):
    good = tmp_path / "good.npz"
    good.write_bytes(b"precious")
    code, _, err = run(capsys, *TINY, "--precision", "float8", "--save", str(good))
    assert code == 2 and err.count("\n") == 1 and good.read_bytes() == b"precious"


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--save", ""], "empty"),
        (["--save", "missing/m.npz"], "does not exist"),
        (["--param", "beta=NaN"], "not a finite number"),
        (["--param", "beta=Infinity"], "not a finite number"),
        (["--param", "seed=1.5"], "expects int"),
        (["--param", "n=8.7"], "n=8.7"),
        (["--param", "coherence=2"], "coherence"),
        (["--n"], "expected one argument"),
        (["--samples", "0"], "--samples"),
        (["--n", "1" + "0" * 4000], "too large"),
        (["--max-memory", "1Q"], "--max-memory"),
    ],
)
def test_bad_values_are_refused_up_front(capsys, tmp_path, monkeypatch, extra, match):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *TINY, *extra)
    assert code == 2 and out == "" and err.count("\n") == 1 and match in err, err
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_is_refused_before_any_check(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # running as root: permissions are not enforced
        pytest.skip("the folder stays writable for this user")

    def never():
        raise AssertionError("a check ran before the target was checked")

    monkeypatch.setattr(report, "check_rows", never)
    code, _, err = run(capsys, "report", "--plot", str(folder / "p"))
    assert code == 2 and "not writable" in err


def test_plot_into_a_missing_folder_is_refused_before_any_check(capsys, tmp_path, monkeypatch):
    def never():
        raise AssertionError("a check ran before the target was checked")

    monkeypatch.setattr(report, "check_rows", never)
    for argv in (["report", "--plot"], ["bounds", "--plot"], ["precision", "--plot"]):
        code, _, err = run(capsys, *argv, str(tmp_path / "missing" / "p"))
        assert code == 2 and err.count("\n") == 1 and "does not exist" in err, (argv, err)


@pytest.mark.parametrize(
    "argv,match",
    [
        (
            ["--task", "index_lookup", "--arch", "tf1", "--n", "100000000", "--alphabet-size", "2", "--certify"],
            "memory",
        ),
        (["--task", "equality", "--arch", "tf2", "--n", "1000000", "--exhaustive"], "exhaustive"),
        (["--task", "equality", "--arch", "rnn", "--n", "1000000"], "--max-memory"),
        (["--task", "disjointness", "--arch", "tf2", "--n", "64", "--samples", str(10**12)], "--max-time"),
        (["precision", "--n", "1000000000"], "--max-memory"),
        (["precision", "--task", "equality", "--n", "16", "1000000000"], "--max-memory"),
    ],
)
def test_absurd_sizes_are_refused_before_building(capsys, monkeypatch, argv, match):
    def never(*a, **kw):
        raise AssertionError("built")

    monkeypatch.setattr(cli.constructions, "build", never)
    start = time.perf_counter()
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and match in err, err
    assert time.perf_counter() - start < 10


def test_max_memory_overrides_the_default(capsys, monkeypatch):
    def never(*a, **kw):
        raise AssertionError("built")

    monkeypatch.setattr(cli.constructions, "build", never)
    code, _, err = run(capsys, "--task", "equality", "--arch", "rnn", "--n", "4096", "--max-memory", "1M")
    assert code == 2 and "more than the limit 1 MiB" in err


def test_num_inputs_is_fast_at_large_n():
    start = time.perf_counter()
    assert tasks.get("index_lookup", n=400_000, alphabet_size=2).num_inputs == 2**400_000 * 400_000
    assert tasks.get("equality", n=400_000).num_inputs == 2**400_000
    assert time.perf_counter() - start < 2


def test_empty_lists_are_bad_input(capsys):
    for argv in (
        ["precision", "--ns", ""],
        ["precision", "--addresses", ""],
        ["bounds", "--n"],
        ["report", "--sizes", ""],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1, (argv, err)


def test_certified_failure_row_is_strict_json_and_counts_cells(capsys):
    code, out, err = run(capsys, *TINY, "--param", "beta=0.01", "--certify", "--json")
    assert code == 1, err
    (row,) = strict_loads(out)
    assert row["status"] == "fail" and row["failures_unit"] == "cells"
    assert row["cells_failed"] == row["failures"] == row["certificate"]["cells"] - row["certificate"]["cells_proved"]
    assert row["inputs_checked"] == 0 and row["certificate"]["inputs_covered_log2"] is None


@pytest.mark.parametrize("arch", ["tf1", "rnn"])
def test_a_task_parameter_left_out_takes_the_tasks_default(capsys, arch):
    # index lookup's alphabet_size defaults to 4 in the task; the builder needs it given. Left out,
    # it was a TypeError from the builder (exit 3 under the contract): the builder now gets the
    # task's parameters with its defaults filled in.
    code, out, err = run(capsys, "--task", "index_lookup", "--arch", arch, "--n", "4", "--exhaustive", "--json")
    assert code == 0, err
    (row,) = strict_loads(out)
    default = tasks.get("index_lookup", n=4).params["alphabet_size"]
    assert row["task_params"]["alphabet_size"] == default and row["inputs_checked"] == default**4 * 4


def test_check_is_the_checks_by_name(capsys):
    plain = run(capsys, *TINY, "--exhaustive", "--json")
    named = run(capsys, "check", *TINY, "--exhaustive", "--json")
    assert plain[0] == named[0] == 0
    strip = lambda out: [{k: v for k, v in r.items() if k != "seconds"} for r in strict_loads(out)]  # noqa: E731
    assert strip(plain[1]) == strip(named[1])


def test_the_table_says_how_many_queries_a_multi_query_row_checked(capsys):
    args = ("--task", "associative_recall", "--arch", "tf2", "--n", "3", "--num-keys", "4", "--num-values", "3")
    code, out, err = run(capsys, *args, "--param", "queries=all", "--exhaustive")
    assert code == 0, err
    (row,) = strict_loads(run(capsys, *args, "--param", "queries=all", "--exhaustive", "--json")[1])
    assert f"{row['inputs_checked']} ({row['queries_checked']} queries)" in out
    assert row["queries_checked"] == 3 * row["inputs_checked"]  # n = 3 queries per input
