"""``verify bounds``: the separation report, its numbers re-derived, crossovers, plots, errors."""

import json
import math

import pytest

import constructions
from verify import main


def run(capsys, *argv):
    code = main(["bounds", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ceil_div(a, b):
    return -(-a // b)


def rnn_width(bits_needed, b):
    return ceil_div(bits_needed, b)


def tf1_airtight(need, n, b, h):
    clog = (n - 1).bit_length()
    W = 0
    while W * b + h * (4 * W * b + 4 * b + 2 * clog) < need:
        W += 1
    return W


def tf1_paper(need, n, b, h):
    W = 0
    while 3 * W * h * (b + math.log2(n)) < need:
        W += 1
    return W


def tf1_protocol(need, n, b, h, V):
    offset = (V - 1).bit_length() + h * (4 * b + 2 + 2 * (n - 1).bit_length())
    return max(0, -(-(need - offset) // (2 * h * b)))


def expected(task, params, b, h):
    """Every lower bound of the report, from the formulas of docs/PAPER.md §12 (integer arithmetic)."""
    n = params["n"]
    if task == "index_lookup":
        return {"rnn": rnn_width((params["alphabet_size"] ** n - 1).bit_length(), b)}
    if task == "associative_recall":
        return {"rnn": rnn_width((params["num_values"] ** n - 1).bit_length(), b)}
    if task == "nearest_neighbor":
        dim, margin = params["dim"], params["margin"]
        size = 2**dim if margin <= 2 / dim else 2 * dim if margin <= 1 else 2
        keys = n if n <= size else size - 1
        return {"rnn": rnn_width((params["num_labels"] ** keys - 1).bit_length(), b)}
    if task in ("equality", "disjointness"):
        return {
            "rnn": ceil_div(n // 2, b),
            "tf1": tf1_airtight(n // 2, n, b, h),
            "tf1_paper": tf1_paper(n // 2, n, b, h),
            "tf1_protocol": tf1_protocol(n // 2, n, b, h, 2),
        }
    if task == "dyck":
        return {
            "tf1": tf1_airtight(n - 1, n, b, h),
            "tf1_paper": tf1_paper(n - 1, n, b, h),
            "tf1_protocol": tf1_protocol(n - 1, n, b, h, 4),
        }
    if task == "split_equality":
        return {
            "tf1": tf1_airtight(n // 2, n, b, h),
            "tf1_paper": tf1_paper(n // 2, n, b, h),
            "tf1_protocol": tf1_protocol(n // 2, n, b, h, 2),
        }
    raise AssertionError(task)


def test_the_briefs_example(capsys):
    code, out, err = run(capsys, "--n", "1000", "--bits", "32", "--alphabet-size", "2", "--json")
    assert code == 0, err
    rep = json.loads(out)
    rows = {r["task"]: r for r in rep["rows"]}
    assert set(rows) == {
        "index_lookup",
        "associative_recall",
        "equality",
        "disjointness",
        "nearest_neighbor",
        "dyck",
        "split_equality",
    }
    lb = rows["index_lookup"]["lower_bounds"]["rnn"]
    assert lb["min_width"] == 32 and "Theorem 3" in lb["theorem"] and lb["bits"] == 1000
    for r in rep["rows"]:
        want = expected(r["task"], r["task_params"], 32, 1)
        for arch, lb in r["lower_bounds"].items():
            assert lb["min_width"] == want[arch], (r["task"], arch)
            assert lb["theorem"]
            if arch == "tf1":
                assert lb["min_width_paper"] == want["tf1_paper"] and lb["constant"] == "airtight"
                assert lb["min_width_protocol"] == want["tf1_protocol"]
        archs = {c["arch"]: c for c in r["constructions"]}
        assert set(archs) == {"tf1", "tf2", "rnn"}
        for arch, c in archs.items():
            assert (c["status"] == "built") == ((r["task"], arch) in constructions.available())
    built = {c["arch"]: c for c in rows["index_lookup"]["constructions"]}["tf1"]
    model = constructions.build("index_lookup", arch="tf1", n=1000, alphabet_size=2)
    assert built["width"] == model.size()["width"] and built["params"] == model.size()["params"]
    assert rep["crossovers"] == []  # only with --crossover


def test_text_report(capsys):
    code, out, _ = run(capsys, "--task", "equality", "--task", "dyck", "--n", "64", "--bits", "8")
    assert code == 0
    assert "lower bounds at b=8" in out and "Theorem 11" in out and "Theorem 5" in out
    assert "equality" in out and "dyck" in out


def test_crossover_dyck_rnn_against_any_one_layer_transformer(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "--task",
        "dyck",
        "--n",
        "64",
        "--bits",
        "4",
        "--crossover",
        "--json",
        "--plot",
        str(tmp_path / "sep.png"),
    )
    assert code == 0, err
    rep = json.loads(out)
    # the RNN and (since dyck/tf2) the two-layer Transformer: both constant width against tf1
    assert sorted(c["construction"] for c in rep["crossovers"]) == ["rnn", "tf2"]
    (c,) = [c for c in rep["crossovers"] if c["construction"] == "rnn"]
    assert c["bound"] == "tf1"
    width = constructions.build("dyck", arch="rnn", n=c["n"]).size()["width"]
    n_star = c["n"]
    assert c["construction_width"] == width and tf1_airtight(n_star - 1, n_star, 4, 1) > width
    # the RNN has the same width at every length we probe; below n*, no length crosses
    assert constructions.build("dyck", arch="rnn", n=2).size()["width"] == width
    assert constructions.build("dyck", arch="rnn", n=n_star - 2).size()["width"] == width
    assert all(tf1_airtight(n - 1, n, 4, 1) <= width for n in range(2, n_star, 2))
    for suffix in (".png", ".svg"):
        path = tmp_path / ("sep" + suffix)
        assert path.exists() and path.stat().st_size > 10_000
    assert rep["plot"] == [str(tmp_path / "sep.png"), str(tmp_path / "sep.svg")]


def test_crossover_index_lookup_transformer_against_any_rnn(capsys):
    code, out, err = run(
        capsys, "--task", "index_lookup", "--alphabet-size", "2", "--n", "64", "--bits", "2", "--crossover", "--json"
    )
    assert code == 0, err
    (c,) = json.loads(out)["crossovers"]
    assert c["construction"] == "tf1" and c["bound"] == "rnn" and c["n"] is not None
    n = c["n"]
    here = constructions.build("index_lookup", arch="tf1", n=n, alphabet_size=2).size()
    before = constructions.build("index_lookup", arch="tf1", n=n - 1, alphabet_size=2).size()
    assert ceil_div(n, 2) > max(here["width"], here["head_dim"]) == c["construction_width"]
    assert ceil_div(n - 1, 2) <= max(before["width"], before["head_dim"])  # one shorter: not yet


def test_crossover_fills_the_tasks_defaults(capsys):
    # no --alphabet-size: the builder must still get the task's default alphabet (a regression)
    code, out, err = run(capsys, "--task", "index_lookup", "--n", "16", "--bits", "2", "--crossover", "--json")
    assert code == 0, err
    (c,) = json.loads(out)["crossovers"]
    assert c["n"] is not None and "note" not in c, c


@pytest.mark.parametrize(
    "argv,match",
    [
        (["--bits", "0"], "--bits must be positive"),
        (["--bits", "-4"], "--bits must be positive"),
        (["--n", "7"], "even n"),
        (["--task", "equality", "--n", "9"], "even n"),
        (["--task", "no_such_task"], "unknown task 'no_such_task'"),
        (["--task", "threshold"], "no closed-form lower bound"),
        (["--task", "equality", "--alphabet-size", "3"], "no selected task takes alphabet_size"),
        (["--heads", "0"], "--heads must be positive"),
        (["--n", "0"], "--n must be at least 1"),
        (["--bits", "x"], "invalid int value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, match):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2 and out == ""
    assert err.startswith("verify: error: ") and err.count("\n") == 1 and match in err


def test_plot_uses_the_given_options_not_one_rows_defaults(capsys, tmp_path):
    # associative recall's num_keys defaults to n: the curves beyond n must not reuse n's default
    code, out, err = run(
        capsys, "--task", "associative_recall", "--n", "8", "--bits", "2", "--plot", str(tmp_path / "ar")
    )
    assert code == 0, err
    assert (tmp_path / "ar.png").stat().st_size > 5_000 and (tmp_path / "ar.svg").stat().st_size > 5_000
