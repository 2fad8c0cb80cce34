"""Contract tests shared by every task: registry, params, sampling, enumeration, splits, errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks
from tasks._base import mixed_radix_batches

ALL_NAMES = [
    "associative_recall",
    "disjointness",
    "dyck",
    "equality",
    "index_lookup",
    "nearest_neighbor",
    "split_equality",
    "threshold",
]

# Small instances of every task (and a few parameter variants).
SMALL = [
    ("index_lookup", dict(n=3, alphabet_size=2)),
    ("index_lookup", dict(n=2, alphabet_size=3)),
    ("equality", dict(n=6)),
    ("disjointness", dict(n=6)),
    ("threshold", tasks.threshold_params_equality(6)),
    ("threshold", tasks.threshold_params_random_dnf(5, 2, 3, np.random.default_rng(0))),
    ("associative_recall", dict(n=2, num_keys=3, num_values=2)),
    ("associative_recall", dict(n=3)),
    ("dyck", dict(n=6)),
    ("dyck", dict(n=5, types=1, depth=3)),
    ("split_equality", dict(n=6, alice="random:1")),
    ("nearest_neighbor", dict(n=4, dim=3, margin=0.2, num_labels=3)),
]
DISCRETE = [(name, p) for name, p in SMALL if name != "nearest_neighbor"]


def ids(cases):
    return [
        f"{name}-{'-'.join(f'{k}{v}' for k, v in p.items() if k in ('n', 'alphabet_size', 'num_keys', 'types', 'depth'))}"
        for name, p in cases
    ]


def rows_as_tuples(x):
    return [tuple(int(v) for v in row) for row in x]


# ---------------------------------------------------------------------------- registry


def test_available_lists_every_task_sorted():
    assert tasks.available() == ALL_NAMES


def test_unknown_task_lists_known_names():
    with pytest.raises(
        tasks.TaskError, match=r"unknown task 'nope'; known tasks: associative_recall, disjointness, dyck"
    ):
        tasks.get("nope", n=4)


def test_unknown_and_missing_parameters():
    with pytest.raises(tasks.TaskError, match=r"unknown parameter\(s\) width for task 'equality'; it takes: n"):
        tasks.get("equality", n=4, width=3)
    with pytest.raises(tasks.TaskError, match=r"task 'index_lookup' needs parameter\(s\): n"):
        tasks.get("index_lookup", alphabet_size=4)
    with pytest.raises(tasks.TaskError, match=r"needs parameter\(s\): index_sets, truth_tables, c"):
        tasks.get("threshold", n=4)


def test_task_error_is_value_error():
    assert issubclass(tasks.TaskError, ValueError)


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("index_lookup", dict(n=0), r"n must be >= 1, got 0"),
        ("index_lookup", dict(n=4, alphabet_size=1), r"alphabet_size must be >= 2, got 1"),
        ("index_lookup", dict(n=4.0), r"n must be an integer, got 4.0"),
        ("index_lookup", dict(n=True), r"n must be an integer, got True"),
        ("equality", dict(n=5), r"equality needs an even n .*got n=5"),
        ("equality", dict(n=0), r"n must be >= 2, got 0"),
        ("disjointness", dict(n=7), r"disjointness needs an even n"),
        ("associative_recall", dict(n=3, num_keys=2), r"num_keys must be >= n=3"),
        ("associative_recall", dict(n=3, num_values=0), r"num_values must be >= 1, got 0"),
        ("associative_recall", dict(n=0), r"n must be >= 1, got 0"),
        ("dyck", dict(n=4, types=0), r"types must be >= 1, got 0"),
        ("dyck", dict(n=4, depth=0), r"depth must be >= 1, got 0"),
        ("dyck", dict(n=0), r"n must be >= 1, got 0"),
        ("nearest_neighbor", dict(n=4, margin=0), r"margin must lie in \(0, 2\], got 0.0"),
        ("nearest_neighbor", dict(n=4, margin=-0.5), r"margin must lie in \(0, 2\]"),
        ("nearest_neighbor", dict(n=4, margin=2.5), r"margin must lie in \(0, 2\]"),
        ("nearest_neighbor", dict(n=4, margin=float("nan")), r"margin must lie in \(0, 2\]"),
        ("nearest_neighbor", dict(n=4, margin="0.1"), r"margin must be a real number"),
        ("nearest_neighbor", dict(n=4, dim=1), r"dim must be >= 2, got 1"),
        ("nearest_neighbor", dict(n=0), r"n must be >= 1, got 0"),
        ("nearest_neighbor", dict(n=4, num_labels=0), r"num_labels must be >= 1, got 0"),
    ],
)
def test_bad_parameters(name, params, message):
    with pytest.raises(tasks.TaskError, match=message):
        tasks.get(name, **params)


def test_numpy_integer_parameters_are_normalised():
    task = tasks.get("index_lookup", n=np.int64(5), alphabet_size=np.int32(3))
    assert task.params == {"n": 5, "alphabet_size": 3}
    assert type(task.params["n"]) is int


# ---------------------------------------------------------------------------- params and metadata


@pytest.mark.parametrize("name, params", SMALL, ids=ids(SMALL))
def test_params_rebuild_and_are_json(name, params):
    task = tasks.get(name, **params)
    assert task.name == name
    text = json.dumps(task.params)
    rebuilt = tasks.get(task.name, **json.loads(text))
    assert rebuilt == task and hash(rebuilt) == hash(task)
    assert rebuilt.params == task.params
    # params is a copy
    p = task.params
    p["n"] = 999
    assert task.params["n"] != 999


def test_defaults_are_recorded_in_params():
    assert tasks.get("index_lookup", n=3).params == {"n": 3, "alphabet_size": 4}
    assert tasks.get("dyck", n=4).params == {"n": 4, "types": 2, "depth": 2}
    assert tasks.get("associative_recall", n=3).params == {"n": 3, "num_keys": 3, "num_values": 2}
    assert tasks.get("nearest_neighbor", n=3).params == {"n": 3, "dim": 8, "margin": 0.1, "num_labels": 2}


@pytest.mark.parametrize(
    "name, params, seq_len, vocab, classes, count",
    [
        ("index_lookup", dict(n=5, alphabet_size=3), 6, 8, 3, 3**5 * 5),
        ("equality", dict(n=8), 8, 2, 2, 256),
        ("disjointness", dict(n=8), 8, 2, 2, 256),
        ("threshold", tasks.threshold_params_disjointness(8), 8, 2, 2, 256),
        ("associative_recall", dict(n=3, num_keys=5, num_values=4), 7, 9, 4, 5 * 4 * 3 * 4**3 * 3),
        ("dyck", dict(n=6, types=3, depth=2), 6, 6, 2, 6**6),
        ("nearest_neighbor", dict(n=5, dim=3, num_labels=4), 6, None, 4, None),
    ],
)
def test_metadata(name, params, seq_len, vocab, classes, count):
    task = tasks.get(name, **params)
    assert (task.seq_len, task.vocab_size, task.num_classes, task.num_inputs) == (seq_len, vocab, classes, count)
    if count is not None:
        assert type(task.num_inputs) is int


def test_num_inputs_is_exact_for_huge_tasks():
    assert tasks.get("index_lookup", n=64, alphabet_size=4).num_inputs == 4**64 * 64
    assert tasks.get("equality", n=200).num_inputs == 2**200
    assert tasks.get("associative_recall", n=20, num_keys=50, num_values=3).num_inputs == (
        np.prod([50 - i for i in range(20)], dtype=object) * 3**20 * 20
    )


# ---------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("name, params", SMALL, ids=ids(SMALL))
def test_samples_are_valid_and_deterministic(name, params):
    task = tasks.get(name, **params)
    a = task.sample(np.random.default_rng(7), 300)
    b = task.sample(np.random.default_rng(7), 300)
    c = task.sample(np.random.default_rng(8), 300)
    assert task.batch_size_of(a) == 300
    checked = task.check_inputs(a)
    out = task.solve(a)
    assert out.dtype == np.int64 and out.shape == (300,)
    assert out.min() >= 0 and out.max() < task.num_classes
    if isinstance(a, dict):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a["points"], c["points"])
        assert checked["points"].dtype == np.float64 and checked["labels"].dtype == np.int64
    else:
        assert a.dtype == np.int64 and a.shape == (300, task.seq_len)
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
        assert checked.dtype == np.int64


@pytest.mark.parametrize("name, params", SMALL, ids=ids(SMALL))
def test_empty_sample(name, params):
    task = tasks.get(name, **params)
    x = task.sample(np.random.default_rng(0), 0)
    assert task.batch_size_of(x) == 0
    assert task.solve(x).shape == (0,)


def test_sample_argument_errors():
    task = tasks.get("equality", n=4)
    with pytest.raises(tasks.TaskError, match=r"rng must be a numpy.random.Generator"):
        task.sample(0, 3)
    with pytest.raises(tasks.TaskError, match=r"rng must be a numpy.random.Generator"):
        task.sample(np.random.RandomState(0), 3)
    with pytest.raises(tasks.TaskError, match=r"batch must be >= 0, got -1"):
        task.sample(np.random.default_rng(0), -1)
    with pytest.raises(tasks.TaskError, match=r"batch must be an integer"):
        task.sample(np.random.default_rng(0), 2.5)


# ---------------------------------------------------------------------------- enumeration


@pytest.mark.parametrize("name, params", DISCRETE, ids=ids(DISCRETE))
def test_enumeration_is_complete_valid_and_batched(name, params):
    task = tasks.get(name, **params)
    batches = list(task.enumerate(batch_size=7))
    assert all(b.shape == (7, task.seq_len) for b in batches[:-1])
    assert 1 <= batches[-1].shape[0] <= 7
    x = np.concatenate(batches)
    assert x.shape[0] == task.num_inputs
    assert len(set(rows_as_tuples(x))) == task.num_inputs
    np.testing.assert_array_equal(task.check_inputs(x), x)
    # The order is fixed: a second pass with another batch size gives the same rows.
    np.testing.assert_array_equal(np.concatenate(list(task.enumerate(batch_size=4096))), x)


def test_enumerate_batch_size_errors():
    task = tasks.get("equality", n=4)
    with pytest.raises(tasks.TaskError, match=r"batch_size must be >= 1, got 0"):
        task.enumerate(0)
    with pytest.raises(tasks.TaskError, match=r"batch_size must be an integer"):
        task.enumerate(1.5)


def test_enumerate_is_lazy_for_astronomical_counts():
    task = tasks.get("equality", n=300)
    first = next(task.enumerate(batch_size=4))
    expected = np.zeros((4, 300), dtype=np.int64)
    expected[1, -1] = expected[3, -1] = expected[2, -2] = expected[3, -2] = 1
    np.testing.assert_array_equal(first, expected)


@given(
    radices=st.lists(st.integers(1, 5), min_size=1, max_size=5),
    batch_size=st.integers(1, 50),
)
def test_mixed_radix_fast_and_carry_paths_agree_with_itertools(radices, batch_size):
    import itertools

    expected = np.array(list(itertools.product(*[range(r) for r in radices])), dtype=np.int64).reshape(-1, len(radices))
    fast = list(mixed_radix_batches(radices, batch_size))
    slow = list(mixed_radix_batches(radices, batch_size, _force_slow=True))
    assert [len(b) for b in fast] == [len(b) for b in slow]
    np.testing.assert_array_equal(np.concatenate(fast), expected)
    np.testing.assert_array_equal(np.concatenate(slow), expected)


def test_carry_path_far_into_a_huge_count():
    # Radices whose product exceeds 2^62 take the carry path; check a batch that crosses carries.
    radices = [3] * 45
    total = 3**45
    assert total > 2**62
    batches = mixed_radix_batches(radices, batch_size=5)
    first = next(batches)
    assert first[:, :-2].sum() == 0 and first[:, -2:].tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1]]
    assert next(batches)[:, -2:].tolist() == [[1, 2], [2, 0], [2, 1], [2, 2], [0, 0]]


# ---------------------------------------------------------------------------- splits


@pytest.mark.parametrize("name, params", SMALL, ids=ids(SMALL))
@pytest.mark.parametrize("kind", ["prefix", "odd_even"])
def test_splits_partition_positions(name, params, kind):
    task = tasks.get(name, **params)
    split = task.split(kind)
    assert isinstance(split, tasks.Split) and split.kind == kind
    assert sorted(split.alice + split.bob) == list(range(task.seq_len))
    assert set(split.alice).isdisjoint(split.bob)
    assert all(type(p) is int for p in split.alice + split.bob)


@pytest.mark.parametrize(
    "name, params, alice",
    [
        ("index_lookup", dict(n=4, alphabet_size=2), (0, 1, 2, 3)),
        ("associative_recall", dict(n=2, num_keys=3), (0, 1, 2, 3)),
        ("equality", dict(n=6), (0, 1, 2)),
        ("disjointness", dict(n=4), (0, 1)),
        ("threshold", tasks.threshold_params_equality(4), (0, 1)),
        ("dyck", dict(n=6), (0, 1, 2)),
        ("nearest_neighbor", dict(n=3), (0, 1, 2)),
    ],
)
def test_default_prefix_cuts(name, params, alice):
    split = tasks.get(name, **params).split()
    assert split.alice == alice and split.kind == "prefix"


def test_prefix_with_explicit_cut_and_odd_even_and_halves():
    task = tasks.get("dyck", n=8)
    assert task.split("prefix", cut=3) == tasks.Split((0, 1, 2), (3, 4, 5, 6, 7), "prefix")
    assert task.split("prefix", cut=0).alice == ()
    assert task.split("prefix", cut=8).bob == ()
    assert task.split("odd_even") == tasks.Split((0, 2, 4, 6), (1, 3, 5, 7), "odd_even")
    assert tasks.get("equality", n=6).split("halves") == tasks.Split((0, 1, 2), (3, 4, 5), "halves")
    assert tasks.get("index_lookup", n=3).split("odd_even") == tasks.Split((0, 2), (1, 3), "odd_even")


def test_split_errors():
    task = tasks.get("equality", n=6)
    with pytest.raises(tasks.TaskError, match=r"unknown split kind 'diagonal'; known kinds: prefix, halves, odd_even"):
        task.split("diagonal")
    with pytest.raises(tasks.TaskError, match=r"cut must lie in \[0, 6\] for equality, got 7"):
        task.split("prefix", cut=7)
    with pytest.raises(tasks.TaskError, match=r"cut must lie in \[0, 6\]"):
        task.split("prefix", cut=-1)
    with pytest.raises(tasks.TaskError, match=r"cut is only accepted by the 'prefix' split"):
        task.split("odd_even", cut=2)
    with pytest.raises(tasks.TaskError, match=r"'halves' split needs a string task of even length; index_lookup"):
        tasks.get("index_lookup", n=3).split("halves")
    with pytest.raises(tasks.TaskError, match=r"'halves' split needs .* threshold has length 5"):
        tasks.get("threshold", n=5, index_sets=[], truth_tables=[], c=0).split("halves")


# ---------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("name, params", DISCRETE, ids=ids(DISCRETE))
def test_common_input_errors(name, params):
    task = tasks.get(name, **params)
    x = task.sample(np.random.default_rng(0), 4)
    with pytest.raises(
        tasks.TaskError, match=r"must be a batch of shape \[B, \d+\].*wrap a single example as x\[None\]"
    ):
        task.solve(x[0])
    with pytest.raises(tasks.TaskError, match=r"must be a batch of shape"):
        task.check_inputs(x[None])
    with pytest.raises(tasks.TaskError, match=rf"must have length {task.seq_len}"):
        task.check_inputs(x[:, :-1])
    with pytest.raises(tasks.TaskError, match=r"must be integer token ids, got dtype float64"):
        task.check_inputs(x.astype(np.float64))
    bad = x.copy()
    bad[2, 1] = task.vocab_size
    with pytest.raises(
        tasks.TaskError, match=rf"token ids must lie in \[0, {task.vocab_size}\); first offence: example 2, position 1"
    ):
        task.check_inputs(bad)
    bad[2, 1] = -1
    with pytest.raises(tasks.TaskError, match=r"token ids must lie in"):
        task.solve(bad)
    with pytest.raises(tasks.TaskError, match=r"rectangular"):
        task.check_inputs([[0, 1], [0]])
    with pytest.raises(tasks.TaskError, match=r"must be a batch of shape"):
        task.batch_size_of(x[0])
    # lists and other integer dtypes are accepted and canonicalised
    np.testing.assert_array_equal(task.solve(x.tolist()), task.solve(x))
    np.testing.assert_array_equal(task.check_inputs(x.astype(np.int16)), x)


# ---------------------------------------------------------------------------- no JAX


def test_package_never_imports_jax():
    root = Path(tasks.__file__).parent
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "import jax" not in text and "from jax" not in text, path
    code = "import sys, numpy as np, tasks; t = tasks.get('dyck', n=4); t.solve(t.sample(np.random.default_rng(0), 3)); print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root.parent)
    assert out.stdout.strip() == "False"
