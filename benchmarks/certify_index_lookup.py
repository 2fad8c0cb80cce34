"""Time certified mode (verify/certify/) on index lookup at n = 65,536, alphabet 64.

    python benchmarks/certify_index_lookup.py [--n N] [--alphabet-size S] [--precision P] [--cache PATH]

Building the model (the exact n² coherence check of its random address code) is timed apart from
the certificate; ``--cache`` saves the built model and reuses it on the next run. Prints one JSON
line: build and certify seconds, cells proved, the certified margin and log2 of the inputs covered.
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
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--alphabet-size", type=int, default=64)
    p.add_argument("--precision", default="float64")
    p.add_argument("--addresses", default="random")
    p.add_argument("--cache", default=None, help="a .npz path to save / reuse the built model")
    p.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    a = p.parse_args()
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
