"""One-command accelerator benchmark: whatever JAX devices this process sees, in one run.

    python -m benchmarks.device [--dry-run] [--out PATH] [--cert rs:65536 ...] [--no-train] [--budget S]

Measures, on ``jax.devices()`` (CPU, GPU or TPU; nothing here is device-specific):

* **exhaustive equality** (tf2, n = 20: all 2^20 inputs) through ``verify.check``: inputs per second;
* **sampled index lookup** (tf1, n = 1,024, alphabet 16, 2^18 inputs) through ``verify.check``: inputs/s;
* **certification** of index lookup (tf1, alphabet 64) with the Reed–Solomon address code at
  n = 2^16, 2^18, 2^20 (``--cert``: other codes and sizes): build and certify seconds and the host's
  peak memory, each size in a fresh child process (the certificate's arithmetic is exact host
  arithmetic, so a device speeds up only what the build runs on it);
* **training step time** of each experiment model of Fig. 2 (TF, LSTM, DSS, Mamba, RetNet; width 64,
  one layer, index lookup at n = 200, batch 64): milliseconds per step after compilation (needs the
  ``train`` extra; skipped with a note when flax/optax are missing or ``--no-train``).

It writes one section of benchmarks/RESULTS.md (or ``--out``) whose marker names the platform and
device kind, e.g. ``device-gpu-nvidia-h200``: a GPU run never replaces CPU numbers, and the script
refuses (exit 2, before measuring anything) to write a section whose existing heading names another
device. ``--dry-run`` uses tiny sizes, a few steps, and writes nowhere unless ``--out`` is given; the
tests run it on CPU. Every number is measured in this run; every check it times must pass
(asserted), so a wrong model cannot post a throughput.

Time budget: the measurements run in this order: checks, training steps, then
certification by increasing n; none starts once ``--budget`` seconds (default 240) have passed
since the start; those not started are listed as *not run* in the section. A run therefore ends
within the budget plus its one measurement in progress: under 5 minutes by default wherever no
single measurement takes over 60 s (the longest on this project's 2-core CPU: the certification at
n = 2^20, 45 s to build and certify, plus its child's start).
The whole default run took 141 s on that CPU (benchmarks/RESULTS.md, section ``device-cpu-cpu``);
no accelerator has run it yet. JAX's GPU memory preallocation is turned off for the run
(``XLA_PYTHON_CLIENT_PREALLOCATE=false`` unless set), so the certification children can share the
device with this process.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import RESULTS, fmt, isolated, machine, table, write_section  # noqa: E402

FULL = {
    "eq_n": 20,
    "il_n": 1024,
    "il_samples": 1 << 18,
    "cert": [("rs", 1 << 16), ("rs", 1 << 18), ("rs", 1 << 20)],
    "train_n": 200,
    "steps": 20,
}
DRY = {"eq_n": 8, "il_n": 32, "il_samples": 1 << 10, "cert": [("rs", 256)], "train_n": 20, "steps": 2}
CODES = ("rs", "random", "hadamard")
BUDGET_S = 240.0
TRAIN_MODELS = ["tf", "lstm", "dss", "mamba", "retnet"]


def device_name() -> tuple[str, str]:
    """(platform, device kind) of the first JAX device, e.g. ("gpu", "NVIDIA H200")."""
    import jax

    d = jax.devices()[0]
    return d.platform, getattr(d, "device_kind", d.platform)


def section_name(platform: str, kind: str) -> str:
    """The RESULTS.md marker of this device's section: platform and kind, lower case, dashes."""
    return "device-" + re.sub(r"[^a-z0-9]+", "-", f"{platform} {kind}".lower()).strip("-")


def _rate(k: int, seconds: float) -> float:
    return k / seconds if seconds > 0 else float("inf")


class Budget:
    """Starts no new measurement once ``seconds`` have passed since it was made; remembers what it
    declined, for the section's *not run* line."""

    def __init__(self, seconds: float):
        self.seconds, self.t0, self.skipped = seconds, time.perf_counter(), []

    def allows(self, what: str) -> bool:
        if time.perf_counter() - self.t0 < self.seconds:
            return True
        self.skipped.append(what)
        return False


