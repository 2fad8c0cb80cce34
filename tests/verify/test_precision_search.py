"""The precision search (verify/_precision_search.py), its CLI and the robustness sweeps."""

import json
import math

import ml_dtypes
import numpy as np
import pytest

import constructions
import tasks
from constructions import FixedArithmetic
from verify import main
from verify._precision_search import (
    Certified,
    MantissaArithmetic,
    _grid_ok,
    _max_terms,
    check_set,
    exact_on,
    fit_log,
    logits,
    smallest_fixed,
    smallest_mantissa,
)
from verify.certify import certify

from testkit import built


def model(n, s=2, addresses="random"):
    return built("index_lookup", "tf1", n=n, alphabet_size=s, seed=0, addresses=addresses)


# each format compiles the model's own fixed-point forward afresh (~5 s): three formats (wide, narrow,
# no integer bit) in the fast group, the other two in the slow group
@pytest.mark.parametrize(
    "I,F",
    [(5, 10), (2, 2), (0, 5), pytest.param(3, 4, marks=pytest.mark.slow), pytest.param(6, 1, marks=pytest.mark.slow)],
)
def test_traced_grid_equals_fixed_format(I, F):
    for m, x in [
        (model(40, 4), tasks.get("index_lookup", n=40, alphabet_size=4).sample(np.random.default_rng(0), 200)),
        (
            constructions.build("equality", arch="tf2", n=8),
            np.concatenate(list(tasks.get("equality", n=8).enumerate(64))),
        ),
    ]:
        assert np.array_equal(logits(m, FixedArithmetic(I, F), x), m.logits(x, precision=f"fixed:{I}.{F}"))


def test_traced_grid_compiles_once_per_model():
    """I and F are traced arguments: every format of a search runs one compiled forward pass."""
    from constructions._compiled import traced_forward

    m = model(6, 2)
    x = tasks.get("index_lookup", n=6, alphabet_size=2).sample(np.random.default_rng(0), 50)
    compiled = traced_forward(m.family, m.metadata.embed_kind, m.metadata.causal)
    logits(m, FixedArithmetic(1, 1), x)
    before = compiled._cache_size()
    for I, F in [(2, 3), (5, 10), (0, 0), (12, 12)]:
        assert np.array_equal(logits(m, FixedArithmetic(I, F), x), m.logits(x, precision=f"fixed:{I}.{F}"))
    assert compiled._cache_size() == before


@pytest.mark.parametrize("p,dtype", [(11, np.float16), (8, ml_dtypes.bfloat16)])
def test_mantissa_rounding_matches_ml_dtypes(p, dtype):
    """p significand bits, round to nearest even: float16 is p = 11, bfloat16 p = 8 (normal range)."""
    x = np.random.default_rng(1).normal(0, 3, 4000)
    x = x[(np.abs(x) > 0.02) & (np.abs(x) < 200)]
    with constructions.float64_scope():
        ours = np.asarray(MantissaArithmetic.of(p).encode(x))
    assert np.array_equal(ours, x.astype(dtype).astype(np.float64))


def test_mantissa_rounding_every_p_against_numpy_frexp():
    """Round to nearest even at p bits, p = 1..53, against numpy's exact frexp/ldexp, ties included."""
    rng = np.random.default_rng(2)
    x = np.concatenate(
        [
            rng.normal(0, 1, 3000) * 10.0 ** rng.integers(-30, 30, 3000),
            np.array([0.0, -0.0, 1.5, 2.5, -3.5, 0.75, 1.0 + 2.0**-52, 1.0 - 2.0**-53]),
        ]
    )
    for p in range(1, 54):
        m, e = np.frexp(x)
        want = np.ldexp(np.round(np.ldexp(m, p)), e - p)  # np.round: ties to even
        with constructions.float64_scope():
            got = np.asarray(MantissaArithmetic.of(p).encode(x))
        assert np.array_equal(got, want), p


def test_smallest_fixed_is_minimal_and_exact():
    m = model(6, 2)
    x, y, what = check_set(tasks.get("index_lookup", n=6, alphabet_size=2))
    assert what == "all 384 inputs"
    best = smallest_fixed(m, x, y)
    assert exact_on(m, FixedArithmetic(best["int_bits"], best["frac_bits"]), x, y)
    assert m.logits(x, precision=best["precision"]).shape == (384, 2)
    for I in range(0, 12):  # no format with fewer bits is exact (brute force)
        for F in range(0, best["bits"] - 1 - I):
            assert not exact_on(m, FixedArithmetic(I, F), x, y), (I, F)
    p = smallest_mantissa(m, x, y)["mantissa_bits"]
    assert exact_on(m, MantissaArithmetic.of(p), x, y)
    assert p == 1 or not exact_on(m, MantissaArithmetic.of(p - 1), x, y)


