"""Nearest neighbour: hand example, constructed sampler (unit norm, margin, variety), checks."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tasks


def brute_nearest(points, labels):
    query = points[-1]
    best, best_score = None, -math.inf
    for i, p in enumerate(points[:-1]):
        score = sum(a * b for a, b in zip(p, query))
        if score > best_score:
            best, best_score = i, score
    return labels[best]


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def test_hand_worked_example():
    task = tasks.get("nearest_neighbor", n=3, dim=2, margin=0.5, num_labels=3)
    points = np.array([[[1, 0], [0, 1], [-1, 0], unit([0.1, 1])]])
    assert task.solve({"points": points, "labels": [[0, 2, 1]]}).tolist() == [2]
    points2 = np.array([[[1, 0], [0, 1], [-1, 0], unit([-1, 0.1])]])
    assert task.solve({"points": points2, "labels": [[0, 2, 1]]}).tolist() == [1]


@pytest.mark.parametrize(
    "n, dim, margin",
    [(1, 2, 0.5), (2, 2, 2.0), (5, 3, 0.1), (16, 8, 0.01), (40, 4, 1.0), (7, 2, 1e-6)],
)
def test_samples_satisfy_unit_norm_and_margin(n, dim, margin):
    task = tasks.get("nearest_neighbor", n=n, dim=dim, margin=margin, num_labels=4)
    x = task.sample(np.random.default_rng(n), 500)
    assert x["points"].shape == (500, n + 1, dim) and x["labels"].shape == (500, n)
    task.check_inputs(x)  # raises on non-unit points or a violated margin
    np.testing.assert_allclose(np.linalg.norm(x["points"], axis=2), 1.0, atol=1e-12)
    if n >= 2:
        scores = np.einsum("bid,bd->bi", x["points"][:, :n], x["points"][:, n])
        top2 = -np.sort(-scores, axis=1)[:, :2]
        gaps = top2[:, 0] - top2[:, 1]
        assert (gaps >= margin - 1e-12).all()
        tight = np.abs(gaps - margin) < 1e-9
        if margin < 2:  # some examples are tight (about half), others are not
            assert 0.3 < tight.mean() < 0.7
        else:  # margin 2 forces the winner onto the query and every other point opposite it
            assert tight.all()


def test_sampler_varies_the_winner_position_and_labels():
    task = tasks.get("nearest_neighbor", n=6, dim=5, margin=0.2, num_labels=3)
    x = task.sample(np.random.default_rng(0), 3000)
    scores = np.einsum("bid,bd->bi", x["points"][:, :6], x["points"][:, 6])
    winner = np.argmax(scores, axis=1)
    assert np.bincount(winner, minlength=6).min() > 400
    assert np.bincount(task.solve(x), minlength=3).min() > 850
    top = scores.max(axis=1)
    assert top.min() < -0.5 and top.max() > 0.9  # the winning inner product varies


@given(n=st.integers(1, 6), dim=st.integers(2, 4), seed=st.integers(0, 2**32 - 1))
def test_solver_matches_brute_force(n, dim, seed):
    task = tasks.get("nearest_neighbor", n=n, dim=dim, margin=0.05, num_labels=3)
    x = task.sample(np.random.default_rng(seed), 5)
    expected = [brute_nearest(p.tolist(), l.tolist()) for p, l in zip(x["points"], x["labels"])]
    assert task.solve(x).tolist() == expected


def test_input_errors():
    task = tasks.get("nearest_neighbor", n=3, dim=2, margin=0.5)
    good = {"points": np.array([[[1.0, 0], [0, 1], [-1, 0], [1, 0]]]), "labels": np.array([[0, 1, 1]])}
    assert task.solve(good).tolist() == [0]
    with pytest.raises(tasks.TaskError, match=r"non-unit points; first offence: example 0, position 1"):
        task.check_inputs({"points": good["points"] * [[[1], [1.01], [1], [1]]], "labels": good["labels"]})
    close = {"points": np.array([[[1.0, 0], unit([1, 0.5]), [-1, 0], [1, 0]]]), "labels": good["labels"]}
    with pytest.raises(tasks.TaskError, match=r"margin violated; first offence: example 0"):
        task.check_inputs(close)
    with pytest.raises(tasks.TaskError, match=r'dict with exactly the keys "points" and "labels"'):
        task.check_inputs(good["points"])
    with pytest.raises(tasks.TaskError, match=r"points must have shape \[B, 4, 2\], got \(4, 2\)"):
        task.check_inputs({"points": good["points"][0], "labels": good["labels"]})
    with pytest.raises(tasks.TaskError, match=r"labels must have shape \[1, 3\], got \(1, 2\)"):
        task.check_inputs({"points": good["points"], "labels": good["labels"][:, :2]})
    with pytest.raises(tasks.TaskError, match=r"labels must lie in \[0, 2\)"):
        task.check_inputs({"points": good["points"], "labels": [[0, 2, 1]]})
    with pytest.raises(tasks.TaskError, match=r"labels must be integers"):
        task.check_inputs({"points": good["points"], "labels": [[0.0, 1.0, 1.0]]})
    with pytest.raises(tasks.TaskError, match=r"points must be finite"):
        task.check_inputs({"points": good["points"] * np.nan, "labels": good["labels"]})
    with pytest.raises(tasks.TaskError, match=r"must be a dict"):
        task.batch_size_of([1, 2])


def test_margin_tolerance_is_1e_12():
    task = tasks.get("nearest_neighbor", n=2, dim=2, margin=1.0)
    # winner inner product 1, runner-up exactly 0 -> gap 1 (= margin), then shave the gap.
    for shave, ok in [(5e-13, True), (1e-11, False)]:
        c = shave
        pts = np.array([[[1.0, 0.0], [c, math.sqrt(1 - c * c)], [1.0, 0.0]]])
        x = {"points": pts, "labels": [[1, 0]]}
        if ok:
            assert task.solve(x).tolist() == [1]
        else:
            with pytest.raises(tasks.TaskError, match="margin violated"):
                task.check_inputs(x)


def test_continuous_task_has_no_enumeration():
    task = tasks.get("nearest_neighbor", n=3)
    assert task.num_inputs is None and task.vocab_size is None
    with pytest.raises(tasks.TaskError, match=r"continuous inputs cannot be enumerated"):
        task.enumerate()
