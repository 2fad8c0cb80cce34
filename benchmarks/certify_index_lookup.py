"""Time certified mode (verify/_certify.py) on index lookup at n = 65,536, alphabet 64.

    python benchmarks/certify_index_lookup.py [--n N] [--alphabet-size S] [--precision P] [--cache PATH]

Building the model (the exact n² coherence check of its random address code) is timed apart from
the certificate; ``--cache`` saves the built model and reuses it on the next run. Prints one JSON
line: build and certify seconds, cells proved, the certified margin and log2 of the inputs covered.
"""

import argparse
import json
import os
import time

import constructions
from verify._certify import certify


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--alphabet-size", type=int, default=64)
    p.add_argument("--precision", default="float64")
    p.add_argument("--addresses", default="random")
    p.add_argument("--cache", default=None, help="a .npz path to save / reuse the built model")
    a = p.parse_args()
    t = time.perf_counter()
    if a.cache and os.path.exists(a.cache):
        model, how = constructions.load(a.cache), "loaded"
    else:
        model = constructions.build("index_lookup", arch="tf1", n=a.n, alphabet_size=a.alphabet_size, seed=0,
                                    addresses=a.addresses)
        how = "built"
        if a.cache:
            model.save(a.cache)
    prep = time.perf_counter() - t
    t = time.perf_counter()
    row = certify(model, a.precision)
    took = time.perf_counter() - t
    print(json.dumps({"task": "index_lookup", "n": model.task_params["n"],
                      "alphabet_size": model.task_params["alphabet_size"], "precision": a.precision,
                      "addresses": model.meta["build"].get("addresses"), "model": how, "model_seconds": round(prep, 1),
                      "certify_seconds": round(took, 1), "status": row["status"],
                      "cells_proved": row["certificate"]["cells_proved"], "cells": row["certificate"]["cells"],
                      "min_margin": row["min_margin"], "inputs_covered": row["certificate"]["inputs_covered"],
                      "inputs_covered_log2": row["certificate"]["inputs_covered_log2"], "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
