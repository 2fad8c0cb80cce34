"""The quadratic-score index lookup's smallest exact precision, n = 2^12 … 2^16, and what it costs.

    python benchmarks/precision_quadratic.py [--samples 500] [--no-write]

Runs ``verify precision --task index_lookup --addresses quadratic`` (verify/_precision_search.py)
as a fresh process at n = 4,096 … 65,536 and records, per n, the smallest fixed-point format exact
on the check set (seeded samples plus the adversarial inputs), its bits (= I + F + 1), the
certified format where certified mode accepts it, the model's width, and the search's seconds;
and the whole command's wall time and peak memory. From n = 8,192 on the quadratic score's
products outgrow one int64 and the fixed-point emulation splits its accumulators
(docs/PRECISION.md); certified mode declines those formats ("-").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import ROOT, machine, table, write_section  # noqa: E402

NS = (4096, 8192, 16384, 32768, 65536)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    where = machine()
    cmd = ["precision", "--task", "index_lookup", "--addresses", "quadratic"]
    cmd += ["--ns", ",".join(map(str, NS)), "--samples", str(a.samples), "--json"]
    code = "import sys; from verify._console import entry; sys.argv = ['verify'] + sys.argv[1:]; entry()"
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *cmd], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if done.returncode != 0:
        raise RuntimeError(f"verify {' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    rows = json.loads(done.stdout)["rows"]
    body = "\n".join(
        [
            "## Precision of the quadratic-score index lookup, n = 2^12 … 2^16 (`benchmarks/precision_quadratic.py`)",
            "",
            f"Machine: {where}. `verify {' '.join(cmd)}`: {wall:.0f} s wall, peak {peak:,.0f} MiB (the "
            "whole process). *sampled*: smallest fixed:I.F exact on the check set; *bits* = I + F + 1; "
            "*certified*: the smallest proved on every input, where certified mode accepts the format (it "
            'declines the split accumulators, "-").',
            "",
            table(
                ["n", "width", "sampled", "bits", "2·log2 n + 1", "certified", "check set", "search (s)"],
                [
                    [
                        f"{r['n']:,}",
                        r["width"],
                        r["fixed"]["precision"] if r.get("fixed") else "-",
                        r["fixed_bits"] if r.get("fixed_bits") is not None else "-",
                        2 * (r["n"].bit_length() - 1) + 1,
                        r["certified"]["precision"] if r.get("certified") else "-",
                        r["check_set"],
                        f"{r['seconds']['search']:.1f}",
                    ]
                    for r in rows
                ],
            ),
            "",
            f"Command: `python benchmarks/precision_quadratic.py --samples {a.samples}`.",
        ]
    )
    if a.no_write:
        print(body)
    else:
        write_section("precision_quadratic", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
