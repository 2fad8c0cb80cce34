"""A Hypothesis fuzzer for the ``verify`` command line (issue 19): whatever the arguments, the exit
status is 0, 1 or 2 (never 3: an internal error), a 2 comes with exactly one line on stderr and no
traceback, and every case ends within a bounded time.

The cases run in process (``verify.main``) for speed. The leaves that do the numerical work for
valid requests (the checking engine, the certifier, the report's and the precision search's rows,
the bounds report and the plots) are replaced by stubs: this test is about the argument handling,
the validation, the size estimate and the error contract, which all run for real; the numerical
paths have their own tests. Every case appends ``--max-time 5`` where the subcommand takes it, so
that a valid but slow request is refused by the estimate (itself part of what is tested).
A few cases run unpatched in a subprocess (``python -m verify``).

``FUZZ_EXAMPLES=5000 pytest tests/verify/test_fuzz_cli.py`` runs a long campaign.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verify._bounds_cli as bounds_cli
import verify._cli as cli
import verify._precision_cli as precision_cli
import verify._report as report

from testkit import examples

CASES = int(os.environ.get("FUZZ_EXAMPLES", "0")) or examples(150)
PER_CASE_SECONDS = 20.0
STATS: collections.Counter = collections.Counter()  # exit status -> cases (printed with FUZZ_EXAMPLES and -s)

TASKS = ["index_lookup", "equality", "disjointness", "dyck", "associative_recall", "nearest_neighbor", "threshold"]
HUGE = ["10" * 30, "1" + "0" * 4000, "9223372036854775808", "1e9", "-1", "0", "-0", "+5"]
WEIRD = ["", " ", "NaN", "nan", "Infinity", "-inf", "1.5", "½", "٣", "ⅷ", "\u202e8", "x", "--", "-", "{", "[]", "null"]
SMALL = ["1", "2", "3", "4", "6", "8", "12", "16"]
FLAGS = {
    "main": [
        "--task",
        "--arch",
        "--n",
        "--alphabet-size",
        "--types",
        "--depth",
        "--dim",
        "--margin",
        "--num-keys",
        "--num-values",
        "--index-sets",
        "--truth-tables",
        "--c",
        "--samples",
        "--exhaustive",
        "--certify",
        "--precision",
        "--seed",
        "--model-seed",
        "--param",
        "--save",
        "--load",
        "--json",
        "--no-progress",
        "--max-memory",
        "--help",
    ],
    "bounds": ["--task", "--n", "--bits", "--heads", "--alphabet-size", "--num-keys", "--json", "--plot"]
    + ["--crossover", "--crossover-max-n", "--build-max-n", "--model-seed", "--max-memory"],
    "precision": ["--task", "--arch", "--ns", "--n", "--alphabet-size", "--addresses", "--samples", "--no-certify"]
    + ["--seed", "--model-seed", "--plot", "--sweep", "--json", "--readme"],
    "report": ["--readme", "--json", "--plot", "--sizes"],
}
VALUES = {
    "--task": TASKS + ["nope", "INDEX_LOOKUP"],
    "--arch": ["tf1", "tf2", "rnn", "tf9", "RNN"],
    "--precision": ["float64", "float32", "bfloat16", "float16", "fixed:8.12", "fixed:40.40", "float8", "fixed:a.b"],
    "--param": ["beta=NaN", "beta=1e308", "seed=1.5", "coherence=2", "addresses=rs", "coherence=0.4", "=", "k"]
    + ["addresses=[[[[1]]]]", "beta=-Infinity", "n=8.7", "foo=1", 'addresses="random"', "beta=" + "9" * 400],
    "--save": ["m.npz", "", "missing/m.npz", "/proc/m.npz", ".", "\u00e9.npz"],
    "--load": ["m.npz", "", "missing.npz", "/dev/null", ".", "/proc/self/status"],
    "--plot": ["p", "", "missing/p", "/proc/p"],
    "--readme": ["R.md", "", "missing.md", "/dev/null"],
    "--sweep": ["noise", "beta", "length", "wind"],
    "--addresses": ["random", "quadratic", "rs", "random,rs", "", ",", "bogus"],
    "--ns": ["8", "8,16", "", ",", "8,,16", "0", "8,x"],
    "--sizes": ["8", "8,16", "", "0"],
    "--max-memory": ["1G", "10M", "none", "0", "-1", "1Q", "1e3"],
    "--index-sets": ["[[0,1]]", "[" * 500, "[[NaN]]", "{}", "x"],
    "--truth-tables": ["[[0,1]]", "[]", "x"],
    "--margin": ["0.1", "NaN", "inf", "-1", "x"],
}
NO_VALUE = {"--exhaustive", "--certify", "--json", "--no-progress", "--crossover", "--no-certify", "--help"}


@st.composite
def argv(draw):
    sub = draw(st.sampled_from(["main", "main", "main", "bounds", "precision", "report", "bogus"]))
    out = [] if sub == "main" else [sub if sub != "bogus" else draw(st.sampled_from(["bogus", "Bounds", "check"]))]
    pool = FLAGS.get(sub, FLAGS["main"])
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            out.append(draw(st.sampled_from(["--bogus", "-x", "--n=4", "--", "--debug", "--task=equality", "-"])))
            continue
        flag = draw(st.sampled_from(pool))
        out.append(flag)
        if flag in NO_VALUE:
            continue
        choices = VALUES.get(flag, SMALL) + HUGE + WEIRD
        nvals = draw(st.integers(0, 3)) if flag in ("--n", "--ns") else 1
        for _ in range(nvals):
            if draw(st.integers(0, 3)) == 0:
                out.append(draw(st.text(max_size=6)))
            else:
                out.append(draw(st.sampled_from(choices)))
    if sub in ("main", "bounds", "precision"):
        out += ["--max-time", "5"]
    return out


def _row(model, **kw):
    return {"task": model.task, "arch": model.variant, "n": model.task_params.get("n"), "status": "pass"}


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    """The numerical leaves replaced (module docstring); the working folder is a fresh temp dir."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "R.md").write_text("<!-- precision:start --><!-- precision:end -->\n", encoding="utf-8")
    monkeypatch.setattr(cli, "_check", _row)
    monkeypatch.setattr(cli, "DEFAULT_CHECKS", cli.DEFAULT_CHECKS[:1])
    monkeypatch.setattr(report, "check_rows", lambda: [])
    monkeypatch.setattr(report, "size_rows", lambda sizes: [])
    monkeypatch.setattr(precision_cli, "run_rows", lambda args, progress=False: ([], {}))
    monkeypatch.setattr(
        precision_cli,
        "sweep",
        lambda model, kind, **kw: {"sweep": kind, "applicable": False, "n": model.task_params["n"]},
    )
    monkeypatch.setattr(precision_cli, "plot", lambda rows, path: [])
    monkeypatch.setattr(bounds_cli, "report", lambda *a, **kw: {"b": 32, "heads": 1, "rows": [], "crossovers": []})
    monkeypatch.setattr(bounds_cli, "format_report", lambda rep: "report")
    monkeypatch.setattr(bounds_cli, "plot_report", lambda rep, path: [])
    return tmp_path


