"""Certified mode for an associative-recall RNN with a memory row per key: every input, at length 2n + 1.

The RNN of constructions/rnn_associative_recall.py keeps ``2K·⌈log2 V⌉ + ⌈log2 K⌉`` units and
reaches about ``K!·V^n`` states: no enumeration of states or of readout inputs covers it. Its
structure does: a few units (the code of the last key read) depend on the last token only, and
the rest fall into small blocks (one per key) that read only themselves and those units. This
module finds that structure in the arrays and proves each block by a small automaton, never
reading ``meta["construction"]``.

Task layout and reference (from the definition, tasks/_associative_recall.py)
    Keys ``[0, K)`` at positions ``0, 2, …, 2n−2`` (distinct), values ``K + v`` at the odd
    positions, the query (one of the keys) at position 2n; the answer is the value right after
    the query's occurrence (checked against the task's solver on random inputs).

Step 1 — tables and structure (verify/certify/_rnn_units.py)
    Each unit tabulated for the key class and the value class. *Input units*: input units of both
    classes (their value after a step is ``g(x)`` of the token just read). The other units are
    cut into *blocks*: the connected components of "reads" among them (at most 8 units each, else
    unproved). A block reads only itself and input units.

Step 2 — one automaton per block, by induction over the pairs
    State ``(b, p, r)``: the block's bits ``b`` (0/1), the class ``p`` of the input units' values
    (two values are one class when every unit of the block has the same table on both, for every
    state and token), and the reference ``r``: for each *tracked* key (a key whose table row is
    its own in every unit of the block; at most 2) unseen / read / read with value v. Tokens of a
    position class act through ``(table rows, p-class of g(x), tracked key or value)``, one
    representative each. An input with a repeated tracked key is dropped (keys are distinct).
    The sets after 0, 1, 2, … pairs are computed until one repeats (a fixed point: the step does
    not depend on the pair's index) or n pairs are done; a bit leaving {0, 1} is unproved. Every real
    input's block trajectory lies in these sets (the blocks are over-approximated independently).

Step 3 — the query and the readout, per query key q
    A block is *live* for q when some final state (after q) is nonzero on a unit the readout
    reads; every other block contributes exact zeros. Every live block must track q (final states
    with q unseen are dropped: the query is one of the keys), so each of its final states records
    the value v of q; the live blocks' final states with the same v are combined (at most 2^12),
    and each combination, with the input units at ``g(q)``, gives the logits by the model's
    readout, which must put v first with margin > 0. (With no live block the logits are constant
    and must be right for every value: only V = 1.)

Proved: every input of length 2n + 1 is answered correctly with the reported least margin, in the
given format. Assumed: nothing beyond the format's definition (fixed) or, for floats, that a sum
whose every partial sum is representable is computed exactly in any order (checked on the arrays).
Not covered (unproved, then a search for a real counterexample): big blocks, blocks that track
more than two keys, a query with no live block (V > 1) or a live block that does not track it.
"""

from __future__ import annotations

import math
import time

import numpy as np

from constructions import Model, float64_scope

from .._engine import VerifyError, task_of
from ._registry import register_certifier
from ._rnn_bits import rnn_proof_row, search_counterexample
from ._rnn_units import INPUT, RNNArrays, class_tables, margins, readout_logits

__all__ = ["certify_recall"]

MAX_BLOCK = 8
MAX_TRACKED = 2
MAX_ROWS = 1 << 12


def _answer(x: np.ndarray, n: int, K: int) -> np.ndarray:
    """The reference: the value token right after the query's occurrence, minus K."""
    keys = x[:, 0 : 2 * n : 2]
    pair = np.argmax(keys == x[:, 2 * n, None], axis=1)
    return x[np.arange(len(x)), 2 * pair + 1] - K


