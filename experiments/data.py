"""Training and test data for the experiments, drawn with the ``tasks`` samplers (paper App. H;
docs/PAPER.md §13.2–§13.4).

Every sampler returns ``(tokens int32 [B, L_max], lengths int32 [B], labels int32 [B])``:
sequences are **right-padded** with token 0, and the models read their prediction at position
``lengths - 1``.  All models are causal, so padding after the read-out position cannot change a
prediction (tested), and the width of the padded array is a matter of speed only.  Test and
validation batches are padded to ``L_max``.  Training batches are too, unless the source was made
with ``length_buckets = K > 1`` (index lookup and equality, whose training lengths vary):

* **Length buckets.**  The training lengths are cut into K contiguous ranges of (nearly) equal
  size; a batch first draws one range, with probability proportional to its size, then every
  example's length uniformly inside it, and is padded to that range's longest length only.  Every
  example's length is still exactly uniform over all training lengths (the paper's distribution);
  what changes is only that a batch's lengths lie close together.  With K = 8 an index-lookup batch
  at n = 200 is 117.4 tokens wide on average instead of 201 (K compiled shapes instead of one).

* :class:`IndexLookupData` (App. H.1): alphabet |A| = 64; a training example draws its length
  ``ℓ ~ Uniform{10..n}`` (``min(10, n)`` for tiny n), then symbols and a position ``t < ℓ`` from
  ``tasks.get("index_lookup", n=ℓ, alphabet_size=64)`` — one task per distinct ℓ in the batch.
  That task's index token is ``64 + t``, the same id for the same t at every ℓ, so all lengths
  share one vocabulary of ``64 + n`` tokens.  Test and validation examples have length exactly n.
* :class:`DyckData` (App. H.1): ``tasks.get("dyck", n=n)``'s balanced sampler: positive with
  probability 1/2 from the paper's generator, negatives by its corruption of 1..n/10 positions
  (redone while still valid).  The paper's depth-1 rule is ambiguous; ``tasks`` resolves it as
  1/2 open (type uniform) / 1/2 close (recorded as ``DYCK_DEPTH1_RULE``).  The paper states no
  training length distribution beyond "length exactly n", so training, validation and test are
  all at length n.
* :class:`EqualityData` (App. H.2): the three string-equality variants with a ``[SEP]`` token and
  training length ``ℓ ~ Uniform{n/10, n/10 + 2, ..., n}`` (even), test at n; see the class.
"""

from __future__ import annotations

import numpy as np

import tasks

ALPHABET = 64
DYCK_DEPTH1_RULE = "at depth 1: open with probability 1/2 (type uniform), else close the top (tasks.Dyck)"


class DataError(ValueError):
    """Bad task name or length."""


def _pack(seqs_by_len, max_len):
    """[(tokens [k, ℓ], labels [k])...] -> padded (tokens, lengths, labels)."""
    total = sum(x.shape[0] for x, _ in seqs_by_len)
    tokens = np.zeros((total, max_len), dtype=np.int32)
    lengths = np.empty(total, dtype=np.int32)
    labels = np.empty(total, dtype=np.int32)
    i = 0
    for x, y in seqs_by_len:
        k, ell = x.shape
        tokens[i : i + k, :ell] = x
        lengths[i : i + k] = ell
        labels[i : i + k] = y
        i += k
    return tokens, lengths, labels


def _bucketed_lengths(rng, lengths, buckets, batch):
    """``batch`` lengths drawn uniformly from ``lengths`` (sorted), grouped as described in the
    module docstring: returns (the lengths, the largest length of the chosen range).  One bucket:
    one independent draw per example, padded to the longest training length."""
    if buckets == 1:
        return rng.choice(lengths, size=batch), int(lengths[-1])
    ranges = np.array_split(lengths, min(buckets, lengths.size))
    sizes = np.array([r.size for r in ranges], dtype=float)
    chosen = ranges[rng.choice(len(ranges), p=sizes / sizes.sum())]
    return rng.choice(chosen, size=batch), int(chosen[-1])


