"""Wall time of the test suite's two groups, as README's commands run them, and the slowest tests.

    python benchmarks/suite.py [--before TEXT] [--no-write]

Runs ``python -m pytest -n 2 -m "not slow"`` (README's test command, the fast group) and then
``python -m pytest -n 2 -m slow`` (the slow group; `.ci/run` runs both), each as a fresh process
with pytest's cache off, and records each group's wall time, its counts, and its 15 slowest
entries (pytest ``--durations``). Which test is in which group: tests/conftest.py (its marks, and
the measured times in tests/durations.json). Run it on an idle machine from a clean checkout with
the environment installed: the first group pays for every compilation and every cold import.

``--before``: one line describing an earlier measurement to print beside this one (say the commit
and how it was measured); it is quoted as given, not measured here.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import ROOT, machine, table, write_section  # noqa: E402

GROUPS = [("fast (README's test command)", "not slow"), ("slow", "slow")]


def run_group(marker: str) -> dict:
    """One group as a fresh pytest process: wall seconds, the summary counts, the 15 slowest."""
    argv = [sys.executable, "-m", "pytest", "-n", "2", "-m", marker, "-p", "no:cacheprovider", "--durations=15"]
    t = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    out = done.stdout
    summary = [line for line in out.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    if done.returncode != 0 or not summary:
        raise RuntimeError(f"pytest -m {marker!r} exited {done.returncode}:\n{out[-3000:]}{done.stderr[-2000:]}")
    slowest = re.findall(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", out, flags=re.M)
    return {"wall": wall, "summary": summary[-1].strip("= "), "slowest": slowest[:15]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="an earlier measurement, quoted as given (commit, how measured)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    where = machine()
    results = []
    for label, marker in GROUPS:
        r = run_group(marker)
        print(label, f"{r['wall']:.0f} s", r["summary"], flush=True)
        results.append((label, marker, r))
    lines = [
        "## Test suite: the fast and the slow group (`benchmarks/suite.py`)",
        "",
        f"Machine: {where}; {os.getloadavg()[0]:.1f} at the end. Each group a fresh "
        '`python -m pytest -n 2 -m "<group>"` process (pytest-xdist, two workers, pytest\'s cache off).',
        "",
        table(
            ["group", "command", "wall", "result"],
            [
                [label, f'`-m "{m}"`', f"{r['wall'] / 60:.1f} min ({r['wall']:.0f} s)", r["summary"]]
                for label, m, r in results
            ],
        ),
    ]
    if a.before:
        lines += ["", f"Before (quoted, not measured by this run): {a.before}"]
    for label, _, r in results:
        lines += ["", f"Slowest 15 of the {label.split(' ')[0]} group:", ""]
        lines.append(table(["seconds", "phase", "test"], [[s, ph, f"`{t}`"] for s, ph, t in r["slowest"]]))
    lines += ["", "Command: `python benchmarks/suite.py" + (" --before ..." if a.before else "") + "`."]
    body = "\n".join(lines)
    if a.no_write:
        print(body)
    else:
        write_section("suite", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
