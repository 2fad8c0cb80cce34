"""One-command accelerator benchmark: whatever JAX devices this process sees, in one run.

    python -m benchmarks.device [--dry-run] [--out PATH] [--cert-ns 65536 131072] [--no-train]

Measures, on ``jax.devices()`` (CPU, GPU or TPU; nothing here is device-specific):

* **exhaustive equality** (tf2, n = 20: all 2^20 inputs) through ``verify.check``: inputs per second;
* **sampled index lookup** (tf1, n = 1,024, alphabet 16, 2^18 inputs) through ``verify.check``: inputs/s;
* **certification** of index lookup (tf1, alphabet 64) at each ``--cert-ns``: build and certify
  seconds and the process's peak memory (the certificate's arithmetic is exact host arithmetic, so a
  device speeds up only what the build runs on it);
* **training step time** of each experiment model of Fig. 2 (TF, LSTM, DSS, Mamba, RetNet; width 64,
  one layer, index lookup at n = 200, batch 64): milliseconds per step after compilation (needs the
  ``train`` extra; skipped with a note when flax/optax are missing or ``--no-train``).

It writes one section of benchmarks/RESULTS.md (or ``--out``) whose marker names the platform and
device kind, e.g. ``device-gpu-nvidia-h200``: a GPU run never replaces CPU numbers, and the script
refuses to write a section whose existing heading names another device. ``--dry-run`` uses tiny sizes,
a few steps, and writes nowhere unless ``--out`` is given; the tests run it on CPU. Every number is
measured in this run; every check it times must pass (asserted), so a wrong model cannot post a
throughput.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._common import RESULTS, fmt, machine, peak_rss_mb, table, write_section  # noqa: E402

FULL = {"eq_n": 20, "il_n": 1024, "il_samples": 1 << 18, "cert_ns": [65536, 131072], "train_n": 200, "steps": 20}
DRY = {"eq_n": 8, "il_n": 32, "il_samples": 1 << 10, "cert_ns": [256], "train_n": 20, "steps": 2}
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


def checks(sizes: dict) -> list[dict]:
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


def certification(ns: list[int]) -> list[dict]:
    """Build and certify index lookup (alphabet 64) at each n; time and peak memory of this process."""
    import constructions
    from verify.certify import certify

    rows = []
    for n in ns:
        t = time.perf_counter()
        model = constructions.build("index_lookup", arch="tf1", n=n, alphabet_size=64, seed=0)
        built = time.perf_counter() - t
        t = time.perf_counter()
        row = certify(model, "float64")
        took = time.perf_counter() - t
        assert row["status"] == "pass", f"certification at n = {n} did not pass ({row['status']})"
        rows.append({"n": n, "build_s": built, "certify_s": took, "peak_mb": peak_rss_mb()})
    return rows


def training(n: int, steps: int, models: list[str] | None = None) -> list[dict] | str:
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


def render(where: str, platform: str, kind: str, sizes: dict, check_rows, cert_rows, train_rows, wall) -> str:
    body = [
        f"## Device benchmark: {platform} ({kind}) (`python -m benchmarks.device`)",
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
        "Certified mode, index lookup tf1, alphabet 64, float64 (build includes the exact coherence check "
        "of the address code; peak = this process's peak RSS so far):",
        "",
        table(
            ["n", "build", "certify", "peak memory"],
            [
                [f"{r['n']:,}", f"{r['build_s']:.1f} s", f"{r['certify_s']:.1f} s", f"{r['peak_mb']:,.0f} MiB"]
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
    return "\n".join(body)


def guard(path: str, name: str, platform: str, kind: str) -> None:
    """Refuse to replace a section under this marker whose heading names another device."""
    if not os.path.exists(path):
        return
    text = open(path).read()
    start = f"<!-- {name}:start -->"
    if start not in text:
        return
    heading = text[text.index(start) :].splitlines()[1]
    if f"{platform} ({kind})" not in heading:
        raise SystemExit(f"device: refusing to overwrite section {name!r} of {path}: it holds {heading!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes and a few steps; writes only to --out")
    ap.add_argument("--out", default=None, help="the Markdown file to write (default benchmarks/RESULTS.md)")
    ap.add_argument("--cert-ns", type=int, nargs="+", default=None, help="sizes n for the certification rows")
    ap.add_argument("--no-train", action="store_true", help="skip the training step times")
    a = ap.parse_args(argv)
    sizes = dict(DRY if a.dry_run else FULL)
    if a.cert_ns:
        if any(n < 2 for n in a.cert_ns):
            ap.error("--cert-ns: every n must be at least 2")
        sizes["cert_ns"] = a.cert_ns
    out = a.out or (None if a.dry_run else RESULTS)
    platform, kind = device_name()
    name = section_name(platform, kind)
    if out:
        guard(out, name, platform, kind)  # before any work: a refused run measures nothing
    t0 = time.perf_counter()
    where = machine()
    check_rows = checks(sizes)
    cert_rows = certification(sizes["cert_ns"])
    train_rows = "skipped (--no-train)" if a.no_train else training(sizes["train_n"], sizes["steps"])
    text = render(where, platform, kind, sizes, check_rows, cert_rows, train_rows, time.perf_counter() - t0)
    if out:
        write_section(name, text, out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
