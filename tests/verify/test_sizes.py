"""The closed-form sizes (verify/_sizes.py) equal the sizes read from the built arrays wherever
both exist, and ``verify bounds`` uses them beyond what it builds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import constructions
from verify._sizes import closed_form_size

KEYS = ("width", "heads", "layers", "head_dim", "mlp_width", "params", "params_no_embed")


def cases():
    for n in (1, 2, 3, 4, 6, 9, 16, 34):
        for s in (2, 3, 5):
            yield "index_lookup", "rnn", {"n": n, "alphabet_size": s}
            yield "index_lookup", "tf1", {"n": n, "alphabet_size": s}
        if n % 2 == 0:
            for task in ("equality", "disjointness"):
                yield task, "rnn", {"n": n}
                yield task, "tf2", {"n": n}
        for K, V in ((n, 1), (n, 3), (n + 5, 2)):
            yield "associative_recall", "rnn", {"n": n, "num_keys": K, "num_values": V}
            yield "associative_recall", "tf2", {"n": n, "num_keys": K, "num_values": V}
        for dim, labels in ((1, 1), (3, 2), (8, 5)):
            yield "nearest_neighbor", "tf2", {"n": n, "dim": dim, "margin": 0.1, "num_labels": labels}
        for k, d in ((1, 1), (2, 2), (3, 2)):
            yield "dyck", "rnn", {"n": n, "types": k, "depth": d}
            yield "dyck", "tf2", {"n": n, "types": k, "depth": d}


@pytest.mark.parametrize("task,arch,params", list(cases()), ids=str)
def test_closed_form_equals_built_size(task, arch, params):
    built = constructions.build(task, arch=arch, **params).size()
    closed = closed_form_size(task, arch, params)
    assert closed is not None
    assert {k: closed[k] for k in KEYS} == {k: built[k] for k in KEYS}


def test_no_closed_form_where_the_shapes_are_not_known():
    assert closed_form_size("index_lookup", "tf1", {"n": 8, "alphabet_size": 2, "addresses": "rs"}) is None
    assert closed_form_size("nearest_neighbor", "tf2", {"n": 8, "dim": 2, "self_suppression": "address"}) is None
    assert closed_form_size("equality", "rnn", {"n": 7}) is None  # odd n: the builder refuses it


def test_bounds_far_beyond_what_it_builds_is_quick_and_small():
    """`verify bounds` at n up to 2^20 reads the sizes from the closed forms (nothing that size is
    built): under a minute and well under 1 GB in a fresh process."""
    code = (
        "import sys\n"
        "from verify import main\n"
        "rc = main(['bounds', '--task', 'disjointness', '--n', '16384', '1048576', '--json'])\n"
        # VmHWM: this process's own peak (ru_maxrss survives exec, so a child of a big pytest worker
        # would report the worker's peak)
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0], file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rss_kb = int(res.stderr.strip().splitlines()[-1])
    assert rss_kb < 1_000_000, rss_kb
    rows = json.loads(res.stdout)["rows"]
    rnn = [c for r in rows for c in r["constructions"] if c["arch"] == "rnn" and r["n"] == 1048576][0]
    assert rnn["status"] == "closed form" and rnn["width"] == 1048576 // 2 + 2


def test_a_crossover_beyond_what_is_built_is_found(capsys):
    """Equality's two-layer Transformer against the one-layer bound crosses past n = 16,384; the
    search reads the widths there from the closed forms (it used to stop at the build limit)."""
    from verify import main

    code = main(["bounds", "--task", "equality", "--n", "64", "--crossover", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    found = {(c["construction"], c["bound"]): c for c in json.loads(out)["crossovers"]}
    c = found[("tf2", "tf1")]
    assert c["n"] is not None and c["n"] > 16384
    width = closed_form_size("equality", "tf2", {"n": c["n"]})
    assert width is not None and c["construction_width"] == max(width["width"], width["head_dim"])
