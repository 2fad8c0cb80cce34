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


def test_bad_tasks_and_lengths():
    with pytest.raises(data.DataError, match="unknown task 'parity'"):
        data.make("parity", 10)
    with pytest.raises(data.DataError, match="dyck needs an even n >= 2, got 7"):
        data.make("dyck", 7)
    with pytest.raises(data.DataError, match="unknown equality variant 'eq_two'"):
        data.EqualityData(10, "eq_two")
