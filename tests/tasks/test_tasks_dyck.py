"""Dyck-(types, depth): hand examples, the 2^(n-1) count, brute-force membership, the samplers."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks
from tasks import _dyck

ENC = {"(": 0, ")": 1, "[": 2, "]": 3}


def enc(s):
    return [ENC[c] for c in s]


def brute_dyck(tokens, depth):
    """Recursive-descent membership: S -> (open S close)* with the depth counted on the way."""

    def parse(i, level):
        # parse a sequence of balanced groups starting at i at nesting `level`; return end index or None
        while i < len(tokens) and tokens[i] % 2 == 0:
            if level + 1 > depth:
                return None
            j = parse(i + 1, level + 1)
            if j is None or j >= len(tokens) or tokens[j] != tokens[i] + 1:
                return None
            i = j + 1
        return i

    end = parse(0, 0)
    return int(end == len(tokens))


def test_hand_worked_examples():
    task = tasks.get("dyck", n=6)
    x = [enc("([])[]"), enc("([[]])"), enc("(()[])"), enc("([)]()"), enc("(((())")[:6], enc("[][][]")]
    assert task.solve(x).tolist() == [1, 0, 1, 0, 0, 1]
    assert tasks.get("dyck", n=6, depth=3).solve([enc("([[]])")]).tolist() == [1]
    assert tasks.get("dyck", n=2).solve([enc("()"), enc(")("), enc("(]"), enc("[]")]).tolist() == [1, 0, 0, 1]


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10, 12])
def test_number_of_dyck_2_2_strings_is_2_to_the_n_minus_1(n):
    task = tasks.get("dyck", n=n)
    total = sum(int(task.solve(batch).sum()) for batch in task.enumerate(batch_size=1 << 16))
    assert total == 2 ** (n - 1)


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_odd_lengths_have_no_valid_strings(n):
    task = tasks.get("dyck", n=n)
    assert sum(int(task.solve(b).sum()) for b in task.enumerate()) == 0
    x = task.sample(np.random.default_rng(0), 200)
    assert task.solve(x).sum() == 0
    with pytest.raises(tasks.TaskError, match=rf"dyck has no valid strings of odd length n={n}"):
        task.sample_positive(np.random.default_rng(0), 3)


@pytest.mark.parametrize("types, depth", [(1, 1), (1, 3), (2, 1), (2, 2), (2, 3), (3, 2)])
def test_exhaustive_agreement_with_recursive_descent(types, depth):
    n = 6
    task = tasks.get("dyck", n=n, types=types, depth=depth)
    x = np.concatenate(list(task.enumerate(batch_size=5000)))
    assert x.tolist() == [list(p) for p in itertools.product(range(2 * types), repeat=n)]
    assert task.solve(x).tolist() == [brute_dyck(r, depth) for r in x.tolist()]


@given(data=st.data(), half=st.integers(1, 12), types=st.integers(1, 3), depth=st.integers(1, 30))
def test_random_and_sampled_strings_match_brute_force(data, half, types, depth):
    n = 2 * half
    task = tasks.get("dyck", n=n, types=types, depth=depth)
    rows = data.draw(st.lists(st.lists(st.integers(0, 2 * types - 1), min_size=n, max_size=n), min_size=1, max_size=4))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rows += task.sample(np.random.default_rng(seed), 6).tolist()
    assert task.solve(rows).tolist() == [brute_dyck(r, depth) for r in rows]


def test_large_depth_and_many_types_use_the_stack_path():
    from tasks._dyck import MAX_DFA_STATES

    task = tasks.get("dyck", n=40, types=5, depth=20)
    assert sum(5**d for d in range(21)) > MAX_DFA_STATES
    rng = np.random.default_rng(0)
    x = np.concatenate([task.sample(rng, 200), rng.integers(0, 10, size=(50, 40))])
    assert task.solve(x).tolist() == [brute_dyck(r, 20) for r in x.tolist()]


def test_sample_labels_are_balanced():
    task = tasks.get("dyck", n=40)
    y = task.solve(task.sample(np.random.default_rng(0), 2000))
    assert 0.4 <= y.mean() <= 0.6


@pytest.mark.parametrize(
    "n, types, depth", [(2, 2, 2), (8, 2, 2), (40, 2, 2), (400, 2, 2), (30, 1, 1), (30, 3, 4), (12, 2, 10)]
)
def test_positives_valid_negatives_invalid(n, types, depth):
    task = tasks.get("dyck", n=n, types=types, depth=depth)
    rng = np.random.default_rng(n)
    pos = task.sample_positive(rng, 300)
    neg = task.sample_negative(rng, 300)
    assert pos.shape == neg.shape == (300, n) and pos.dtype == neg.dtype == np.int64
    assert task.solve(pos).all()
    assert not task.solve(neg).any()


def test_positive_sampler_reaches_every_string_and_respects_the_depth():
    task = tasks.get("dyck", n=6)
    pos = task.sample_positive(np.random.default_rng(0), 5000)
    everything = np.concatenate(list(task.enumerate()))
    valid = {tuple(r) for r in everything[task.solve(everything) == 1].tolist()}
    assert {tuple(r) for r in pos.tolist()} == valid  # all 32 strings appear
    # the paper's generator: from depth 1 it opens or closes with probability 1/2 each, so the
    # second token closes the first bracket about half the time
    assert 0.45 < np.mean(pos[:, 1] == pos[:, 0] + 1) < 0.55


def test_negatives_are_small_corruptions():
    # n = 8: c is always 1, so each negative differs from some valid string in one position
    task = tasks.get("dyck", n=8)
    neg = task.sample_negative(np.random.default_rng(1), 200)
    for row in neg.tolist():
        fixes = [row[:i] + [v] + row[i + 1 :] for i in range(8) for v in range(4) if v != row[i]]
        assert task.solve(fixes).any()


def test_sampler_determinism_and_argument_errors():
    task = tasks.get("dyck", n=10)
    np.testing.assert_array_equal(
        task.sample_negative(np.random.default_rng(3), 50), task.sample_negative(np.random.default_rng(3), 50)
    )
    np.testing.assert_array_equal(
        task.sample_positive(np.random.default_rng(3), 50), task.sample_positive(np.random.default_rng(3), 50)
    )
    with pytest.raises(tasks.TaskError, match=r"rng must be a numpy.random.Generator"):
        task.sample_positive(3, 5)
    with pytest.raises(tasks.TaskError, match=r"batch must be >= 0, got -2"):
        task.sample_negative(np.random.default_rng(0), -2)


def test_odd_even_split_is_the_papers():
    split = tasks.get("dyck", n=8).split("odd_even")
    assert split.alice == (0, 2, 4, 6) and split.bob == (1, 3, 5, 7)


@pytest.mark.parametrize("n, types, depth", [(2, 1, 1), (6, 2, 2), (40, 2, 2), (30, 1, 1), (30, 3, 4), (12, 2, 10)])
def test_table_and_stack_generators_build_the_same_strings(n, types, depth):
    # the positive sampler runs on the DFA's tables when they are small, else on an explicit stack;
    # from the same draws both must write the same strings
    draws = np.random.default_rng(n).integers(0, 2 * types, size=(400, n))
    by_stack = _dyck._generate_stack(draws, types, depth)
    task = tasks.get("dyck", n=n, types=types, depth=depth)
    np.testing.assert_array_equal(task.sample_positive(np.random.default_rng(n), 400), by_stack)
    assert task.solve(by_stack).all()


def _generator_probability(row, types, depth):
    """The probability that the paper's generator (the class docstring's rules) writes ``row``,
    walked with a Python list as the stack."""
    n, stack, p = len(row), [], 1.0
    for i, tok in enumerate(row):
        kind, opening = tok // 2, tok % 2 == 0
        if len(stack) in (depth, n - i):  # forced close
            if opening or not stack or stack[-1] != kind:
                return 0.0
        elif not stack:
            p *= 1 / types if opening else 0.0
        else:
            p *= 1 / (2 * types) if opening else (0.5 if stack[-1] == kind else 0.0)
        if p == 0.0:
            return 0.0
        stack = stack + [kind] if opening else stack[:-1]
    return p if not stack else 0.0


def test_positive_sampler_has_the_generators_distribution():
    # every valid string of length 8 against its probability under the generator's rules, computed
    # string by string; 40,000 samples, each frequency within 5 standard errors
    n, samples = 8, 40_000
    task = tasks.get("dyck", n=n)
    everything = np.concatenate(list(task.enumerate()))
    probs = {tuple(r): _generator_probability(r, 2, 2) for r in everything.tolist()}
    assert abs(sum(probs.values()) - 1) < 1e-12
    assert {r for r, p in probs.items() if p > 0} == {
        tuple(r) for r in everything[task.solve(everything) == 1].tolist()
    }
    pos = task.sample_positive(np.random.default_rng(7), samples)
    strings, counts = np.unique(pos, axis=0, return_counts=True)
    seen = dict(zip(map(tuple, strings.tolist()), counts.tolist()))
    for r, p in probs.items():
        if p > 0:
            freq = seen.get(r, 0) / samples
            assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / samples), (r, freq, p)
