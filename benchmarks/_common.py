"""Shared helpers of the benchmark scripts: the machine, timers, isolated runs, RESULTS.md.

Not part of the test suite. Every number a script writes is measured in that run; nothing is
typed in. Wall-clock times on a shared machine are noisy, so CPU time (all threads of the
process) is recorded beside them.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time

from fileio import atomic_write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "RESULTS.md")
for path in (ROOT, os.path.join(ROOT, "tests")):  # the package, and tests/numpy_forward.py
    if path not in sys.path:
        sys.path.insert(0, path)


def machine() -> str:
    """One line naming the machine: cores, CPU model, load when measured, JAX devices."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            found = re.search(r"model name\s*:\s*(.+)", fh.read())
            model = found.group(1).strip() if found else model
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import jax

    devices = jax.local_devices()
    return (
        f"{os.cpu_count()}-core CPU ({model}), this sandbox, shared with other jobs "
        f"(1-min load average {load:.1f} at the start); JAX {jax.__version__}, "
        f"{len(devices)} {devices[0].platform} device(s)"
    )


class Timer:
    """``with Timer() as t: ...`` then ``t.wall``, ``t.cpu`` (seconds; CPU time of all threads)."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def isolated(code: str, devices: int | None = None, timeout: int = 1800) -> dict:
    """Run ``code`` in a fresh Python process (fresh memory, fresh compilation) and return the JSON
    object it prints on its last line. ``devices``: force that many host devices (XLA_FLAGS)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]))
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    prelude = "import sys; sys.path[:0] = %r\nfrom benchmarks._common import *\n" % [ROOT, os.path.join(ROOT, "tests")]
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def emit(obj) -> None:
    """The child's answer: one JSON line on stdout."""
    print(json.dumps(obj), flush=True)


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
    return "\n".join([line(header), line(["---"] * len(header))] + [line(r) for r in rows])


def write_section(name: str, body: str, path: str | None = None) -> None:
    """Replace (or append) the section ``name`` of ``path`` (default benchmarks/RESULTS.md), between
    markers ``<!-- name:start -->`` and ``<!-- name:end -->``. The file is replaced atomically (a
    temporary file in the same folder, flushed, then renamed): an interrupted run leaves it whole."""
    path = path or RESULTS
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = (
        open(path).read()
        if os.path.exists(path)
        else (
            "# Benchmark results\n\nWritten by the scripts in this folder (`python benchmarks/<script>.py`); "
            "each section says which script and which machine produced it.\n"
        )
    )
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write(path, lambda fh: fh.write(text), text=True)
    print(body)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table: thousands separators for big ones, ``digits`` significant otherwise."""
    if x >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"
