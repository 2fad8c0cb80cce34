"""Time certified mode (verify/certify/) on index lookup at n = 65,536, alphabet 64.

    python benchmarks/certify_index_lookup.py [--n N] [--alphabet-size S] [--precision P] [--cache PATH]
    python benchmarks/certify_index_lookup.py --scaling     # n = 2^16, 2^18, 2^20 (Reed–Solomon), 2^16, 2^17 (random)

Building the model (the exact n² coherence check of its random address code) is timed apart from
the certificate; ``--cache`` saves the built model and reuses it on the next run. Prints one JSON
line: build and certify seconds, cells proved, the certified margin and log2 of the inputs covered.

``--scaling`` runs each size in a fresh child process (benchmarks/_common.py: ``isolated``) and
records its build and certify seconds and its peak resident memory (``VmHWM`` of the child's own
/proc/self/status, read at its end: the peak of that process alone), then writes the section
``certify_index_lookup_scaling`` of benchmarks/RESULTS.md.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import constructions  # noqa: E402
from benchmarks._common import isolated, machine, table, write_section  # noqa: E402
from verify.certify import certify  # noqa: E402

SCALING = [("rs", 1 << 16), ("rs", 1 << 18), ("rs", 1 << 20), ("random", 1 << 16), ("random", 1 << 17)]

_CHILD = """
import time, constructions
from verify.certify import certify
from verify.certify._threads import cores
t, c0 = time.perf_counter(), time.process_time()
model = constructions.build("index_lookup", arch="tf1", n=%d, alphabet_size=%d, seed=0, addresses=%r)
built, built_cpu = time.perf_counter() - t, time.process_time() - c0
t, c0 = time.perf_counter(), time.process_time()
row = certify(model, "float64")
took, took_cpu = time.perf_counter() - t, time.process_time() - c0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
c = row["certificate"]
emit({"build_s": built, "certify_s": took, "build_cpu": built_cpu, "certify_cpu": took_cpu, "peak_mib": int(hwm) / 1024, "status": row["status"],
      "cells": c["cells"], "cells_proved": c["cells_proved"], "min_margin": row["min_margin"],
      "method": c.get("method"), "cost": c.get("cost_per_cell"), "threads": cores(), "width": model.size()["width"],
      "scheme": model.metadata.construction["address_code"]["scheme"]})
