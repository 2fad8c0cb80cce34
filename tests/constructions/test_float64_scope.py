"""64-bit JAX is switched on only where the models compute (``constructions.float64_scope``).

Importing ``constructions``, building, predicting, checking and searching precisions leave the
process on JAX's 32-bit default; inside, float64 and the int64 grid are real 64-bit arithmetic.
Run in a fresh interpreter (``JAX_ENABLE_X64`` unset), so that nothing else in the test process
can have changed the setting.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CODE = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import constructions, tasks, verify
    from constructions import FixedArithmetic

    def off(where):
        assert not jax.config.jax_enable_x64, where
        assert jnp.zeros(1).dtype == jnp.float32, where

    off("after import")
    m = constructions.build("equality", arch="tf2", n=8)
    r = constructions.build("dyck", arch="rnn", n=8)
    off("after build")
    x = np.concatenate(list(tasks.get("equality", n=8).enumerate(64)))
    y = tasks.get("equality", n=8).solve(x)
    assert np.array_equal(m.predict(x), y)
    off("after predict")

    # float64 inside: a bias offset of 1e-9 (below float32's resolution at these logits) survives
    C = m.num_classes
    shift = 1e-9 * np.arange(C)
    b = m.arrays()["readout/b"]
    assert np.all(np.float32(b + shift) == np.float32(b))  # float32 would lose it
    moved = m.with_arrays(**{"readout/b": b + shift})
    got = moved.logits(x) - m.logits(x)
    assert m.logits(x).dtype == np.float64
    assert np.allclose(got, shift[None, :], rtol=0, atol=1e-15), np.abs(got - shift).max()
    off("after logits")

    # the int64 grid inside: fixed:13.12 products need 2(I+F) = 50 bits, more than int32 holds
    lg = m.logits(x, precision="fixed:13.12")
    assert np.array_equal(np.argmax(lg, 1), y)
    run = m.traced_runner()
    assert np.array_equal(run(FixedArithmetic(13, 12), m.encode_inputs(x)), lg)
    fn, prepared = m.forward("fixed:13.12")
    assert prepared[0].embed.dtype == jnp.int64
    off("after the fixed grid")

    t = tasks.get("dyck", n=8)
    xs = t.sample(np.random.default_rng(0), 32)
    hs = r.hidden_states(xs)
    assert hs.dtype == np.float64 and hs.shape[:2] == (32, 9)
    off("after hidden_states")

    row = verify.check(m, mode="exhaustive")
    assert row["status"] == "pass" and row["inputs_checked"] == len(x)
    row = verify.check(m, mode="exhaustive", precision="fixed:13.12")
    assert row["status"] == "pass"
    off("after check")

    with constructions.float64_scope():
        assert jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float64
        with constructions.float64_scope():  # nests
            pass
        assert jax.config.jax_enable_x64
    off("after a scope")
    print("ok")
""")


def test_x64_only_inside_the_models_computations():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
