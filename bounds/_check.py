"""Independent checkers for the certificates of :mod:`bounds._certificates` and :mod:`bounds._rank`.

A checker trusts nothing a producer computed except what the certificate states. It rebuilds the
task from its name and parameters, assembles the inputs from the parts with its own code, asks the
reference solver (``task.solve``, which also rejects strings that are not inputs) and checks the
claim with plain array comparisons or one exact matrix product. It imports nothing from the
producers. Every failure raises :class:`CertificateError` with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import numpy as np

import tasks

from ._closed_forms import BoundError

if TYPE_CHECKING:
    from ._certificates import FoolingSetCertificate, OneWayCertificate
    from ._rank import RankCertificate

__all__ = ["CertificateError", "check_one_way", "check_fooling_set", "check_rank", "check"]

_BLOCK = 1 << 17  # inputs per solver call


class CertificateError(BoundError):
    """A certificate that does not prove what it claims."""


def _bits(k: int) -> int:
    """``⌈log2 k⌉`` via integer arithmetic: the least c with ``2^c >= k``."""
    c = 0
    while (1 << c) < k:
        c += 1
    return c


def _task(cert):
    try:
        return tasks.get(cert.task, **cert.params)
    except (tasks.TaskError, ValueError) as e:
        raise CertificateError(f"certificate names a bad task: {e}") from None


def _positions(cert, task):
    alice, bob = list(cert.alice), list(cert.bob)
    if sorted(alice + bob) != list(range(task.seq_len)):
        raise CertificateError("alice and bob positions do not partition the input")
    return alice, bob


def _distinct(parts: np.ndarray, what: str):
    if np.unique(parts, axis=0).shape[0] != parts.shape[0]:
        raise CertificateError(f"{what} are not distinct")


def _solve(task, alice, bob, a, b) -> np.ndarray:
    """f on the inputs with Alice part ``a[i]`` and Bob part ``b[i]`` (``[k, ·]`` each)."""
    x = np.empty((a.shape[0], len(alice) + len(bob)), dtype=np.int64)
    for k, pos in enumerate(alice):  # column by column: plain strided copies
        x[:, pos] = a[:, k]
    for k, pos in enumerate(bob):
        x[:, pos] = b[:, k]
    try:
        return np.asarray(task.solve(x), dtype=np.int64)
    except tasks.TaskError as e:
        raise CertificateError(f"a claimed input is not an input of {task.name}: {e}") from None


def _solve_or_undefined(task, alice, bob, a, b) -> np.ndarray:
    """Like :func:`_solve`, with -1 for combinations that are not inputs (found by bisection)."""
    try:
        return _solve(task, alice, bob, a, b)
    except CertificateError:
        if a.shape[0] == 1:
            return np.array([-1], dtype=np.int64)
        h = a.shape[0] // 2
        return np.concatenate(
            [_solve_or_undefined(task, alice, bob, a[:h], b[:h]), _solve_or_undefined(task, alice, bob, a[h:], b[h:])]
        )


def _grid(task, alice, bob, a_parts, b_parts) -> np.ndarray:
    """``[NA, NB]``: f at every (Alice part, Bob part) combination, all required to be inputs."""
    na, nb = a_parts.shape[0], b_parts.shape[0]
    out = np.empty((na, nb), dtype=np.int64)
    step = max(1, _BLOCK // max(nb, 1))
    for s in range(0, na, step):
        a = a_parts[s : s + step]
        out[s : s + a.shape[0]] = _solve(
            task, alice, bob, np.repeat(a, nb, axis=0), np.tile(b_parts, (a.shape[0], 1))
        ).reshape(a.shape[0], nb)
    return out


# --- one-way ------------------------------------------------------------------------------------


def check_one_way(cert: OneWayCertificate) -> dict:
    """Re-check a :class:`~bounds.OneWayCertificate`; returns ``{"lower_bits", "upper_bits"}``.

    Upper bound: every claimed input (all combinations, or those marked ``valid``) is an input,
    they are ``task.num_inputs`` distinct inputs (so: all of them), and Bob's table gives f on
    each. Lower bound: on the distinguishing columns every two witnesses are both defined and
    differ somewhere, so they need distinct messages.
    """
    task = _task(cert)
    alice, bob = _positions(cert, task)
    A, B = np.asarray(cert.alice_parts), np.asarray(cert.bob_parts)
    if A.shape[1:] != (len(alice),) or B.shape[1:] != (len(bob),):
        raise CertificateError("parts do not match the positions")
    _distinct(A, "Alice's parts")
    _distinct(B, "Bob's parts")
    classes, table = np.asarray(cert.classes), np.asarray(cert.table)
    if (
        classes.shape != (A.shape[0],)
        or classes.min(initial=0) < 0
        or table.shape[1] != B.shape[0]
        or classes.max(initial=-1) >= table.shape[0]
    ):
        raise CertificateError("messages or Bob's table have the wrong shape or range")
    valid = np.ones((A.shape[0], B.shape[0]), dtype=bool) if cert.valid is None else np.asarray(cert.valid, bool)
    if valid.shape != (A.shape[0], B.shape[0]):
        raise CertificateError("valid mask has the wrong shape")
    if int(valid.sum()) != task.num_inputs:
        raise CertificateError(f"the protocol covers {int(valid.sum())} inputs, the task has {task.num_inputs}")
    ia, ib = np.nonzero(valid)
    F = np.full(valid.shape, -2, dtype=np.int64)  # f on every claimed input; -2: not evaluated
    for s in range(0, ia.size, _BLOCK):
        a, b = ia[s : s + _BLOCK], ib[s : s + _BLOCK]
        f = _solve(task, alice, bob, A[a], B[b])
        F[a, b] = f
        wrong = f != table[classes[a], b]
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            raise CertificateError(
                f"Bob answers {table[classes[a[k]], b[k]]} but f = {f[k]} on Alice part "
                f"{A[a[k]].tolist()}, Bob part {B[b[k]].tolist()}"
            )
    w, d = np.asarray(cert.witnesses), np.asarray(cert.distinguishing)
    if (
        np.unique(w).size != w.size
        or w.size == 0
        or w.min() < 0
        or w.max() >= A.shape[0]
        or (d.size and (d.min() < 0 or d.max() >= B.shape[0]))
    ):
        raise CertificateError("witnesses or distinguishing columns out of range or repeated")
    k = w.size
    f = F[np.ix_(w, d)]
    todo = np.argwhere(f == -2)  # combinations not claimed as inputs: ask the task whether they are
    if todo.size:
        f[todo[:, 0], todo[:, 1]] = _solve_or_undefined(task, alice, bob, A[w[todo[:, 0]]], B[d[todo[:, 1]]])
    if (f >= 0).all():  # fully defined: separated pairwise <=> the rows are distinct
        if np.unique(f, axis=0).shape[0] != k:
            raise CertificateError("two witnesses have equal answers on the distinguishing columns")
    else:
        apart = ((f[:, None, :] >= 0) & (f[None, :, :] >= 0) & (f[:, None, :] != f[None, :, :])).any(axis=2)
        np.fill_diagonal(apart, True)
        if not apart.all():
            i, j = np.argwhere(~apart)[0]
            raise CertificateError(
                f"witnesses {int(w[i])} and {int(w[j])} are not separated by the distinguishing columns"
            )
    got = {"lower_bits": _bits(k), "upper_bits": _bits(np.unique(classes).size)}
    claimed = {"lower_bits": cert.lower_bits, "upper_bits": cert.upper_bits}
    if got != claimed:
        raise CertificateError(f"certificate claims {claimed}, its contents prove {got}")
    return got


# --- fooling set --------------------------------------------------------------------------------


def check_fooling_set(cert: FoolingSetCertificate) -> int:
    """Re-check a :class:`~bounds.FoolingSetCertificate`; returns the certified bits ``⌈log2 |S|⌉``.

    f = value on every pair; for every i != j, ``f(x_i, y_j) != value`` or ``f(x_j, y_i) != value``
    (all N² cross inputs are evaluated, in row blocks).
    """
    task = _task(cert)
    alice, bob = _positions(cert, task)
    X, Y = np.asarray(cert.alice_parts), np.asarray(cert.bob_parts)
    if X.shape[0] != Y.shape[0] or X.shape[1:] != (len(alice),) or Y.shape[1:] != (len(bob),):
        raise CertificateError("pairs do not match the positions")
    _distinct(np.concatenate([X, Y], axis=1), "the pairs")
    cross = _grid(task, alice, bob, X, Y)  # cross[i, j] = f(x_i, y_j)
    if not (np.diag(cross) == cert.value).all():
        i = int(np.flatnonzero(np.diag(cross) != cert.value)[0])
        raise CertificateError(f"pair {i} has f = {cross[i, i]}, not {cert.value}")
    hit = cross == cert.value
    both = hit & hit.T
    np.fill_diagonal(both, False)
    if both.any():
        i, j = np.argwhere(both)[0]
        raise CertificateError(f"pairs {int(i)} and {int(j)} do not fool each other: both crossings give {cert.value}")
    bits = _bits(X.shape[0])
    if bits != cert.bits:
        raise CertificateError(f"certificate claims {cert.bits} bits, its {X.shape[0]} pairs prove {bits}")
    return bits


# --- rank ---------------------------------------------------------------------------------------


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer product, exactly: float64 BLAS when every partial sum stays below 2^53, else Python ints."""
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0:
        return np.zeros((a.shape[0], b.shape[1]), dtype=object)
    ma = max(abs(int(a.max())), abs(int(a.min())))
    mb = max(abs(int(b.max())), abs(int(b.min())))
    if ma * mb * a.shape[1] < 2**53:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(object)
    return a.astype(object).dot(b.astype(object))