def _rows(a: np.ndarray):
    """``(first, inverse)`` of the distinct rows of a 2-d array (rows compared bit for bit)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    keys = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).reshape(-1)
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    return first, inv.reshape(-1)


def _blocks(arr: RNNArrays, inputs: np.ndarray) -> list[np.ndarray]:
    """Connected components of 'reads' among the non-input units."""
    m = arr.units
    rest = np.setdiff1d(np.arange(m), inputs)
    parent = {int(u): int(u) for u in rest}

    def root(u):
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for u in rest:
        for j in arr.reads[u]:
            if int(j) in parent:
                parent[root(int(u))] = root(int(j))
    groups: dict[int, list[int]] = {}
    for u in rest:
        groups.setdefault(root(int(u)), []).append(int(u))
    return [np.array(sorted(g)) for g in groups.values()]


class _Block:
    """The automaton of one block (step 2)."""

    def __init__(self, arr, tabs, inputs, beta, g_all, tok_pv):
        self.beta, self.h0 = beta, arr.dec["h0"][beta]
        h0pv = arr.dec["h0"][inputs]
        self.z = len(beta)
        self.tabs = tabs  # {"key": ClassTables, "value": ClassTables}
        pos_in = {int(u): i for i, u in enumerate(beta)}
        inp_at = {int(u): i for i, u in enumerate(inputs)}
        self.src = []  # per unit: list of ("b", i) or ("p", i) over its reads
        for u in beta:
            self.src.append(
                [("b", pos_in[int(j)]) if int(j) in pos_in else ("p", inp_at[int(j)]) for j in arr.reads[u]]
            )
        pvs = np.concatenate([g_all, h0pv[None]])  # every input-unit vector that can occur
        # p-classes: identical tables (all states b, both token classes, every row) on the block
        B = ((np.arange(1 << self.z)[:, None] >> np.arange(self.z)) & 1) if self.z else np.zeros((1, 0), int)
        sig = []
        for k, u in enumerate(beta):
            idx = np.zeros((len(B), len(pvs)), dtype=np.int64)
            for i, (w, a) in enumerate(self.src[k]):
                bit = B[:, a][:, None] if w == "b" else pvs[:, a][None]
                idx += (bit.astype(np.int64)) << i
            for c in ("key", "value"):
                sig.append(tabs[c].table[u][:, idx].transpose(2, 0, 1).reshape(len(pvs), -1))
        self.pclass = _rows(np.concatenate(sig, 1))[1]
        self.rep_pv = {int(c): pvs[i] for i, c in reversed(list(enumerate(self.pclass)))}
        self.tok_pv, self.h0_class = tok_pv, int(self.pclass[-1])

    def step(self, b, p, c: str, ti: int):
        """Next bits (floats) of the block from bits ``b`` and p-class ``p`` on token index ``ti`` of class ``c``."""
        pv, t = self.rep_pv[p], self.tabs[c]
        out = []
        for k, u in enumerate(self.beta):
            a = 0
            for i, (w, j) in enumerate(self.src[k]):
                a |= int(b[j] if w == "b" else pv[j]) << i
            out.append(float(t.value(u, ti, a)))
        return tuple(out)

    def groups(self, c: str, tokens: np.ndarray, tracked: tuple):
        """Representative token indices of class ``c``: ``[(ti, p-class of g(x), tracked index or value)]``,
        and the group of every token."""
        t = self.tabs[c]
        rows = np.stack([t.which[u] for u in self.beta], 1) if self.z else np.zeros((len(tokens), 0), int)
        pc = self.pclass[self.tok_pv[c]]
        ref = np.full(len(tokens), -1) if c == "key" else np.arange(len(tokens))
        for i, k in enumerate(tracked if c == "key" else ()):
            ref[tokens == k] = i
        key = np.concatenate([rows, pc[:, None], ref[:, None]], 1)
        first, inv = _rows(key)
        return [(int(i), int(pc[i]), int(ref[i])) for i in first], inv


def _tracked(block: _Block, K: int) -> tuple:
    """Keys whose table row is their own in every unit of the block (for the key class)."""
    if not block.z:
        return ()
    rows = np.stack([block.tabs["key"].which[u] for u in block.beta], 1)
    inv = _rows(rows)[1]
    return tuple(int(x) for x in np.flatnonzero(np.bincount(inv)[inv] == 1))


def _run_block(block: _Block, n: int, K: int, V: int, tracked: tuple):
    """Step 2: the set of states after the n pairs, or a reason it is unproved."""
    keys, vals = block.groups("key", np.arange(K), tracked)[0], block.groups("value", np.arange(V), tracked)[0]
    start = (tuple(float(v) for v in block.h0), block.h0_class, (0,) * len(tracked))
    S = {start}
    for _ in range(n):
        mid = set()
        for b, p, r in S:
            for ti, pc, ref in keys:
                if ref >= 0 and r[ref] != 0:
                    continue  # a tracked key read twice: not an input
                nb = block.step(b, p, "key", ti)
                if not all(v in (0.0, 1.0) for v in nb):
                    return None, "a block unit leaves {0, 1} on a key"
                mid.add((nb, pc, tuple(1 if i == ref else s for i, s in enumerate(r))))
        nxt = set()
        for b, p, r in mid:
            for ti, pc, v in vals:
                nb = block.step(b, p, "value", ti)
                if not all(x in (0.0, 1.0) for x in nb):
                    return None, "a block unit leaves {0, 1} on a value"
                nxt.add((nb, pc, tuple(2 + v if s == 1 else s for s in r)))
        if nxt == S:
            break
        S = nxt
    return S, None


def prove_recall(arr: RNNArrays, task) -> dict:
    """Steps 1–3 of the module docstring: ``{"proved", "min_margin", "bad", ...}``."""
    n, K, V = task.n, task.num_keys, task.num_values
    tabs = {"key": class_tables(arr, np.arange(K)), "value": class_tables(arr, K + np.arange(V))}
    inputs = np.flatnonzero((tabs["key"].kind == INPUT) & (tabs["value"].kind == INPUT))
    blocks = _blocks(arr, inputs)
    info = {
        "units": arr.units,
        "input_units": len(inputs),
        "blocks": len(blocks),
        "largest_block": max(map(len, blocks), default=0),
    }

    def unproved(reason):
        return {**info, "proved": False, "min_margin": -math.inf, "bad": {"reason": reason}}

    if info["largest_block"] > MAX_BLOCK:
        return unproved(f"a block of {info['largest_block']} units (more than {MAX_BLOCK})")
    g = {c: np.stack([tabs[c].g[u] for u in inputs], 1).reshape(len(tabs[c].tokens), len(inputs)) for c in tabs}
    both = np.concatenate([g["key"], g["value"]])
    first, inv = _rows(both)
    g_all = both[first]
    tok_pv = {"key": inv[:K], "value": inv[K:]}
    used = np.flatnonzero((arr.dec["readout_w"] != 0).any(axis=1))
    live: dict[int, list] = {}  # query key -> [(block, its final states (bits, value))]
    for bi, beta in enumerate(blocks):
        block = _Block(arr, tabs, inputs, beta, g_all, tok_pv)
        tracked = _tracked(block, K)
        if len(tracked) > MAX_TRACKED:
            return unproved(f"block {bi} tells {len(tracked)} keys apart (more than {MAX_TRACKED})")
        S, why = _run_block(block, n, K, V, tracked)
        if S is None:
            return unproved(f"block {bi}: {why}")
        read = np.isin(beta, used)
        groups, member = block.groups("key", np.arange(K), tracked)  # the query step, per group
        for gi, (ti, _, ref) in enumerate(groups):
            fin = set()
            for b, p, r in S:
                if ref >= 0 and r[ref] < 2:
                    continue  # the query key never occurred: not an input
                fin.add((block.step(b, p, "key", ti), r[ref] - 2 if ref >= 0 else -1))
            if not any(np.asarray(nb)[read].any() for nb, _ in fin):
                continue
            q = int(np.flatnonzero(member == gi)[0])
            if ref < 0:
                return unproved(f"block {bi} is live for query {q} but does not track it")
            live.setdefault(q, []).append((beta, sorted(fin)))
    if V > 1 and len(live) < K:
        return unproved(f"query {min(set(range(K)) - set(live))} has no live block")
    rows, wants, where = [], [], []
    for q in range(K):  # every live block tracks q and records the same value: join on it
        combos: list[tuple[tuple, int | None]] = [((), v) for v in range(V)] if q not in live else [((), None)]
        for beta, fin in live.get(q, []):
            combos = [(c + ((beta, nb),), v) for c, v0 in combos for nb, v in fin if v0 is None or v == v0]
            if len(combos) > MAX_ROWS:
                return unproved(f"query {q}: more than {MAX_ROWS} joint final states")
        state = np.zeros((len(combos), arr.units))
        state[:, inputs] = g["key"][q]  # the input units after the query token
        for i, (parts, _) in enumerate(combos):
            for beta, nb in parts:
                state[i, beta] = nb
        rows.append(state[:, used])
        wants.append(np.array([v for _, v in combos], dtype=np.int64))
        where += [q] * len(combos)
    mg = margins(readout_logits(arr, used, np.concatenate(rows)), np.concatenate(wants))
    worst = float(mg.min())
    bad = None
    if not (mg > 0).all():
        i = int(np.argmin(mg > 0))
        bad = {"query": where[i], "expected": int(np.concatenate(wants)[i]), "margin": float(mg[i])}
    return {**info, "proved": bad is None, "min_margin": worst, "bad": bad}


def certify_recall(model: Model, precision: str = "float64", *, task=None) -> dict:
    """One report row (mode ``"certified"``) for an associative-recall RNN (module docstring)."""
    start = time.perf_counter()
    task = task or task_of(model)
    if task.name != "associative_recall":
        raise VerifyError(f"the memory-block certificate is for associative_recall, not {task.name}")
    n, K, V = task.n, task.num_keys, task.num_values
    w = model.weights
    if w.win.shape[0] < K + V or w.readout_b.shape[0] != V:
        raise VerifyError("the model's token table or readout does not fit the task")
    x = task.sample(np.random.default_rng(0), 256)
    if not (_answer(x, n, K) == task.solve(x)).all():
        raise VerifyError("the reference of associative recall disagrees with the solver")
    arr = RNNArrays.of(model, str(precision))
    with float64_scope():
        result = prove_recall(arr, task)
    log2 = math.log2(task.num_inputs)
    counterexample = None if result["proved"] else search_counterexample(model, precision, task, log2)
    return rnn_proof_row(
        model,
        precision,
        arr.ar,
        result,
        counterexample=counterexample,
        inputs_checked=task.num_inputs if log2 < 60 else f"{K}!/{K - n}!·{V}^{n}·{n}",
        inputs_covered=f"{K}!/{K - n}!·{V}^{n}·{n}",
        proved_for="length 2n+1",
        method="input units and small blocks from the arrays; one automaton per block over the pairs "
        "(tables in the model's arithmetic); the query's live block against the readout",
        details={"units": {k: result[k] for k in ("units", "input_units", "blocks", "largest_block")}},
        start=start,
        log2_inputs=log2,
    )


@register_certifier(task="associative_recall", family="rnn")
class RecallPlan:
    """Whole-row plan (verify/certify/_registry.py): :func:`certify_recall`."""

    @staticmethod
    def certify_row(model, precision: str, task, witnesses: bool) -> dict:
        return certify_recall(model, precision, task=task)