"""


def scaling(alphabet: int, write: bool, only: str | None = None, log: str | None = None) -> None:
    """Every size of :data:`SCALING` (or of ``only``, ``"rs:65536,random:131072"``) in its own child
    process; one table. ``log``: a JSON-lines file of rows measured by earlier runs (this run's
    rows are appended), so runs in parallel fill one table; rows in :data:`SCALING` order."""
    where = machine()
    if only == "none":  # rewrite the table from ``log`` alone
        sizes = []
    else:
        sizes = SCALING if not only else [(k, int(v)) for k, v in (x.split(":") for x in only.split(","))]
    rows = [json.loads(x) for x in open(log)] if log and os.path.exists(log) else []
    for kind, n in sizes:
        r = isolated(_CHILD % (n, alphabet, kind), timeout=3600)
        r.update(addresses=kind, n=n, load=os.getloadavg()[0])
        print(json.dumps(r), flush=True)
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps(r) + "\n")
            rows = [json.loads(x) for x in open(log)]
        else:
            rows.append(r)
        rows.sort(key=lambda r: (r["addresses"] != "rs", r["n"]))
        if write:  # after every row: a long run leaves the rows it finished
            _scaling_section(where, rows, alphabet)
    if not sizes and write and rows:
        rows.sort(key=lambda r: (r["addresses"] != "rs", r["n"]))
        _scaling_section(where, rows, alphabet)


def _scaling_section(where: str, rows: list, alphabet: int) -> None:
    write_section(
        "certify_index_lookup_scaling",
        "\n".join(
            [
                "## Certified mode at n = 2^16 … 2^20: index lookup (`benchmarks/certify_index_lookup.py --scaling`)",
                "",
                f"Machine: {where}.",
                "",
                "Each row is one fresh process: build the construction (for the random code including its exact "
                "n² coherence check, in tiles of 2,048 × 8,192), then `certify` (float64, every input). *method* "
                "`code`: off-target scores bounded from the Reed–Solomon code's distance, O(r) per cell "
                "(verify/certify/_index_code.py); `general`: the n² Gram row maxima, O(n·r) per cell. *peak* is "
                "the child's VmHWM; CPU seconds (all threads) in brackets; *threads*: the chunks proved at once "
                "(verify/certify/_threads.py; the build is one thread). *load*: 1-min load average after the row "
                "(the machine's other jobs count in it).",
                "",
                table(
                    [
                        "addresses",
                        "n",
                        "width",
                        "method",
                        "per cell",
                        "threads",
                        "build (s)",
                        "certify (s)",
                        "peak (MiB)",
                        "cells proved",
                        "certified min margin",
                        "status",
                        "load",
                    ],
                    [
                        [
                            r["scheme"],
                            f"{r['n']:,}",
                            r["width"],
                            r["method"],
                            r["cost"],
                            r.get("threads", 1),
                            f"{r['build_s']:.1f} ({r['build_cpu']:.1f})",
                            f"{r['certify_s']:.1f} ({r['certify_cpu']:.1f})",
                            f"{r['peak_mib']:,.0f}",
                            f"{r['cells_proved']:,} / {r['cells']:,}",
                            f"{r['min_margin']:.4f}",
                            r["status"],
                            f"{r['load']:.1f}",
                        ]
                        for r in rows
                    ],
                ),  # fmt: skip
                "",
                f"Command: `python benchmarks/certify_index_lookup.py --scaling --alphabet-size {alphabet}`.",
            ]
        ),
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--alphabet-size", type=int, default=64)
    p.add_argument("--precision", default="float64")
    p.add_argument("--addresses", default="random")
    p.add_argument("--cache", default=None, help="a .npz path to save / reuse the built model")
    p.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    p.add_argument("--scaling", action="store_true", help="n = 2^16, 2^18, 2^20 (rs) and 2^16, 2^17 (random)")
    p.add_argument("--only", default=None, help="with --scaling: KIND:N,... instead of the default sizes")
    p.add_argument("--log", default=None, help="with --scaling: JSON-lines file of rows shared by runs")
    a = p.parse_args()
    if a.scaling:
        return scaling(a.alphabet_size, not a.no_write, a.only, a.log)
    where = machine()
    t = time.perf_counter()
    if a.cache and os.path.exists(a.cache):
        model, how = constructions.load(a.cache), "loaded"
    else:
        model = constructions.build(
            "index_lookup", arch="tf1", n=a.n, alphabet_size=a.alphabet_size, seed=0, addresses=a.addresses
        )
        how = "built"
        if a.cache:
            model.save(a.cache)
    prep = time.perf_counter() - t
    t = time.perf_counter()
    row = certify(model, a.precision)
    took = time.perf_counter() - t
    r = {
        "task": "index_lookup",
        "n": model.task_params["n"],
        "alphabet_size": model.task_params["alphabet_size"],
        "precision": a.precision,
        "addresses": model.metadata.build.get("addresses"),
        "model": how,
        "model_seconds": round(prep, 1),
        "certify_seconds": round(took, 1),
        "status": row["status"],
        "cells_proved": row["certificate"]["cells_proved"],
        "cells": row["certificate"]["cells"],
        "min_margin": row["min_margin"],
        "inputs_covered": row["certificate"]["inputs_covered"],
        "inputs_covered_log2": row["certificate"]["inputs_covered_log2"],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(r))
    if a.no_write:
        return
    write_section(
        "certify_index_lookup",
        "\n".join(
            [
                "## Certified mode: index lookup (`benchmarks/certify_index_lookup.py`)",
                "",
                f"Machine: {where}.",
                "",
                "Every input proved (verify/certify/): n·s cells, each an enclosure over all s^(n−1) inputs. "
                "*model* is building the construction (including the exact n² coherence check of its address code) "
                "or loading it from `--cache`; *certify* is the proof alone.",
                "",
                table(
                    [
                        "n",
                        "alphabet",
                        "precision",
                        "model (s)",
                        "certify (s)",
                        "cells proved",
                        "inputs covered",
                        "certified min margin",
                        "status",
                    ],
                    [
                        [
                            f"{r['n']:,}",
                            r["alphabet_size"],
                            r["precision"],
                            f"{r['model_seconds']} ({how})",
                            r["certify_seconds"],
                            f"{r['cells_proved']:,} / {r['cells']:,}",
                            r["inputs_covered"],
                            f"{r['min_margin']:.4f}",
                            r["status"],
                        ]
                    ],
                ),
                "",
                f"Command: `python benchmarks/certify_index_lookup.py --n {r['n']} --alphabet-size {r['alphabet_size']} "
                f"--precision {r['precision']}`.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