def checks(sizes: dict, budget: Budget | None = None) -> list[dict]:
    """Throughput of verify's exhaustive and sampled paths (warm: the first call compiles)."""
    import constructions
    import verify

    rows = []
    cases = [
        ("exhaustive equality tf2", "equality", {"arch": "tf2", "n": sizes["eq_n"]}, "exhaustive", 0),
        (
            "sampled index lookup tf1, s = 16",
            "index_lookup",
            {"arch": "tf1", "n": sizes["il_n"], "alphabet_size": 16},
            "sampled",
            sizes["il_samples"],
        ),
    ]
    for label, name, params, mode, samples in cases:
        if budget and not budget.allows(f"{label}, n = {params['n']:,}"):
            continue
        model = constructions.build(name, seed=0, **params)
        t = time.perf_counter()
        verify.check(model, mode=mode, samples=samples, seed=1)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        row = verify.check(model, mode=mode, samples=samples, seed=1)
        warm = time.perf_counter() - t
        assert row["status"] == "pass", f"{label}: the check failed ({row['status']})"
        k = row["inputs_checked"]
        rows.append({"label": f"{label}, n = {params['n']:,}", "inputs": k, "cold_s": cold, "warm_s": warm})
    return rows


def certification(sizes: list[tuple[str, int]], budget: Budget | None = None) -> list[dict]:
    """Build and certify index lookup (tf1, alphabet 64, float64) for each (address code, n), each in a
    fresh child process (benchmarks/certify_index_lookup.py's child): seconds and the child's peak
    host memory (VmHWM)."""
    from benchmarks.certify_index_lookup import _CHILD

    rows = []
    for code, n in sizes:
        if budget and not budget.allows(f"certify {code} n = {n:,}"):
            continue
        r = isolated(_CHILD % (n, 64, code), timeout=1800)
        assert r["status"] == "pass", f"certification of {code} at n = {n} did not pass ({r['status']})"
        assert r["cells_proved"] == r["cells"], f"{code} n = {n}: {r['cells_proved']} of {r['cells']} cells proved"
        rows.append(dict(r, n=n))
    return rows


def training(n: int, steps: int, models: list[str] | None = None, budget: Budget | None = None) -> list[dict] | str:
    """Milliseconds per training step of each Fig. 2 model (one layer, width 64), after compilation."""
    try:
        import jax
        import jax.numpy as jnp
        import numpy as np
        import optax

        from experiments import data
        from experiments import models as zoo
    except ImportError as exc:  # the train extra is optional
        return f"skipped: {exc} (install the `train` extra)"
    rows = []
    src = data.make("index_lookup", n)
    for name in models or TRAIN_MODELS:
        if budget and not budget.allows(f"training step {name}"):
            continue
        module = zoo.build(name, vocab=src.vocab, max_len=src.max_len, width=64, layers=1, classes=src.classes)
        rng = np.random.default_rng(0)
        tok, lens, lab = src.train_batch(rng, 64)
        params = module.init(jax.random.PRNGKey(0), jnp.asarray(tok), jnp.asarray(lens))["params"]
        opt = optax.adam(1e-3)
        state = opt.init(params)

        def loss_fn(p, tokens, lengths, labels, module=module):
            logits = module.apply({"params": p}, tokens, lengths)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        @jax.jit
        def step(p, s, tokens, lengths, labels, opt=opt, loss_fn=loss_fn):
            loss, grads = jax.value_and_grad(loss_fn)(p, tokens, lengths, labels)
            updates, s = opt.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

        t = time.perf_counter()
        params, state, loss = step(params, state, tok, lens, lab)
        jax.block_until_ready(loss)
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(steps):
            params, state, loss = step(params, state, tok, lens, lab)
        jax.block_until_ready(loss)
        per = (time.perf_counter() - t) / steps
        assert bool(jnp.isfinite(loss)), f"{name}: the loss is not finite"
        rows.append({"model": name, "ms_per_step": 1000 * per, "compile_s": compile_s, "steps": steps})
    return rows


