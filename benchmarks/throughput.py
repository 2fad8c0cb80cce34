"""Throughput: verify's batched path against a plain per-example numpy forward, in one run.

For each model (saved to an .npz first, as a user would hand it over):

* **numpy, per example** — tests/numpy_forward.py, written from docs/MODEL.md alone: one example
  at a time, every layer at every position, float64;
* **model alone** — ``Model.predict`` (compiled, batched, evaluating only what the readout reads);
* **whole verify path** — ``verify.check(model, mode="sampled")``: sampler, reference solver,
  model, margins; warm (the first call's compilation is reported separately).

The numpy forward and the model are run on the same inputs and must agree on every prediction
(checked here). Usage: ``python benchmarks/throughput.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import constructions  # noqa: E402
import verify  # noqa: E402
from benchmarks._common import Timer, fmt, machine, table, write_section  # noqa: E402

import numpy_forward  # noqa: E402

CASES = [  # (label, construction, build params, numpy inputs, verify inputs)
    ("equality tf2, n = 20", "equality", {"arch": "tf2", "n": 20}, 2_000, 1 << 18),
    (
        "index lookup tf1, n = 1024, s = 16",
        "index_lookup",
        {"arch": "tf1", "n": 1024, "alphabet_size": 16},
        300,
        1 << 15,
    ),
]


def numpy_per_example(path, inputs):
    arrays, meta = numpy_forward.read(path)
    fn = numpy_forward.rnn_logits if meta["arch"] == "rnn" else numpy_forward.transformer_logits
    return np.array([int(np.argmax(fn(arrays, meta, np.asarray(x)))) for x in inputs])


def measure(label, name, params, k_numpy, k_verify, tmp):
    model = constructions.build(name, seed=0, **params)
    path = os.path.join(tmp, f"{name}.npz")
    model.save(path)
    model = constructions.load(path)  # the saved model, for both sides
    task = verify.task_of(model)
    x = task.sample(np.random.default_rng(0), k_numpy)
    with Timer() as t_np:
        ref = numpy_per_example(path, x)
    model.predict(x[:8])  # compile the small shape outside the timing
    model.predict(x)  # and the timed one
    with Timer() as t_model_same:
        got = model.predict(x)
    assert np.array_equal(ref, got), "numpy forward and Model.predict disagree"
    assert np.array_equal(got, task.solve(x)), "the model fails on the benchmark inputs"
    big = task.sample(np.random.default_rng(1), k_verify)
    model.predict(big[: 2 * model.chunk_size(task.seq_len)])  # compiles the chunk shape outside the timing
    with Timer() as t_model:
        model.predict(big)
    with Timer() as t_cold:
        row = verify.check(model, mode="sampled", samples=k_verify, seed=1)
    with Timer() as t_warm:
        row = verify.check(model, mode="sampled", samples=k_verify, seed=1)
    assert row["status"] == "pass" and row["inputs_checked"] == k_verify
    rate = lambda k, t: k / t.wall  # noqa: E731
    return {
        "label": label,
        "numpy": rate(k_numpy, t_np),
        "numpy_cpu": k_numpy / t_np.cpu,
        "model_same": rate(k_numpy, t_model_same),
        "model": rate(k_verify, t_model),
        "model_cpu": k_verify / t_model.cpu,
        "verify": rate(k_verify, t_warm),
        "verify_cpu": k_verify / t_warm.cpu,
        "verify_cold_s": t_cold.wall,
        "k_numpy": k_numpy,
        "k_verify": k_verify,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer inputs (a smoke run; not recorded)")
    args = ap.parse_args(argv)
    where = machine()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, params, k_np, k_v in CASES:
            if args.quick:
                k_np, k_v = max(20, k_np // 20), max(512, k_v // 64)
            r = measure(label, name, params, k_np, k_v, tmp)
            rows.append(r)
            print(r, flush=True)
    body = [
        "## Throughput: verify against a per-example numpy forward (`benchmarks/throughput.py`)",
        "",
        f"Machine: {where}.",
        "",
        "Inputs per second, wall clock (CPU-time rate in brackets: inputs per CPU-second of all threads). "
        "*numpy* is tests/numpy_forward.py run one example at a time on the saved model; *model* is "
        '`Model.predict`; *verify* is the whole `verify.check(mode="sampled")` path (sampler + reference '
        "solver + model + margins), warm. Both forwards agree on every numpy input (asserted).",
        "",
        table(
            [
                "model",
                "numpy per example",
                "model alone (same inputs)",
                "model alone",
                "verify (whole path)",
                "verify / numpy",
                "first verify call (with compilation)",
            ],
            [
                [
                    r["label"],
                    f"{fmt(r['numpy'])} ({fmt(r['numpy_cpu'])}) [{r['k_numpy']:,}]",
                    fmt(r["model_same"]),
                    f"{fmt(r['model'])} ({fmt(r['model_cpu'])}) [{r['k_verify']:,}]",
                    f"{fmt(r['verify'])} ({fmt(r['verify_cpu'])})",
                    f"{r['verify'] / r['numpy']:,.0f}x",
                    f"{r['verify_cold_s']:.1f} s",
                ]
                for r in rows
            ],
        ),
        "",
        "[k] = number of inputs timed.",
    ]
    if not args.quick:
        write_section("throughput", "\n".join(body))
    else:
        print("\n".join(body))


if __name__ == "__main__":
    main()