@pytest.mark.parametrize(
    "task_name,kw", [("index_lookup", dict(arch="tf1", alphabet_size=2, seed=0)), ("equality", dict(arch="tf2"))]
)
def test_certified_search_is_minimal_sound_and_above_sampled(task_name, kw):
    """The certified format is proved by ``certify``, no format with fewer bits is, it is exact on
    every input (checked exhaustively), and the sampled minimum is never above it."""
    m = constructions.build(task_name, n=8, **kw)
    task = tasks.get(task_name, **m.task_params)
    cert = Certified(m, task)
    best = cert.smallest()
    assert certify(m, best["precision"])["status"] == "pass"
    # Brute force over the family the search covers (the three smallest I at which the widest
    # allowed F is proved, every F at those I): nothing there has fewer bits.
    proved = lambda I, F: _grid_ok(m, I, F) and certify(m, f"fixed:{I}.{F}", witnesses=False)["status"] == "pass"  # noqa: E731
    narrow = min(30, (62 - math.ceil(math.log2(_max_terms(m)))) // 2)  # the n = 8 models need no wider
    fmax = lambda I: narrow - I  # noqa: E731
    family = [I for I in range(narrow + 1) if proved(I, fmax(I))][:3]
    assert best["int_bits"] in family
    assert best["bits"] == min(I + F + 1 for I in family for F in range(fmax(I) + 1) if proved(I, F))
    x, y, what = check_set(task)
    assert what.startswith("all ")
    assert exact_on(m, FixedArithmetic(best["int_bits"], best["frac_bits"]), x, y)
    assert smallest_fixed(m, x, y)["bits"] <= best["bits"]
    assert smallest_fixed(m, x, y, proved=cert.proves) == smallest_fixed(m, x, y)
    assert smallest_fixed(m, x, y, proved=cert.known) == smallest_fixed(m, x, y)


def test_certified_search_not_applicable_and_tamper():
    """No certificate for nearest neighbour (None, not a guess); a tampered index-lookup model is
    never certified at any format, although its sampled search still finds one."""
    nn = constructions.build("nearest_neighbor", arch="tf2", n=8)
    assert Certified(nn, tasks.get("nearest_neighbor", **nn.task_params)).smallest() is None
    n, s = 64, 2
    task = tasks.get("index_lookup", n=n, alphabet_size=s)
    x, y, _ = check_set(task, samples=50, seed=1)
    far = max(set(range(n)) - set((x[:, n] - s).tolist()))  # an index the check set never asks for
    E = model(n, s).arrays()["embed/token"].copy()
    E[s + far] = E[s + (far + n // 2) % n]  # its query now addresses another position
    bad = model(n, s).with_arrays(**{"embed/token": E})
    assert Certified(bad, task).smallest() is None
    assert smallest_fixed(bad, x, y) is not None


def test_quadratic_addresses_need_log_n_bits():
    """Constant width, but the integer part must hold ~(n/2)²: the searched bits grow with n."""
    bits = []
    for n in (8, 32, 128):
        m = model(n, 2, "quadratic")
        x, y, _ = check_set(tasks.get("index_lookup", n=n, alphabet_size=2), samples=200)
        bits.append(smallest_fixed(m, x, y)["bits"])
        assert m.size()["width"] == 8
    assert bits[0] < bits[1] < bits[2]
    fit = fit_log([8, 32, 128], bits)
    assert fit["a"] > 1.5


def test_check_set_adversarial_and_seeded():
    t = tasks.get("index_lookup", n=100, alphabet_size=4)
    x1, y1, what = check_set(t, samples=50, seed=3)
    x2, _, _ = check_set(t, samples=50, seed=3)
    assert np.array_equal(x1, x2) and "adversarial" in what and len(x1) > 50
    assert np.array_equal(y1, t.solve(x1))
    adv = x1[: len(x1) - 50, :100]  # adversarial inputs come first (the search stops early on them)
    fill = np.array([np.bincount(r, minlength=4).argmax() for r in adv])
    assert np.all((adv == fill[:, None]).sum(1) == 99)  # every symbol but the target is one other symbol


def test_fit_log_exact_line():
    f = fit_log([16, 64, 256, 1024], [9, 13, 17, 21])
    assert f["a"] == pytest.approx(2.0) and f["c"] == pytest.approx(1.0) and f["r2"] == pytest.approx(1.0)
    assert fit_log([16], [3]) is None


def run(capsys, *argv):
    code = main(["precision", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# two n, two address schemes, certified, plotted: ≈ 50 s of CPU; the CLI path (less the plot) stays in the fast
# group through test_precision_cli_equality_and_errors and test_precision_readme_block
@pytest.mark.slow
def test_precision_cli_json_and_plot(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "--ns",
        "8,32",
        "--addresses",
        "random,quadratic",
        "--samples",
        "100",
        "--plot",
        str(tmp_path / "p.png"),
        "--json",
    )
    assert code == 0, err
    res = json.loads(out)
    assert [r["n"] for r in res["rows"]] == [8, 32, 8, 32]
    assert all(r["fixed"]["bits"] == r["fixed_bits"] for r in res["rows"])
    assert set(res["fits"]) == {"index_lookup/tf1 (random)", "index_lookup/tf1 (quadratic)"}
    assert (tmp_path / "p.png").stat().st_size > 1000 and (tmp_path / "p.svg").stat().st_size > 1000
    code, out, _ = run(capsys, "--ns", "8", "--addresses", "quadratic", "--samples", "50")
    assert code == 0 and "fixed:" in out and "R²" not in out  # one point: no fit


# the point needs n = 8192 (beyond one int64 product), ≈ 25 s of CPU
@pytest.mark.slow
def test_precision_cli_finds_the_quadratic_scheme_beyond_one_int64(capsys):
    """The quadratic scheme at n = 8192 needs more bits than one int64 product holds for a model
    with n + 2 keys (2(I+F) + ⌈log2 K⌉ > 62): the search finds its minimum with split accumulators;
    the model's own (untraced) forward agrees that it is exact there and not with one integer bit
    less; certify declines the format (its bounds are int64)."""
    code, out, err = run(
        capsys, "--ns", "8192", "--addresses", "quadratic", "--samples", "20", "--no-certify", "--json"
    )
    assert code == 0, err
    r = json.loads(out)["rows"][0]
    f = r["fixed"]
    narrow = min(30, (62 - math.ceil(math.log2(r["grid_terms"]))) // 2)
    assert f is not None and f["int_bits"] + f["frac_bits"] > narrow and r["grid_max_bits"] > f["bits"]
    m = constructions.build("index_lookup", arch="tf1", n=8192, alphabet_size=2, addresses="quadratic")
    x, y, _ = check_set(tasks.get("index_lookup", **m.task_params), samples=20)
    assert np.array_equal(m.predict(x, f["precision"]), y)
    assert not np.array_equal(m.predict(x, f"fixed:{f['int_bits'] - 1}.{f['frac_bits']}"), y)
    with pytest.raises(ValueError, match="split accumulators"):
        certify(m, f["precision"], witnesses=False)


def test_precision_cli_equality_and_errors(capsys):
    code, out, err = run(capsys, "--task", "equality", "--ns", "8", "--json")
    assert code == 0, err
    assert json.loads(out)["rows"][0]["check_set"] == "all 256 inputs"
    for argv, match in [
        (["--task", "nope"], "unknown task"),
        (["--ns", "x"], "invalid int value"),
        (["--ns", ""], "comma-separated list"),
        (["--addresses", ""], "comma-separated list"),
        (["--sweep", "wind"], "invalid choice"),
        (["--addresses", "bogus", "--ns", "8"], "addresses"),
        (["--task", "equality", "--ns", "64", "--samples", "0"], "--samples must be at least 1"),
        (["--sweep", "noise", "--samples", "-3"], "--samples must be at least 1"),
        (["--sweep", "beta", "--plot", "swp"], "--sweep has neither"),
        (["--sweep", "beta", "--readme", "README.md"], "--sweep has neither"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and match in err, (argv, err)


def test_sweeps_find_first_failure(capsys):
    code, out, err = run(capsys, "--sweep", "beta", "--n", "32", "--addresses", "random", "--samples", "200", "--json")
    assert code == 0, err
    r = json.loads(out)[0]
    assert r["rungs"][0]["scale"] == 1.0 and r["rungs"][0]["pass"]
    first = r["first_failure"]
    assert first is not None and not [x for x in r["rungs"] if x["scale"] == first][0]["pass"]
    assert all(x["pass"] for x in r["rungs"] if x["scale"] > first)
    code, out, _ = run(capsys, "--sweep", "noise", "--n", "16", "--addresses", "quadratic", "--samples", "100")
    assert code == 0 and "first failure at sigma" in out


def test_precision_readme_block(capsys, tmp_path):
    readme = tmp_path / "R.md"
    readme.write_text("top\n<!-- precision:start -->\nold\n<!-- precision:end -->\nbottom\n", encoding="utf-8")
    code, out, err = run(capsys, "--ns", "8,16", "--addresses", "quadratic", "--samples", "50", "--readme", str(readme))
    assert code == 0, err
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("top\n") and text.endswith("bottom\n") and "old" not in text
    assert "Generated by `verify precision --ns 8,16" in text and "fixed_bits" in text and "R²" in text
    bad = tmp_path / "B.md"
    bad.write_text("no markers\n", encoding="utf-8")
    code, _, err = run(capsys, "--ns", "8", "--readme", str(bad))
    assert code == 2 and "no <!-- precision:start -->" in err and bad.read_text(encoding="utf-8") == "no markers\n"