def render(where: str, platform: str, kind: str, sizes: dict, check_rows, cert_rows, train_rows, wall, budget) -> str:
    body = [
        f"## Device benchmark: {platform} ({kind}) (`benchmarks/device.py`)",
        "",
        f"Machine: {where}. Whole run {wall:.0f} s.",
        "",
        "Checks through `verify.check` (warm = second call; cold includes compilation); every check passed.",
        "",
        table(
            ["check", "inputs", "inputs/s (warm)", "warm", "cold"],
            [
                [r["label"], f"{r['inputs']:,}", fmt(_rate(r["inputs"], r["warm_s"])), f"{r['warm_s']:.2f} s"]
                + [f"{r['cold_s']:.2f} s"]
                for r in check_rows
            ],
        ),
        "",
        "Certified mode, index lookup tf1, alphabet 64, float64, every input; each row a fresh process "
        "(build includes the address code's coherence proof; *peak*: the process's peak host memory, VmHWM; "
        "CPU seconds of all threads in brackets):",
        "",
        table(
            ["addresses", "n", "width", "method", "per cell", "build", "certify", "peak memory", "cells proved"],
            [
                [
                    r["scheme"],
                    f"{r['n']:,}",
                    r["width"],
                    r["method"],
                    r["cost"],
                    f"{r['build_s']:.1f} s ({r['build_cpu']:.1f})",
                    f"{r['certify_s']:.1f} s ({r['certify_cpu']:.1f})",
                    f"{r['peak_mib']:,.0f} MiB",
                    f"{r['cells_proved']:,} / {r['cells']:,}",
                ]
                for r in cert_rows
            ],
        ),
        "",
    ]
    if isinstance(train_rows, str):
        body.append(f"Training step time: {train_rows}.")
    else:
        body += [
            f"Training step time, index lookup n = {sizes['train_n']}, batch 64, one layer, width 64 "
            f"(mean over {sizes['steps']} steps after the compiling one):",
            "",
            table(
                ["model", "ms / step", "first step (compile)"],
                [[r["model"], f"{r['ms_per_step']:.1f}", f"{r['compile_s']:.1f} s"] for r in train_rows],
            ),
        ]
    if budget.skipped:
        body += [
            "",
            f"Not run (the {budget.seconds:g} s budget was spent before they started): "
            + "; ".join(budget.skipped)
            + ".",
        ]
    return "\n".join(body)


def guard(path: str, name: str, platform: str, kind: str) -> str | None:
    """Why a section under this marker may not be replaced (its heading names another device), or None."""
    if not os.path.exists(path):
        return None
    text = open(path).read()
    start = f"<!-- {name}:start -->"
    if start not in text:
        return None
    heading = text[text.index(start) :].splitlines()[1]
    if f"{platform} ({kind})" not in heading:
        return f"refusing to overwrite section {name!r} of {path}: it holds {heading!r}"
    return None


def _cert_size(text: str) -> tuple[str, int]:
    """``"rs:65536"`` -> ("rs", 65536); argparse turns the ValueError into a one-line error."""
    code, _, n = text.partition(":")
    if code not in CODES or not n.isdigit() or int(n) < 2:
        raise argparse.ArgumentTypeError(
            f"expected CODE:N with CODE one of {', '.join(CODES)} and N >= 2, got {text!r}"
        )
    return code, int(n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.device", description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes and a few steps; writes only to --out")
    ap.add_argument("--out", default=None, help="the Markdown file to write (default benchmarks/RESULTS.md)")
    ap.add_argument(
        "--cert",
        type=_cert_size,
        nargs="+",
        default=None,
        metavar="CODE:N",
        help="address code and n of each certification row (default rs:65536 rs:262144 rs:1048576)",
    )
    ap.add_argument("--no-train", action="store_true", help="skip the training step times")
    ap.add_argument(
        "--budget", type=float, default=BUDGET_S, help=f"start no measurement after this many seconds ({BUDGET_S:.0f})"
    )
    a = ap.parse_args(argv)
    if not a.budget > 0:
        ap.error(f"--budget: expected a positive number of seconds, got {a.budget}")
    sizes = dict(DRY if a.dry_run else FULL)
    if a.cert:
        sizes["cert"] = a.cert
    out = a.out or (None if a.dry_run else RESULTS)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before JAX starts: children share the GPU
    platform, kind = device_name()
    name = section_name(platform, kind)
    if out and (why := guard(out, name, platform, kind)):  # before any work: a refused run measures nothing
        print(f"device: {why}", file=sys.stderr)
        return 2
    budget = Budget(a.budget)
    where = machine()
    check_rows = checks(sizes, budget)
    train_rows = "skipped (--no-train)" if a.no_train else training(sizes["train_n"], sizes["steps"], budget=budget)
    cert_rows = certification(sizes["cert"], budget)
    wall = time.perf_counter() - budget.t0
    text = render(where, platform, kind, sizes, check_rows, cert_rows, train_rows, wall, budget)
    if out:
        write_section(name, text, out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
