"""Exact certificates agree with the closed forms wherever both exist; corrupted ones are rejected."""

import dataclasses

import numpy as np
import pytest

import bounds
import tasks
from bounds import CertificateError, check, closed_form, dyck_fooling_set, one_way_certificate, rank_certificate
from bounds._graphs import colour_with, conflicts


def need(task, arch, **values):
    return closed_form(task, arch).need_bits(**values)


# --- one-way communication = ceil(log2 #rows) --------------------------------------------------


@pytest.mark.parametrize("n,s", [(n, 2) for n in range(1, 13)] + [(n, 3) for n in range(1, 7)] + [(3, 5)])
def test_index_lookup_one_way_matches_theorem_3(n, s):
    cert = one_way_certificate(tasks.get("index_lookup", n=n, alphabet_size=s), "prefix")
    assert check(cert) == {"lower_bits": cert.lower_bits, "upper_bits": cert.upper_bits}
    assert cert.exact and cert.bits == need("index_lookup", "rnn", n=n, A=s)
    assert cert.table.shape[0] == s**n  # the distinct rows: every symbol string


@pytest.mark.parametrize("n,v", [(1, 2), (2, 2), (3, 2), (4, 2), (2, 3), (3, 3)])
def test_associative_recall_one_way_matches_proposition_9(n, v):
    # keys a permutation of [0, n): every query is valid, the matrix is total
    cert = one_way_certificate(tasks.get("associative_recall", n=n, num_values=v), "prefix")
    check(cert)
    assert cert.valid is None and cert.exact and cert.bits == need("associative_recall", "rnn", n=n, A=v)


def test_associative_recall_partial_matrix():
    # more keys than pairs: the query may miss Alice's keys, entries are undefined.
    cert = one_way_certificate(tasks.get("associative_recall", n=3, num_keys=4), "prefix")
    assert cert.valid is not None and not cert.valid.all()
    assert check(cert) == {"lower_bits": 3, "upper_bits": 3} and cert.bits == need(
        "associative_recall", "rnn", n=3, A=2
    )
    # distinct rows over-count: rows differing only where one is undefined share a message
    cm = bounds.matrix(tasks.get("associative_recall", n=3, num_keys=4), "prefix")
    assert cm.distinct_rows() > cert.table.shape[0]
    # n = 2, four keys: the largest clique has 4 rows (2 bits, the closed form) but no 4 messages
    # suffice (exhaustive search), so one-way needs 3 bits: the closed form is not tight here.
    cert = one_way_certificate(tasks.get("associative_recall", n=2, num_keys=4), "prefix")
    assert check(cert) == {"lower_bits": 2, "upper_bits": 3} and not cert.exact
    uniq = np.unique(bounds.matrix(tasks.get("associative_recall", n=2, num_keys=4), "prefix").values, axis=0)
    found, complete = colour_with(conflicts(uniq), 4)
    assert found is None and complete
    assert colour_with(conflicts(uniq), 5)[0] is not None


@pytest.mark.parametrize("n", range(2, 21, 2))
def test_equality_and_disjointness_one_way_match_the_closed_forms(n):
    for name in ("equality", "disjointness"):
        cert = one_way_certificate(tasks.get(name, n=n), "halves")
        check(cert)
        assert cert.exact and cert.bits == need(name, "rnn", n=n) == n // 2