def check_rank(cert: RankCertificate) -> dict:
    """Re-check a :class:`~bounds.RankCertificate`; returns ``{"rank", "upper_certified", "bits"}``.

    Rebuilds the 0/1 matrix from the solver; checks p is prime and ``M[rows, cols] @ inverse ≡ I
    (mod p)`` (so ``rank_Q >= r``); if ``r < min(R, C)``, checks ``M @ kernel = 0`` over the integers
    with ``kernel[free]`` a nonsingular diagonal (so ``rank_Q <= r``).
    """
    task = _task(cert)
    alice, bob = _positions(cert, task)
    A, B = np.asarray(cert.alice_parts), np.asarray(cert.bob_parts)
    _distinct(A, "Alice's parts")
    _distinct(B, "Bob's parts")
    if A.shape[0] * B.shape[0] != task.num_inputs:
        raise CertificateError("the parts do not span the whole (total) matrix")
    m = _grid(task, alice, bob, A, B)
    if cert.complement:
        m = 1 - m
    p, r = int(cert.prime), int(cert.rank)
    import sympy  # the primality test, here only: importing bounds does not import sympy

    if not sympy.isprime(p):
        raise CertificateError(f"{p} is not prime")
    rows, cols, inv = np.asarray(cert.rows), np.asarray(cert.cols), np.asarray(cert.inverse)
    if (
        rows.shape != (r,)
        or cols.shape != (r,)
        or inv.shape != (r, r)
        or np.unique(rows).size != r
        or np.unique(cols).size != r
        or (r and (inv.min() < 0 or inv.max() >= p))
    ):
        raise CertificateError("the submatrix or its inverse has the wrong shape or entries")
    if r:
        prod = np.mod(_exact_matmul(m[np.ix_(rows, cols)], inv), p)
        if not (prod == np.eye(r, dtype=np.int64)).all():
            raise CertificateError("the claimed inverse is not an inverse mod p: the submatrix may be singular")
    R, C = m.shape
    upper = r == min(R, C)
    if not upper and cert.kernel is not None:
        K, free = np.asarray(cert.kernel, dtype=object), np.asarray(cert.free)
        if K.shape != (C, C - r) or free.shape != (C - r,) or np.unique(free).size != C - r:
            raise CertificateError("the kernel has the wrong shape")
        top = K[free]
        if (top[~np.eye(C - r, dtype=bool)] != 0).any() or (np.diag(top) == 0).any():
            raise CertificateError("kernel rows at the free indices are not a nonsingular diagonal")
        if (_exact_matmul(m, K) != 0).any():
            raise CertificateError("M @ kernel is not zero")
        upper = True
    if upper != cert.upper_certified:
        raise CertificateError(f"certificate claims upper_certified={cert.upper_certified}, contents give {upper}")
    bits = _bits(r) if r else 0
    if bits != cert.bits:
        raise CertificateError(f"certificate claims {cert.bits} bits, rank {r} gives {bits}")
    return {"rank": r, "upper_certified": upper, "bits": bits}


def check(cert: OneWayCertificate | FoolingSetCertificate | RankCertificate) -> dict | int:
    """Dispatch on the certificate's kind (its class name)."""
    kind = type(cert).__name__
    if kind == "OneWayCertificate":
        return check_one_way(cast("OneWayCertificate", cert))
    if kind == "FoolingSetCertificate":
        return check_fooling_set(cast("FoolingSetCertificate", cert))
    if kind == "RankCertificate":
        return check_rank(cast("RankCertificate", cert))
    raise CertificateError(f"unknown certificate type {kind}")
