"""Lemma 5 and Corollary 13.1: the communication of split_equality across its own split, the
closed form, and the barrier's numbers, each re-derived here with integer arithmetic."""

import json
import math

import pytest

import bounds
import tasks
from verify import main

from testkit import built


def protocol_width(need, n, b, h, V):
    """Smallest W with ⌈log2 V⌉ + h(2Wb + 4b + 2 + 2⌈log2 n⌉) >= need (integer arithmetic)."""
    offset = (V - 1).bit_length() + h * (4 * b + 2 + 2 * (n - 1).bit_length())
    return max(0, -(-(need - offset) // (2 * h * b)))


@pytest.mark.parametrize(
    "n, alice", [(4, "interleaved"), (8, "random:0"), (10, [0, 3, 4, 8, 9]), (12, "random:5"), (16, "interleaved")]
)
def test_rank_certificate_is_full_under_the_tasks_split(n, alice):
    t = tasks.get("split_equality", n=n, alice=alice)
    cert = bounds.rank_certificate(t, "alice")
    bounds.check(cert)
    assert cert.rank == 2 ** (n // 2) and cert.upper_certified and cert.alice == t.alice
    assert cert.bits == n // 2 == bounds.lower_bounds("split_equality", t.params, 8)["tf1"]["bits"]


def test_kronecker_route_and_a_foreign_split():
    t = tasks.get("split_equality", n=12, alice="random:0")
    k = bounds.rank_certificate(t, "alice", method="kronecker")
    bounds.check(k)
    assert k.method == "kronecker" and k.rank == 64
    # the bound is about the task's own split: across the halves the same function is cheaper
    assert bounds.rank_certificate(t, "halves").rank < 64
    with pytest.raises(bounds.BoundError, match="no Kronecker structure"):
        bounds.rank_certificate(t, "halves", method="kronecker")


@pytest.mark.parametrize("n", [2, 64, 1000, 65536])
@pytest.mark.parametrize("b, h", [(8, 1), (32, 1), (32, 3)])
def test_closed_form_any_n(n, b, h):
    lb = bounds.lower_bounds("split_equality", {"n": n, "alice": "interleaved"}, b, heads=h)
    assert set(lb) == {"tf1"}
    lb = lb["tf1"]
    assert lb["bits"] == n // 2 and lb["split"] == "alice" and lb["complexity"] == "two-way"
    assert lb["min_width_protocol"] == protocol_width(n // 2, n, b, h, 2)
    clog = (n - 1).bit_length()
    W = lb["min_width"]  # airtight: W b + h(4Wb + 4b + 2 clog) >= n/2, W the least such
    assert W * b + h * (4 * W * b + 4 * b + 2 * clog) >= n // 2
    assert W == 0 or (W - 1) * b + h * (4 * (W - 1) * b + 4 * b + 2 * clog) < n // 2


def test_barrier_numbers_from_the_model():
    n, b = 64, 32
    s = built("split_equality", "tf2", n=n, alice="random:0").size()
    row = bounds.barrier(s, n, b)
    w, D, h = s["head_dim"], s["width"], s["heads"]
    clog = (n - 1).bit_length()
    assert row["one_layer_cost"] == {
        "airtight": 2 * (D * b + h * (4 * w * b + 4 * b + 2 * clog)),
        "paper": 2 * math.ceil(3 * w * (b + math.log2(n)) * h),
        "protocol": 2 * (1 + h * (2 * w * b + 4 * b + 2 + 2 * clog)),
    }
    assert row["need"] == 32 and not any(row["below_need"].values())
    assert row["g_forced"] == pytest.approx(32 / (w * b * h))
    # a small model at a large n: every cost below n/2, the protocol cannot exist
    small = bounds.barrier({"head_dim": 4, "width": 8, "heads": 1, "layers": 2}, 2**20, 16)
    assert all(small["below_need"].values())


def test_verify_bounds_shows_the_barrier(capsys):
    args = ["bounds", "--task", "split_equality", "--alice", "interleaved", "--n", "64", "--bits", "16"]
    assert main(args + ["--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    (row,) = rep["rows"]
    assert row["task_params"] == {"n": 64, "alice": "interleaved"}
    two = {c["arch"]: c for c in row["constructions"]}["tf2"]
    assert row["barrier"]["w"] == two["head_dim"] and row["barrier"]["D"] == two["width"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "barrier split_equality n=64" in out and "protocol" in out and "Lemma 5" in out