@pytest.mark.parametrize("n", [4, 6, 8, 10])
def test_dyck_contiguous_split_is_cheap(n):
    # prefix/suffix split at n/2: the row depends only on the stack of depth <= 2 with the parity
    # of n/2, or on having failed: n/2 odd -> "(", "[", dead (3 rows); n/2 even -> empty, four
    # stacks of depth 2, dead (6 rows). A constant, unlike the odd/even split's n - 1.
    cert = one_way_certificate(tasks.get("dyck", n=n), "prefix")
    check(cert)
    rows = 3 if (n // 2) % 2 else 6
    assert cert.table.shape[0] == rows and cert.bits == (rows - 1).bit_length()


# --- Dyck fooling set (Lemma 1) -----------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 4, 6, 8, 10, 12])
def test_dyck_fooling_set_gives_n_minus_1(n):
    cert = dyck_fooling_set(n)
    assert cert.alice_parts.shape[0] == 2 ** (n - 1)
    assert check(cert) == n - 1 == closed_form("dyck", "tf1").need_bits(n=n)


@pytest.mark.parametrize("n", [4, 8, 10])
def test_dyck_fooling_set_is_the_whole_language(n):
    cert = dyck_fooling_set(n)
    built = np.empty((cert.alice_parts.shape[0], n), dtype=np.int64)
    built[:, 0::2], built[:, 1::2] = cert.alice_parts, cert.bob_parts
    t = tasks.get("dyck", n=n)
    every = np.concatenate([x[t.solve(x) == 1] for x in t.enumerate(1 << 16)])
    assert np.array_equal(np.unique(built, axis=0), every)  # enumerate is lexicographic


# --- rank ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", range(2, 21, 2))
def test_rank_of_eq_and_disj_is_full(n):
    for name in ("equality", "disjointness"):
        cert = rank_certificate(tasks.get(name, n=n), "halves")
        assert check(cert) == {"rank": 2 ** (n // 2), "upper_certified": True, "bits": n // 2}
        assert cert.bits == closed_form(name, "tf1").need_bits(n=n)


def test_paper_disj_convention_has_rank_one_less():
    # the paper's DISJ is 1 when the sets intersect: 1 - ours. Bob's empty set gives a zero column.
    for n in (2, 4, 8, 12):
        cert = rank_certificate(tasks.get("disjointness", n=n), "halves", complement=True)
        L = n // 2
        assert check(cert) == {"rank": 2**L - 1, "upper_certified": True, "bits": L if L > 1 else 0}
        assert cert.kernel is not None


def test_elimination_and_kronecker_agree():
    for name in ("equality", "disjointness"):
        a = rank_certificate(tasks.get(name, n=16), "halves", method="eliminate")
        b = rank_certificate(tasks.get(name, n=16), "halves", method="kronecker")
        assert a.method == "eliminate" and b.method == "kronecker" and a.rank == b.rank == 256
        check(a), check(b)


def test_rank_refuses_what_it_cannot_do():
    with pytest.raises(bounds.BoundError, match="Boolean"):
        rank_certificate(tasks.get("index_lookup", n=3, alphabet_size=3), "prefix")
    with pytest.raises(bounds.BoundError, match="Kronecker"):
        rank_certificate(tasks.get("dyck", n=4), "halves", method="kronecker")


# --- corrupted certificates are rejected --------------------------------------------------------


def corrupt(cert, **changes):
    return dataclasses.replace(cert, **changes)


def test_corrupted_one_way_certificates_are_rejected():
    cert = one_way_certificate(tasks.get("index_lookup", n=4, alphabet_size=2), "prefix")
    check(cert)
    table = cert.table.copy()
    table[3, 1] ^= 1
    classes = cert.classes.copy()
    classes[classes == 5] = 6  # merge two messages: Bob can no longer answer
    w = cert.witnesses.copy()
    w[1] = w[0]
    parts = cert.alice_parts.copy()
    parts[0] = parts[1]
    bad = [
        (corrupt(cert, table=table), "Bob answers"),
        (corrupt(cert, classes=classes), "Bob answers"),
        (corrupt(cert, witnesses=w), "repeated"),
        (corrupt(cert, witnesses=cert.witnesses[:8]), "claims"),  # proves 3 bits, claims 4
        (corrupt(cert, lower_bits=cert.lower_bits + 1, upper_bits=cert.upper_bits + 1), "claims"),
        (corrupt(cert, distinguishing=cert.distinguishing[:1]), "equal answers"),
        (corrupt(cert, alice_parts=parts), "not distinct"),
        (corrupt(cert, alice_parts=cert.alice_parts[:-1], classes=cert.classes[:-1]), "covers"),
        (corrupt(cert, params={"n": 5, "alphabet_size": 2}), "partition"),
    ]
    for c, match in bad:
        with pytest.raises(CertificateError, match=match):
            check(c)


def test_corrupted_partial_one_way_certificate_is_rejected():
    cert = one_way_certificate(tasks.get("associative_recall", n=3, num_keys=4), "prefix")
    valid = cert.valid.copy()
    i, j = np.argwhere(~valid)[0]
    k, l = np.argwhere(valid)[0]
    valid[i, j], valid[k, l] = True, False  # claim a non-input, drop an input: the count still matches
    with pytest.raises(CertificateError, match="not an input"):
        check(corrupt(cert, valid=valid))


def test_corrupted_fooling_sets_are_rejected():
    cert = dyck_fooling_set(8)
    check(cert)
    y = cert.bob_parts.copy()
    y[[3, 7]] = y[[7, 3]]  # pairs no longer in the language
    x = np.concatenate([cert.alice_parts, np.zeros((1, 4), dtype=np.int64)])
    yy = np.concatenate([cert.bob_parts, np.zeros((1, 4), dtype=np.int64)])  # "((((((((": not in the language
    # a set where two pairs cross: equality with pairs (a, a) and also (a, a') for a' = a
    eq = tasks.get("equality", n=4)
    sp = eq.split("halves")
    pairs = np.array([[0, 0], [1, 1]])
    fool = bounds.FoolingSetCertificate("equality", eq.params, sp.alice, sp.bob, pairs, pairs, 1, 1)
    check(fool)
    not_fool = bounds.FoolingSetCertificate(
        "disjointness", {"n": 4}, sp.alice, sp.bob, np.array([[0, 0], [0, 1]]), np.array([[0, 0], [1, 0]]), 1, 1
    )
    for c, match in [
        (corrupt(cert, bob_parts=y), "not 1"),
        (corrupt(cert, alice_parts=x, bob_parts=yy), "not 1"),
        (corrupt(cert, bits=cert.bits + 1), "claims"),
        (not_fool, "do not fool"),
    ]:
        with pytest.raises(CertificateError, match=match):
            check(c)


def test_corrupted_rank_certificates_are_rejected():
    cert = rank_certificate(tasks.get("disjointness", n=8), "halves")
    check(cert)
    inv = cert.inverse.copy()
    inv[2, 3] = (inv[2, 3] + 1) % cert.prime
    comp = rank_certificate(tasks.get("disjointness", n=6), "halves", complement=True)
    kernel = comp.kernel.copy()
    kernel[kernel.shape[0] - 1, 0] += 1
    bad = [
        (corrupt(cert, inverse=inv), "not an inverse"),
        (corrupt(cert, prime=2**31 - 3), "not prime"),
        (corrupt(cert, bits=cert.bits + 1), "claims"),
        (corrupt(cert, complement=True), "not an inverse"),
        (corrupt(comp, kernel=kernel), "not zero|diagonal"),
        (corrupt(comp, kernel=None), "upper_certified"),
        (corrupt(comp, rank=comp.rank + 1), "wrong shape"),
    ]
    for c, match in bad:
        with pytest.raises(CertificateError, match=match):
            check(c)


def test_bad_requests_are_one_clear_error():
    with pytest.raises(bounds.BoundError, match="even n"):
        dyck_fooling_set(7)
    with pytest.raises(tasks.TaskError, match="halves"):
        one_way_certificate(tasks.get("index_lookup", n=3, alphabet_size=2), "halves")
    with pytest.raises(bounds.BoundError, match="partial"):
        rank_certificate(tasks.get("associative_recall", n=2, num_keys=3, num_values=2), "prefix")
