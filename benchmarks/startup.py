"""Whole-process time of the ``verify`` command, cold and warm, against a per-example numpy forward.

    python benchmarks/startup.py [--repeats 3] [--no-write]

What a user waits for is the whole command: interpreter start, imports, build, compilation, check,
exit. Each command is run as a fresh process ``repeats`` times with an empty compilation cache
(*cold*: every program compiled) and ``repeats`` times with the cache filled by a first run (*warm*,
verify/_cache.py); the median wall time of each is reported, with the median CPU time of the
process (all threads; less sensitive than wall time to other jobs on a shared machine). Python's
bytecode cache is on in both, in a folder of its own filled by a first run (``PYTHONPYCACHEPREFIX``),
as for an installed package: a sandbox that sets ``PYTHONDONTWRITEBYTECODE`` would otherwise
recompile every module of ours on every start. The reference is
tests/numpy_forward.py, one example at a time, on the saved equality model: its rate is measured on
2,000 inputs and multiplied out to the 2^20 inputs the command checks (the numpy forward takes the
same time for every input of a length), before the first command and after each (the median is
used: on a shared machine the load changes during a run). ``ratio`` = numpy time for the same
inputs / whole process.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks._common import ROOT, fmt, machine, table, write_section  # noqa: E402

COMMANDS = [  # (label, argv, inputs checked)
    ("exhaustive equality tf2, n = 20", ["--task", "equality", "--arch", "tf2", "--n", "20", "--exhaustive"], 1 << 20),
    (
        "exhaustive index lookup tf1, n = 8, s = 2",
        ["--task", "index_lookup", "--arch", "tf1", "--n", "8", "--alphabet-size", "2", "--exhaustive"],
        2 * 2**8,
    ),
]


def whole_process(argv: list[str], cache: str | None, pycache: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh ``verify`` process (the console script's entry point)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEPARATIONS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = ROOT
    env["PYTHONPYCACHEPREFIX"] = pycache
    if cache is None:
        env["SEPARATIONS_NO_CACHE"] = "1"
    else:
        env["SEPARATIONS_CACHE_DIR"] = cache
    code = "import sys; from verify._console import entry; sys.argv = ['verify'] + sys.argv[1:]; entry()"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *argv, "--json"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"verify {' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def numpy_rate(k: int = 2000) -> float:
    """Inputs per second of the per-example numpy forward on the saved equality model (n = 20)."""
    import constructions
    import verify

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import numpy_forward

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "eq.npz")
        constructions.build("equality", arch="tf2", n=20, seed=0).save(path)
        model = constructions.load(path)
        x = verify.task_of(model).sample(np.random.default_rng(0), k)
        arrays, meta = numpy_forward.read(path)
        t = time.perf_counter()
        for row in x:
            numpy_forward.transformer_logits(arrays, meta, np.asarray(row))
        return k / (time.perf_counter() - t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    if a.repeats < 1:
        ap.error("--repeats must be at least 1")
    where = machine()
    rates = [numpy_rate()]  # measured again after each command: the median is the reference
    rows = []
    pycache = tempfile.mkdtemp(prefix="verify-pycache-")
    try:
        for label, args, inputs in COMMANDS:
            whole_process(args, None, pycache)  # fills the bytecode cache (the compilation cache off)
            cold = []
            for _ in range(a.repeats):
                cache = tempfile.mkdtemp(prefix="verify-cache-")
                try:
                    cold.append(whole_process(args, cache, pycache))
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
            cache = tempfile.mkdtemp(prefix="verify-cache-")
            try:
                whole_process(args, cache, pycache)  # fills the cache
                warm = [whole_process(args, cache, pycache) for _ in range(a.repeats)]
            finally:
                shutil.rmtree(cache, ignore_errors=True)
            med = lambda runs, i: statistics.median(r[i] for r in runs)  # noqa: E731
            rows.append((label, inputs, med(cold, 0), med(warm, 0), med(cold, 1), med(warm, 1)))
            print(rows[-1], flush=True)
            rates.append(numpy_rate())
    finally:
        shutil.rmtree(pycache, ignore_errors=True)
    load_end = os.getloadavg()[0]
    rate = statistics.median(rates)
    body = "\n".join(
        [
            "## Whole-process start-up: `verify` cold and warm (`benchmarks/startup.py`)",
            "",
            f"Machine: {where}; {load_end:.1f} at the end. Median of {a.repeats} fresh processes each; "
            "cold = empty compilation cache, warm = cache filled by an earlier run (verify/_cache.py); "
            "Python's bytecode cached in both (PYTHONPYCACHEPREFIX, filled by an earlier run). *CPU* is "
            "the process's CPU time, all threads. numpy = tests/numpy_forward.py, "
            f"one example at a time, {fmt(rate)} inputs/s on the saved equality model (n = 20) (median of "
            f"{len(rates)} measurements, {', '.join(fmt(r) for r in rates)}, before and after each command, "
            "so that a change of load during the run weighs on both sides), multiplied out to the same inputs.",
            "",
            table(
                [
                    "command",
                    "inputs",
                    "cold",
                    "warm",
                    "CPU cold",
                    "CPU warm",
                    "numpy, same inputs",
                    "ratio warm",
                    "ratio cold",
                ],
                [
                    [label, f"{k:,}", f"{c:.2f} s", f"{w:.2f} s", f"{cc:.2f} s", f"{cw:.2f} s"]
                    + (
                        [f"{k / rate:.1f} s", f"{k / rate / w:,.0f}x", f"{k / rate / c:,.0f}x"]
                        if "equality" in label
                        else ["-"] * 3
                    )
                    for label, k, c, w, cc, cw in rows
                ],
            ),
            "",
            "Targets (issue: fast start): exhaustive equality at n = 20 warm ≥ 50x numpy; index lookup "
            "at n = 8 warm under 2 s (no numpy ratio: a different model). Met or not: README's speed table "
            "(benchmarks/speed_table.py).",
            "",
            f"Command: `python benchmarks/startup.py --repeats {a.repeats}`.",
        ]
    )
    if a.no_write:
        print(body)
    else:
        write_section("startup", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