def check_case(args, capsys):
    start = time.perf_counter()
    try:
        code = cli.main(list(args))
    except SystemExit as e:  # --help
        code = e.code or 0
    seconds = time.perf_counter() - start
    _, err = capsys.readouterr()
    assert code in (0, 1, 2), (args, code, err)
    assert "Traceback" not in err, (args, err)
    if code == 2:
        assert err.count("\n") == 1 and err.startswith("verify"), (args, err)
    assert seconds < PER_CASE_SECONDS, (args, seconds)
    STATS[code] += 1


def test_fuzz_cli_in_process(stubbed, capsys):
    @settings(max_examples=CASES, deadline=None)
    @given(argv())
    def case(args):
        check_case(args, capsys)

    case()
    if os.environ.get("FUZZ_EXAMPLES"):
        print(f"fuzz cases by exit status: {dict(STATS)} (total {sum(STATS.values())})")


@pytest.mark.parametrize(
    "args",
    [
        ["--task", "equality", "--arch", "tf2", "--n", "1000000", "--exhaustive"],
        ["--task", "index_lookup", "--arch", "tf1", "--n", "100000000", "--alphabet-size", "2", "--certify"],
        ["--task", "equality", "--arch", "rnn", "--n", "1000000"],
        ["bounds", "--n", "1" + "0" * 4000],
        ["--task", "index_lookup", "--arch", "tf1", "--n", "8", "--alphabet-size", "2", "--param", "beta=NaN"],
    ],
)
def test_refusals_in_a_subprocess(args, tmp_path):
    """Unpatched, as a user runs it: one line, exit 2, quickly, nothing written."""
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "verify", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
    assert time.perf_counter() - start < 60
    assert list(tmp_path.iterdir()) == []
