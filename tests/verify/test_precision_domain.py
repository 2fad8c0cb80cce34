"""Certificates only where the forward pass is defined: ``certify`` refuses exactly the formats
that ``predict`` refuses (an unknown name, ``I + F > 59``, or a fixed-point format too wide for the
exact emulation of the model's largest matrix product), with the same one-line message; it declines
(no proof method) the fixed formats whose products need split accumulators, where predict runs."""

import numpy as np
import pytest

from constructions import parse_precision, product_terms
from verify import main
from verify.certify import VerifyError, certify

from testkit import built, task

FLOATS = ["float64", "float32", "float16", "bfloat16"]
GRID = FLOATS + [f"fixed:{i}.{f}" for i in range(32) for f in range(32)]
MODELS = [
    ("index_lookup", "tf1", {"n": 16, "alphabet_size": 2}),
    ("equality", "tf2", {"n": 4}),
    ("disjointness", "tf2", {"n": 6}),
]
DECLINE = "certified mode covers float64 and fixed"  # formats certify has no proof method for


def refusal(fn):
    """The message of the ``ValueError`` that ``fn()`` raises, or None if it runs."""
    try:
        fn()
    except ValueError as e:
        return str(e)
    return None


def total_bits(p):
    return sum(int(v) for v in p.split(":")[1].split(".")) if p.startswith("fixed:") else None


@pytest.mark.parametrize("name,arch,params", MODELS, ids=[f"{t}-{a}-n{p['n']}" for t, a, p in MODELS])
def test_certify_refuses_exactly_what_predict_refuses(name, arch, params):
    m = built(name, arch, **params)
    x = task(name, **params).sample(np.random.default_rng(0), 2)
    cert = {p: refusal(lambda p=p: certify(m, p, witnesses=False)) for p in GRID}
    # every format certify refuses: predict refuses it too, with the same message (no compile is
    # needed to refuse, so the whole grid is checked)
    refused = [p for p in GRID if cert[p] is not None and DECLINE not in cert[p]]
    for p in refused:
        assert refusal(lambda p=p: m.predict(x, p)) == cert[p], p
    # certify declines (no proof method) the fixed formats in which predict runs with split
    # accumulators (constructions/_precision.py), and only those besides the 16/32-bit floats
    terms = product_terms(m)
    wide = {
        p for p in GRID if p.startswith("fixed:") and p not in refused and not parse_precision(p).narrow_holds(terms)
    }
    assert {p for p in GRID if cert[p] and DECLINE in cert[p]} == {"float32", "float16", "bfloat16"} | wide
    assert wide and all("split accumulators" in cert[p] for p in wide)
    # every format certify accepts (or declines for want of a proof method): predict runs in it.
    # Each accepted format costs predict a compilation (~1 s), so predict runs on the floats and on
    # the two extreme formats (all integer bits, all fraction bits) of the largest accepted total
    # I + F, the edge of the domain (the int64 bound depends on the total width only, so a format
    # that fits at the edge fits below it).
    accepted = [p for p in GRID if p not in refused]
    widest = max(total_bits(p) for p in accepted if p.startswith("fixed:"))
    edge = [p for p in accepted if total_bits(p) == widest]
    for p in FLOATS + [edge[0], edge[-1]]:
        assert refusal(lambda p=p: m.predict(x, p)) is None, p
    # and the refused formats are those just above the edge and beyond: the domain is I + F <= widest
    assert all((total_bits(p) or 0) <= widest for p in accepted)
    assert all(total_bits(p) > widest for p in refused)


def test_cli_certify_refuses_the_too_wide_format(capsys):
    args = [
        "--task",
        "index_lookup",
        "--arch",
        "tf1",
        "--n",
        "16",
        "--alphabet-size",
        "2",
        "--precision",
        "fixed:30.29",  # I + F = 59: too wide for a product over the model's 17 keys
    ]
    errors = []
    for mode in (["--certify"], ["--samples", "8"], ["--exhaustive"]):
        assert main(args + mode) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "too wide for exact int64" in err
        errors.append(err)
    assert len(set(errors)) == 1  # the same message from every mode


def test_certify_declines_other_floats_after_the_domain_check():
    with pytest.raises(VerifyError, match=DECLINE):
        certify(built("index_lookup", "tf1", n=4, alphabet_size=2), "float16")
