"""Time certified mode (verify/certify/) on equality and disjointness (two layers) at n = 4096.

    python benchmarks/certify_pairs.py [--n N] [--precision P ...]

Prints one JSON line per (task, precision): build and certify seconds, cells proved, certified
margin, inputs covered.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import constructions  # noqa: E402
from benchmarks._common import machine, table, write_section  # noqa: E402
from verify.certify import certify  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--precision", nargs="+", default=["float64", "fixed:13.12"])
    p.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    a = p.parse_args()
    where, rows = machine(), []
    for task in ("equality", "disjointness"):
        t = time.perf_counter()
        model = constructions.build(task, arch="tf2", n=a.n, seed=0)
        built = time.perf_counter() - t
        for prec in a.precision:
            t = time.perf_counter()
            row = certify(model, prec)
            r = {
                "task": task,
                "n": a.n,
                "precision": prec,
                "width": row["width"],
                "build_seconds": round(built, 1),
                "certify_seconds": round(time.perf_counter() - t, 1),
                "status": row["status"],
                "cells_proved": row["certificate"]["cells_proved"],
                "cells": row["certificate"]["cells"],
                "min_margin": row["min_margin"],
                "inputs_covered": row["certificate"]["inputs_covered"],
                "cpus": os.cpu_count(),
            }
            rows.append(r)
            print(json.dumps(r), flush=True)
    if a.no_write:
        return
    write_section(
        "certify_pairs",
        "\n".join(
            [
                "## Certified mode: equality and disjointness, two layers (`benchmarks/certify_pairs.py`)",
                "",
                f"Machine: {where}.",
                "",
                "Every one of the 2^n inputs proved (verify/certify/); *build* is constructing the model, *certify* the proof.",
                "",
                table(
                    [
                        "task",
                        "n",
                        "precision",
                        "width",
                        "build (s)",
                        "certify (s)",
                        "cells proved",
                        "inputs covered",
                        "certified min margin",
                        "status",
                    ],
                    [
                        [
                            r["task"],
                            f"{r['n']:,}",
                            r["precision"],
                            r["width"],
                            r["build_seconds"],
                            r["certify_seconds"],
                            f"{r['cells_proved']:,} / {r['cells']:,}",
                            r["inputs_covered"],
                            f"{r['min_margin']:.4f}",
                            r["status"],
                        ]
                        for r in rows
                    ],
                ),
                "",
                f"Command: `python benchmarks/certify_pairs.py --n {a.n} --precision {' '.join(a.precision)}`.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
