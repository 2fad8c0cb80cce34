"""Soundness of the pair certificates (equality, disjointness) on perturbed models: one weight
moved by several scales; whenever ``certify`` passes, the exhaustive check (every input, n <= 16)
passes too. The certificate may refuse a correct model, never accept a wrong one."""

import numpy as np
import pytest

from verify import check
from verify.certify import certify

from testkit import built

SCALES = (1e-6, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


@pytest.mark.parametrize(
    "task,n,precision",
    [
        ("equality", 8, "float64"),
        ("disjointness", 8, "float64"),
        ("equality", 6, "fixed:6.10"),
        ("disjointness", 12, "fixed:6.10"),
        ("equality", 16, "float64"),
    ],
)
def test_pair_certificate_sound_on_one_weight_perturbations(task, n, precision):
    base = built(task, "tf2", n=n, seed=0)
    arrays = base.arrays()
    rng = np.random.default_rng(n)
    names = sorted(k for k, a in arrays.items() if np.any(a))
    seen = {"pass": 0, "fail": 0, "wrong": 0}
    for trial in range(9):
        name = names[rng.integers(len(names))]
        a = arrays[name]
        # two in three trials move a nonzero entry (the compiled forward is reused), one any entry
        pool = np.flatnonzero(a) if trial % 3 else np.arange(a.size)
        at = np.unravel_index(rng.choice(pool), a.shape)
        sign = rng.choice([-1.0, 1.0])
        for scale in SCALES:
            moved = a.copy()
            moved[at] += sign * scale * np.abs(a).max()
            m = base.with_arrays(**{name: moved})
            row = certify(m, precision, witnesses=False)
            ex = check(m, mode="exhaustive", precision=precision)
            seen[row["status"]] += 1
            seen["wrong"] += ex["status"] == "fail"
            if row["status"] == "pass":
                assert ex["status"] == "pass", (name, at, scale, precision)
    # both outcomes occurred and some perturbation broke the model: the implication was tested
    assert seen["pass"] and seen["fail"] and seen["wrong"], seen
