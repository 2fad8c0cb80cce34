"""Closed forms (docs/PAPER.md §12): every row present, every number re-derived independently.

The independent evaluations below use exact integer arithmetic, not the package's sympy code:
``w·b >= n·log2 A``  <=>  ``2^(w·b) >= A^n``  <=>  ``w·b >= bitlength(A^n - 1)``;  ``3W(b + log2 n)h >= need``  <=>
``n^(3Wh) >= 2^(need - 3Whb)``.
"""

import pytest

import bounds
from bounds import BoundError, closed_form, lower_bounds


def rnn_min_width(n, A, b):
    """Smallest w with 2^(w b) >= A^n, i.e. w b >= ceil(log2 A^n) = bit length of A^n - 1."""
    need = (A**n - 1).bit_length()
    return -(-need // b)


def tf1_min_width_airtight(need, n, b, h):
    """Smallest W with W b + h (4 W b + 4 b + 2 ceil(log2 n)) >= need (W = w = D)."""
    clog = (n - 1).bit_length()  # ceil(log2 n) for n >= 1
    W = max(0, (need - h * (4 * b + 2 * clog)) // (b * (1 + 4 * h)) - 1)
    while W * b + h * (4 * W * b + 4 * b + 2 * clog) < need:
        W += 1
    return W


def tf1_min_width_paper(need, n, b, h):
    """Smallest W with 3 W (b + log2 n) h >= need, exactly: n^(3Wh) >= 2^(need - 3Whb)."""
    W = max(0, need // (3 * h * (b + n.bit_length())) - 1)  # a start below the answer
    while True:
        e = need - 3 * W * h * b
        if e <= 0 or (W > 0 and n ** (3 * W * h) >= 2**e):
            return W
        W += 1


ROWS = [  # (task, arch, theorem fragment) — docs/PAPER.md §12
    ("index_lookup", "rnn", "Theorem 3"),
    ("associative_recall", "rnn", "Proposition 9"),
    ("equality", "rnn", "Theorem 11"),
    ("disjointness", "rnn", "§4.2"),
    ("nearest_neighbor", "rnn", "Theorem 8"),
    ("dyck", "tf1", "Theorem 5"),
    ("equality", "tf1", "Theorem 12"),
    ("disjointness", "tf1", "§4.2"),
]


@pytest.mark.parametrize("task,arch,thm", ROWS)
def test_every_row_has_its_theorem(task, arch, thm):
    constants = ["rnn"] if arch == "rnn" else ["airtight", "paper"]
    for c in constants:
        bound = closed_form(task, arch, c if arch != "rnn" else "airtight")
        assert thm in bound.theorem and bound.constant == c
    n = 64
    row = lower_bounds(task, {"n": n}, 16)[arch]
    assert thm in row["theorem"] and row["inequality"]


@pytest.mark.parametrize("n", [1, 2, 7, 64, 1000, 4097, 10**6])
@pytest.mark.parametrize("b", [1, 8, 16, 32])
@pytest.mark.parametrize("A", [2, 3, 4, 5])
def test_rnn_index_lookup_and_recall_follow_the_formula(n, b, A):
    assert lower_bounds("index_lookup", {"n": n, "alphabet_size": A}, b)["rnn"]["min_width"] == rnn_min_width(n, A, b)
    if A <= 4 and n <= 4097:
        got = lower_bounds("associative_recall", {"n": n, "num_values": A}, b)["rnn"]
        assert got["min_width"] == rnn_min_width(n, A, b)
        assert got["bits"] == (A**n - 1).bit_length()  # ceil(n log2 A) = ceil(log2 A^n)


@pytest.mark.parametrize(
    "n,b", [(n, b) for n in (2, 8, 100, 1000, 4096) for b in (1, 8, 32)] + [(10**6, 16), (10**6, 32)]
)
@pytest.mark.parametrize("h", [1, 3])
def test_halves_and_dyck_follow_the_formulas(n, b, h):
    for task in ("equality", "disjointness"):
        lb = lower_bounds(task, {"n": n}, b, heads=h)
        assert lb["rnn"]["min_width"] == -(-(n // 2) // b)
        assert lb["tf1"]["min_width"] == tf1_min_width_airtight(n // 2, n, b, h)
        assert lb["tf1"]["min_width_paper"] == tf1_min_width_paper(n // 2, n, b, h)
        assert lb["tf1"]["constant"] == "airtight" and lb["tf1"]["heads"] == h
    lb = lower_bounds("dyck", {"n": n}, b, heads=h)["tf1"]
    assert lb["min_width"] == tf1_min_width_airtight(n - 1, n, b, h)
    assert lb["min_width_paper"] == tf1_min_width_paper(n - 1, n, b, h)
    assert lb["bits"] == n - 1


def test_worked_numbers_of_the_notes():
    # docs/PAPER.md §12: n = 400, b = 32: index lookup w >= 12.5; Dyck w·h >= 3.27 (paper constant)
    assert lower_bounds("index_lookup", {"n": 400, "alphabet_size": 2}, 32)["rnn"]["min_width"] == 13
    assert lower_bounds("dyck", {"n": 400}, 32)["tf1"]["min_width_paper"] == 4
    # n = 10^6, b = 16: w >= 62,500; Dyck w·h >= 9,277 (paper constant)
    assert lower_bounds("index_lookup", {"n": 10**6, "alphabet_size": 2}, 16)["rnn"]["min_width"] == 62_500
    assert lower_bounds("dyck", {"n": 10**6}, 16)["tf1"]["min_width_paper"] == 9_277
    # the brief's example: n = 1000, b = 32, |A| = 2
    assert lower_bounds("index_lookup", {"n": 1000, "alphabet_size": 2}, 32)["rnn"]["min_width"] == 32


def test_airtight_is_weaker_than_the_paper_constant_at_practical_sizes():
    # 3(b + log2 n) > 5b when log2 n > 2b/3: the paper's constant gives the larger (unproven) width
    for n in (1000, 10**5):
        lb = lower_bounds("dyck", {"n": n}, 32)["tf1"]
        assert lb["min_width_paper"] >= lb["min_width"]


def test_nearest_neighbour_uses_only_well_separated_keys():
    keys, text = bounds.nn_keys(1000, 8, 0.1)
    assert keys == 2**8 - 1 and "hypercube" in text
    assert bounds.nn_keys(100, 8, 0.1)[0] == 100
    assert bounds.nn_keys(100, 8, 0.5)[0] == 15  # cross-polytope: 2·8 points, 15 keys + a filler
    lb = lower_bounds("nearest_neighbor", {"n": 1000, "dim": 8, "margin": 0.1, "num_labels": 2}, 32)["rnn"]
    assert lb["min_width"] == rnn_min_width(255, 2, 32) and "255" in lb["condition"]
    lb = lower_bounds("nearest_neighbor", {"n": 200, "dim": 8, "margin": 0.1, "num_labels": 4}, 8)["rnn"]
    assert lb["min_width"] == rnn_min_width(200, 4, 8)


def test_contract_shape_used_by_the_engine():
    out = lower_bounds("index_lookup", {"n": 8, "alphabet_size": 2}, 64)
    assert out["rnn"]["min_width"] == 1 and "theorem" in out["rnn"] and "bits" in out["rnn"]
    assert lower_bounds("threshold", bounds_params_threshold(), 16) == {}
    assert lower_bounds("dyck", {"n": 7}, 16)["tf1"]["min_width"] == 0  # odd n: constant task
    assert bounds.min_width_rnn("index_lookup", 1000, 32) == 32


def bounds_params_threshold():
    import tasks

    return tasks.get("threshold", **tasks.threshold_params_equality(4)).params


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: lower_bounds("index_lookup", {"n": 8}, 0), "bits must be positive"),
        (lambda: lower_bounds("index_lookup", {"n": 8}, -3), "bits must be positive"),
        (lambda: lower_bounds("index_lookup", {"n": 8}, 2.5), "bits must be a positive integer"),
        (lambda: lower_bounds("equality", {"n": 7}, 8), "even n"),
        (lambda: lower_bounds("disjointness", {"n": 9}, 8), "even n"),
        (lambda: lower_bounds("no_such_task", {"n": 8}, 8), "unknown task 'no_such_task'"),
        (lambda: lower_bounds("index_lookup", {"n": 8}, 8, heads=0), "heads must be a positive integer"),
        (lambda: closed_form("index_lookup", "tf1"), "no closed-form lower bound"),
        (lambda: bounds.tf1_cost("other"), "constant must be"),
    ],
)
def test_bad_input_is_one_clear_error(call, match):
    with pytest.raises(BoundError, match=match) as e:
        call()
    assert "\n" not in str(e.value)
