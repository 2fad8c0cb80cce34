"""The experiments' generators: labels from the tasks' reference solvers, the paper's length
distributions, and the three string-equality variants of App. H.2."""

import numpy as np
import pytest

import tasks
from experiments import data


def test_index_lookup_training_lengths_and_labels():
    src = data.IndexLookupData(30)
    tok, lengths, labels = src.train_batch(np.random.default_rng(0), 2000)
    assert tok.shape == (2000, 31) and src.vocab == 64 + 30
    assert lengths.min() == 11 and lengths.max() == 31  # ℓ symbols + 1 index token, ℓ in [10, 30]
    for ell in np.unique(lengths):
        rows = lengths == ell
        x = tok[rows, :ell].astype(np.int64)
        np.testing.assert_array_equal(labels[rows], tasks.get("index_lookup", n=ell - 1, alphabet_size=64).solve(x))
        assert (tok[rows, ell:] == 0).all()
    t = tok[np.arange(2000), lengths - 1] - 64  # index token 64 + t with t < ℓ
    assert (t >= 0).all() and (t < lengths - 1).all()


def test_index_lookup_test_batch_is_at_length_n():
    src = data.IndexLookupData(30)
    tok, lengths, labels = src.test_batch(np.random.default_rng(0), 500)
    assert (lengths == 31).all()
    np.testing.assert_array_equal(labels, tasks.get("index_lookup", n=30, alphabet_size=64).solve(tok.astype(np.int64)))


def test_dyck_balanced_and_solved():
    src = data.DyckData(20)
    tok, lengths, labels = src.train_batch(np.random.default_rng(0), 4000)
    assert (lengths == 20).all()
    np.testing.assert_array_equal(labels, tasks.get("dyck", n=20).solve(tok.astype(np.int64)))
    assert 0.45 < labels.mean() < 0.55


def test_eq_random():
    src = data.EqualityData(20, "eq_random")
    tok, lengths, labels = src.train_batch(np.random.default_rng(0), 3000)
    assert set(np.unique(lengths - 1)) <= set(range(2, 21, 2)) and (lengths - 1).min() == 2
    for i in range(3000):
        ell = lengths[i] - 1
        half = ell // 2
        assert tok[i, half] == src.sep
        assert labels[i] == int((tok[i, :half] == tok[i, half + 1 : ell + 1]).all())
    assert 0.5 <= labels.mean() < 0.75  # 1/2 positives plus the negatives that came out equal


def test_eq_one_negatives_differ_in_exactly_one_place():
    src = data.EqualityData(40, "eq_one")
    tok, lengths, labels = src.test_batch(np.random.default_rng(0), 1000)
    assert (lengths == 41).all() and src.vocab == 1025
    diff = (tok[:, :20] != tok[:, 21:41]).sum(axis=1)
    np.testing.assert_array_equal(diff, np.where(labels == 1, 0, 1))
    assert 0.4 < labels.mean() < 0.6


def test_eq_ncp_targets_are_the_copy():
    src = data.EqualityData(10, "eq_ncp")
    tok, lengths, targets = src.test_batch(np.random.default_rng(0), 50)
    assert targets.shape == tok.shape
    np.testing.assert_array_equal(targets[:, 5:10], tok[:, :5])  # after [SEP], predict the copy
    np.testing.assert_array_equal(tok[:, 6:11], tok[:, :5])
    assert (targets[:, :5] == -1).all() and (targets[:, 10] == -1).all()


@pytest.mark.parametrize(
    "make",
    [lambda K: data.IndexLookupData(30, length_buckets=K), lambda K: data.EqualityData(30, "eq_one", length_buckets=K)],
)
def test_length_buckets_pad_each_batch_to_its_range(make):
    """With K buckets a batch's lengths lie in one of K contiguous ranges of the training lengths and
    the batch is exactly as wide as that range's longest example; labels stay right."""
    src = make(4)
    ranges = np.array_split(src.train_lengths, 4)
    rng = np.random.default_rng(0)
    widths = set()
    for _ in range(60):
        tok, lengths, labels = src.train_batch(rng, 16)
        ells = lengths - 1  # ℓ symbols (or ℓ = |u| + |v|) plus one index / [SEP] token
        (k,) = [k for k, r in enumerate(ranges) if r[0] <= ells.min() <= r[-1]]
        assert ells.max() <= ranges[k][-1] and tok.shape[1] == ranges[k][-1] + 1
        widths.add(tok.shape[1])
        if src.name == "index_lookup":
            for ell in np.unique(ells):
                rows = ells == ell
                task = tasks.get("index_lookup", n=int(ell), alphabet_size=64)
                np.testing.assert_array_equal(labels[rows], task.solve(tok[rows, : ell + 1].astype(np.int64)))
        else:
            half = ells // 2
            same = [np.array_equal(t[:h], t[h + 1 : 2 * h + 1]) for t, h in zip(tok, half)]
            np.testing.assert_array_equal(labels, same)
    assert widths == {r[-1] + 1 for r in ranges}
    # K = 1 pads to the longest training length, as before
    assert make(1).train_batch(rng, 16)[0].shape[1] == src.max_len


def test_length_buckets_keep_every_length_uniform():
    """Each example's length is uniform over all training lengths whatever K: the range is drawn
    with probability proportional to its size.  Five lengths in three ranges of sizes 2, 2, 1: a
    range drawn uniformly instead would put 1/3 (not 1/5) on the last length and 1/6 on the others,
    17% to 67% off; the tolerance is 6% (about 4 standard deviations of this seeded draw)."""
    lengths = np.arange(10, 15)
    rng = np.random.default_rng(0)
    draws, longest = zip(*(data._bucketed_lengths(rng, lengths, 3, 8) for _ in range(20_000)))
    counts = np.bincount(np.concatenate(draws) - 10, minlength=lengths.size)
    assert counts.size == lengths.size and set(longest) == {11, 13, 14}
    np.testing.assert_allclose(counts / counts.mean(), 1.0, atol=0.06)


def test_bad_tasks_and_lengths():
    with pytest.raises(data.DataError, match="unknown task 'parity'"):
        data.make("parity", 10)
    with pytest.raises(data.DataError, match="dyck needs an even n >= 2, got 7"):
        data.make("dyck", 7)
    with pytest.raises(data.DataError, match="unknown equality variant 'eq_two'"):
        data.EqualityData(10, "eq_two")
    with pytest.raises(data.DataError, match="length_buckets must be an integer >= 1, got 0"):
        data.make("index_lookup", 20, length_buckets=0)
    with pytest.raises(data.DataError, match="dyck trains at length exactly n; length_buckets must be 1, got 4"):
        data.make("dyck", 20, length_buckets=4)