def _check_buckets(length_buckets):
    if not isinstance(length_buckets, (int, np.integer)) or isinstance(length_buckets, bool) or length_buckets < 1:
        raise DataError(f"length_buckets must be an integer >= 1, got {length_buckets!r}")
    return int(length_buckets)


def _shuffle(rng, arrays):
    perm = rng.permutation(arrays[0].shape[0])
    return tuple(a[perm] for a in arrays)


class IndexLookupData:
    """Index lookup with |A| = 64; training lengths (number of symbols) uniform in [min(10,n), n]."""

    name = "index_lookup"

    def __init__(self, n: int, min_len: int = 10, length_buckets: int = 1):
        if not isinstance(n, (int, np.integer)) or n < 2:
            raise DataError(f"index_lookup needs n >= 2, got {n!r}")
        self.n = int(n)
        self.min_len = min(min_len, self.n)
        self.length_buckets = _check_buckets(length_buckets)
        self.train_lengths = np.arange(self.min_len, self.n + 1)
        self.max_len = self.n + 1
        self.vocab = ALPHABET + self.n
        self.classes = ALPHABET
        self._tasks = {}

    def _task(self, ell):
        if ell not in self._tasks:
            self._tasks[ell] = tasks.get("index_lookup", n=ell, alphabet_size=ALPHABET)
        return self._tasks[ell]

    def _at(self, rng, ells, width=None):
        parts = []
        values, counts = np.unique(ells, return_counts=True)
        for ell, k in zip(values.tolist(), counts.tolist()):
            task = self._task(ell)
            x = task.sample(rng, k)
            parts.append((x, task.solve(x)))
        return _shuffle(rng, _pack(parts, width or self.max_len))

    def train_batch(self, rng, batch):
        if self.length_buckets == 1:  # one draw per example (the stream of the committed K = 1 runs)
            return self._at(rng, rng.integers(self.min_len, self.n + 1, size=batch))
        ells, longest = _bucketed_lengths(rng, self.train_lengths, self.length_buckets, batch)
        return self._at(rng, ells, width=longest + 1)  # ℓ symbols + the index token

    def test_batch(self, rng, batch):
        return self._at(rng, np.full(batch, self.n))


class DyckData:
    """Dyck-(2,2) membership at length exactly n, balanced labels (``tasks.Dyck.sample``)."""

    name = "dyck"

    def __init__(self, n: int):
        if not isinstance(n, (int, np.integer)) or n < 2 or n % 2:
            raise DataError(f"dyck needs an even n >= 2, got {n!r}")
        self.n = int(n)
        self.max_len = self.n
        self.vocab = 4
        self.classes = 2
        self.task = tasks.get("dyck", n=self.n, types=2, depth=2)

    def train_batch(self, rng, batch):
        x = self.task.sample(rng, batch)
        return _pack([(x, self.task.solve(x))], self.max_len)

    test_batch = train_batch


EQ_VARIANTS = ("eq_random", "eq_one", "eq_ncp")


