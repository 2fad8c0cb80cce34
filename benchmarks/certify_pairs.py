"""Time certified mode (verify/_certify.py) on equality and disjointness (two layers) at n = 4096.

    python benchmarks/certify_pairs.py [--n N] [--precision P ...]

Prints one JSON line per (task, precision): build and certify seconds, cells proved, certified
margin, inputs covered.
"""

import argparse
import json
import os
import time

import constructions
from verify._certify import certify


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--precision", nargs="+", default=["float64", "fixed:13.12"])
    a = p.parse_args()
    for task in ("equality", "disjointness"):
        t = time.perf_counter()
        model = constructions.build(task, arch="tf2", n=a.n, seed=0)
        built = time.perf_counter() - t
        for prec in a.precision:
            t = time.perf_counter()
            row = certify(model, prec)
            print(json.dumps({"task": task, "n": a.n, "precision": prec, "width": row["width"],
                              "build_seconds": round(built, 1), "certify_seconds": round(time.perf_counter() - t, 1),
                              "status": row["status"], "cells_proved": row["certificate"]["cells_proved"],
                              "cells": row["certificate"]["cells"], "min_margin": row["min_margin"],
                              "inputs_covered": row["certificate"]["inputs_covered"], "cpus": os.cpu_count()}),
                  flush=True)


if __name__ == "__main__":
    main()
