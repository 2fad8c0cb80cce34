"""Growth: exhaustive equality from n = 14 to 22, sampled index lookup up to n = 65,536, memory.

Every configuration runs in a fresh process (fresh memory, its own compilation, as a user's
``verify`` call would), optionally with the CPU split into several XLA host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=K``: the engine then shards its batches over
them, which is how the same code uses several cores, GPUs or a multi-device host). Recorded:

* the whole verify path (``verify.check``: enumerate or sample, reference solver, model, margins),
  wall and CPU time, its first compilation included;
* the model alone: the compiled forward pass over the same inputs, generation excluded;
* memory: peak resident set of the process (JAX runtime included), its growth during the check,
  and the peak of Python/numpy allocations during the check (tracemalloc).

Usage: ``python benchmarks/growth.py [--quick]``. If the two-layer equality construction is not
registered, exhaustive index lookup is measured instead (the script says so).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import Timer, emit, fmt, isolated, machine, peak_rss_mb, table, write_section  # noqa: E402


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(task: str, params: dict, mode: str, samples: int = 0) -> None:
    """Run in a fresh process: one check, the model alone on the same inputs, memory; print JSON."""
    import tracemalloc

    import jax
    import numpy as np

    import constructions
    import verify

    with Timer() as t_build:
        model = constructions.build(task, seed=0, **params)
    rss_before = _rss_now_mb()
    tracemalloc.start()
    with Timer() as t_check:
        row = verify.check(model, mode=mode, samples=samples, seed=0)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = peak_rss_mb()
    assert row["status"] == "pass", row["counterexample"]
    # the model alone: the same inputs, the compiled forward only (a warm compilation)
    the_task = verify.task_of(model)
    size = model.chunk_size(the_task.seq_len)
    run = model.runner("float64")
    if mode == "exhaustive":
        batches = the_task.enumerate(size)
    else:
        rng = np.random.default_rng(0)
        batches = (the_task.sample(rng, min(size, samples - i)) for i in range(0, samples, size))
    model_wall = model_cpu = 0.0
    warm = False
    for inputs in batches:
        x = model.encode_inputs(inputs)
        if x.shape[0] < size:  # the compiled shape
            x = np.concatenate([x, np.repeat(x[:1], size - x.shape[0], axis=0)])
        if not warm:  # compile outside the timing
            run(x)
            warm = True
        with Timer() as t:
            run(x)
        model_wall += t.wall
        model_cpu += t.cpu
    emit(
        {
            "task": task,
            "params": params,
            "mode": mode,
            "inputs": row["inputs_checked"],
            "devices": len(jax.local_devices()),
            "build_s": t_build.wall,
            "check_s": t_check.wall,
            "check_cpu_s": t_check.cpu,
            "model_s": model_wall,
            "model_cpu_s": model_cpu,
            "peak_rss_mb": peak,
            "rss_growth_mb": peak - rss_before,
            "traced_peak_mb": traced_peak,
        }
    )


def run(task, params, mode, samples=0, devices=None):
    code = f"from benchmarks.growth import child\nchild({task!r}, {params!r}, {mode!r}, {samples!r})"
    r = isolated(code, devices=devices)
    print(r, flush=True)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run; not recorded)")
    args = ap.parse_args(argv)
    import constructions

    where = machine()
    have_equality = ("equality", "tf2") in constructions.available()
    if have_equality:
        exhaustive = [("equality", {"arch": "tf2", "n": n}) for n in ((8, 10) if args.quick else (14, 16, 18, 20, 22))]
    else:
        exhaustive = [("index_lookup", {"arch": "tf1", "n": n, "alphabet_size": 2}) for n in (8, 10, 12, 14, 16)]
    sampled = (
        [(256, 2000), (1024, 2000)]
        if args.quick
        else [(1024, 1_000_000), (4096, 20_000), (16384, 5_000), (65536, 1_000)]
    )

    ex_rows = [run(t, p, "exhaustive") for t, p in exhaustive]
    target = exhaustive[-2]
    ex_two = run(*target, "exhaustive", devices=2)
    sa_rows = [run("index_lookup", {"arch": "tf1", "n": n, "alphabet_size": 16}, "sampled", k) for n, k in sampled]
    sa_two = run(
        "index_lookup", {"arch": "tf1", "n": sampled[0][0], "alphabet_size": 16}, "sampled", sampled[0][1], devices=2
    )

    def rows_of(rs):
        return [
            [
                r["params"]["n"],
                f"{r['inputs']:,}",
                r["devices"],
                f"{r['check_s']:.1f}",
                f"{r['check_cpu_s']:.1f}",
                f"{r['model_s']:.1f}",
                fmt(r["inputs"] / r["check_s"]),
                f"{r['peak_rss_mb']:.0f}",
                f"{r['rss_growth_mb']:.0f}",
                f"{r['traced_peak_mb']:.1f}",
            ]
            for r in rs
        ]

    header = [
        "n",
        "inputs",
        "devices",
        "verify wall (s)",
        "verify CPU (s)",
        "model alone wall (s)",
        "verify inputs/s",
        "peak RSS (MiB)",
        "RSS growth in check (MiB)",
        "numpy/Python peak in check (MiB)",
    ]
    lo, hi = ex_rows[1], ex_rows[-1]
    name = (
        "two-layer equality (`equality`, tf2)"
        if have_equality
        else ("index lookup, s = 2 (the equality construction was not registered when this ran)")
    )
    body = [
        "## Growth and memory (`benchmarks/growth.py`)",
        "",
        f"Machine: {where}. Each row is a fresh process; *verify* is the whole `verify.check` path with "
        "its first compilation; *model alone* is the compiled forward over the same inputs, input generation "
        "excluded. devices = 2: the CPU split into two XLA host devices, the batch sharded over them.",
        "",
        f"### Exhaustive: {name}",
        "",
        table(header, rows_of(ex_rows + [ex_two])),
        "",
        f"Peak RSS n = {lo['params']['n']} → {hi['params']['n']}: {lo['peak_rss_mb']:.0f} → {hi['peak_rss_mb']:.0f} MiB "
        f"({100 * (hi['peak_rss_mb'] / lo['peak_rss_mb'] - 1):+.0f}%) while the input count grows "
        f"{hi['inputs'] // lo['inputs']}-fold; growth during the check {lo['rss_growth_mb']:.0f} → "
        f"{hi['rss_growth_mb']:.0f} MiB.",
        "",
        "### Sampled: index lookup (tf1, s = 16)",
        "",
        table(header, rows_of(sa_rows + [sa_two])),
    ]
    if args.quick:
        print("\n".join(body))
    else:
        write_section("growth", "\n".join(body))


if __name__ == "__main__":
    main()