class EqualityData:
    """String equality with a separator (App. H.2).  Token ids: symbols ``0..V-1``, ``[SEP] = V``.
    An example of length ℓ (even) is ``u [SEP] v`` with ``|u| = |v| = ℓ/2`` (so ℓ+1 tokens).

    * ``eq_random``: V = 2.  Label 1/2 positive (v = u), else v independent uniform; the label is
      computed (``tasks.get("equality", n=ℓ).solve(u‖v)``), so a "negative" is positive with
      probability ``2^(-ℓ/2)``.
    * ``eq_one``: V = 1024.  Positive v = u; negative: u with exactly one position changed to a
      different symbol.
    * ``eq_ncp`` (next-character prediction, V = 1024): ``u [SEP] u``; the targets are the next
      token at every position (``-1`` where none is defined: inside u, which is random); an example
      counts as correct only if every defined target is predicted.  After [SEP] the only valid
      continuation is the copy, so this is copying.  ``train_batch`` returns
      ``(tokens, lengths, targets [B, L_max])`` with targets ``-1`` outside the copy.  (Generator
      only: the protocols train classifiers, not this variant.)

    Training lengths ``ℓ ~ Uniform{n/10, n/10 + 2, ..., n}`` rounded to even; test at ℓ = n.
    """

    def __init__(self, n: int, variant: str, length_buckets: int = 1):
        if variant not in EQ_VARIANTS:
            raise DataError(f"unknown equality variant {variant!r}; choose one of {', '.join(EQ_VARIANTS)}")
        if not isinstance(n, (int, np.integer)) or n < 2 or n % 2:
            raise DataError(f"{variant} needs an even n >= 2, got {n!r}")
        self.name = variant
        self.n = int(n)
        self.symbols = 2 if variant == "eq_random" else 1024
        self.sep = self.symbols
        self.vocab = self.symbols + 1
        self.max_len = self.n + 1
        self.classes = self.vocab if variant == "eq_ncp" else 2
        low = max(2, self.n // 10 + (self.n // 10) % 2)
        self.train_lengths = np.arange(low, self.n + 1, 2)
        self.length_buckets = _check_buckets(length_buckets)

    def _make(self, rng, ell, k):
        half = ell // 2
        u = rng.integers(0, self.symbols, size=(k, half))
        if self.name == "eq_ncp":
            return u, u.copy(), None
        pos = rng.random(k) < 0.5
        if self.name == "eq_random":
            v = np.where(pos[:, None], u, rng.integers(0, self.symbols, size=(k, half)))
            y = tasks.get("equality", n=ell).solve(np.concatenate([u, v], axis=1)) if self.symbols == 2 else None
        else:
            v = u.copy()
            rows = np.flatnonzero(~pos)
            where = rng.integers(0, half, size=rows.size)
            shift = rng.integers(1, self.symbols, size=rows.size)
            v[rows, where] = (v[rows, where] + shift) % self.symbols
            y = np.all(u == v, axis=1)
        return u, v, np.asarray(y, dtype=np.int64)

    def _at(self, rng, ells, width=None):
        width = width or self.max_len
        parts, targets = [], []
        values, counts = np.unique(ells, return_counts=True)
        for ell, k in zip(values.tolist(), counts.tolist()):
            u, v, y = self._make(rng, ell, k)
            x = np.concatenate([u, np.full((k, 1), self.sep), v], axis=1)
            if self.name == "eq_ncp":
                t = np.full((k, width), -1, dtype=np.int32)
                half = ell // 2
                t[:, half:ell] = v  # after [SEP] (position half) and each copied symbol: the next copy symbol
                targets.append(t)
                y = np.zeros(k, dtype=np.int64)
            parts.append((x, y))
        tokens, lengths, labels = _pack(parts, width)
        if self.name == "eq_ncp":
            return tokens, lengths, np.concatenate(targets)
        return tokens, lengths, labels

    def train_batch(self, rng, batch):
        ells, longest = _bucketed_lengths(rng, self.train_lengths, self.length_buckets, batch)
        return self._at(rng, ells, width=longest + 1)  # u [SEP] v

    def test_batch(self, rng, batch):
        return self._at(rng, np.full(batch, self.n))


TASKS = ("index_lookup", "dyck", "eq_random", "eq_one")


def make(task: str, n: int, length_buckets: int = 1):
    """The data source for a (classification) task of the protocols at test length n; training
    batches in ``length_buckets`` length ranges (module docstring; Dyck has one length only)."""
    if task == "index_lookup":
        return IndexLookupData(n, length_buckets=length_buckets)
    if task == "dyck":
        if _check_buckets(length_buckets) != 1:
            raise DataError(f"dyck trains at length exactly n; length_buckets must be 1, got {length_buckets!r}")
        return DyckData(n)
    if task in ("eq_random", "eq_one"):
        return EqualityData(n, task, length_buckets=length_buckets)
    raise DataError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
