"""Closed-form sizes of the constructions, from their parameters alone (nothing is built).

``closed_form_size(task, arch, params)`` gives the same dict as ``Model.size()`` (width, heads,
layers, head_dim, mlp_width, params, params_no_embed) for the constructions whose array shapes
are a known function of their parameters, or None. The shapes are read off each builder:

* RNNs: ``win [vocab, m]``, ``wh [m, m]``, ``b``, ``h0 [m]``, ``readout [m, C] + [C]``, with
  hidden width m = (n+1)·⌈log2 s⌉ (index lookup), n/2 + 2 (disjointness), n/2 + Σ coprime moduli
  + 5 (equality), 2K·max(1, ⌈log2 V⌉) + max(1, ⌈log2 K⌉) (associative recall), 2k·Σ_{d<D} k^d (Dyck);
* Transformers with a random address code of dimension r = max(4, ⌈2 ln(4n)/ε²⌉) (the first
  dimension of the schedule in constructions/_addresses.py; the builder grows r only when no code
  of that dimension is found in 64 redraw rounds): residual width D = 2r + 2⌈log2 s⌉ (index
  lookup), 2r + 5 (equality), 3r + 10 (disjointness), d + 3⌈log2 V⌉ + 4r + 2 (the nearest-neighbour
  core of associative recall, d = max(1, ⌈log2 K⌉), and of nearest neighbour, "flag" mode);
* the two-layer Dyck Transformer (recency head): the model at n = 1 plus one position row per
  position (its width does not depend on n).

tests/verify/test_sizes.py checks every formula against the built model wherever both exist (small
n, several parameter values). They serve ``verify bounds`` beyond the sizes it builds, and the
memory estimate of verify/_budget.py.
"""

from __future__ import annotations

import math

__all__ = ["closed_form_size", "address_dim", "code_bits"]


def code_bits(size: int) -> int:
    """⌈log2 size⌉, at least 1: the bits of the binary code of ``size`` symbols."""
    return max(1, math.ceil(math.log2(max(size, 2))))


def address_dim(num: int, coherence: float = 0.5) -> int:
    """The first dimension of the random address code's schedule for ``num`` vectors."""
    return max(4, math.ceil(2 * math.log(4 * num) / coherence**2))


def _rnn(m: int, vocab: int, classes: int) -> dict:
    params = vocab * m + m * m + 2 * m + m * classes + classes
    return _size("rnn", 1, 0, m, None, None, params, params - vocab * m)


def _size(arch, layers, heads, width, head_dim, mlp_width, params, no_embed) -> dict:
    return {
        "arch": arch,
        "layers": layers,
        "heads": heads,
        "width": width,
        "head_dim": head_dim,
        "mlp_width": mlp_width,
        "params": params,
        "params_no_embed": no_embed,
    }


def _transformer(arch, D, vocab, seq_len, layers, classes) -> dict:
    """``layers``: ``[(heads, qk dim, value dim, mlp width)]``."""
    embed = (vocab + seq_len) * D
    body = sum(h * (2 * dqk + 2 * dv) * D + 2 * mlp * D + mlp + D for h, dqk, dv, mlp in layers)
    params = embed + body + D * classes + classes
    return _size(
        arch,
        len(layers),
        max(h for h, *_ in layers),
        D,
        max(max(dqk, dv) for _, dqk, dv, _ in layers),
        max(mlp for *_, mlp in layers),
        params,
        params - embed,
    )


def _int(params: dict, key: str, default=None):
    v = params.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise LookupError(key)
    return v


def _only(params: dict, allowed: dict) -> bool:
    """Whether every parameter beyond n is one of ``allowed`` with its formula's value (or absent)."""
    return all(k in allowed and (allowed[k] is None or v == allowed[k]) for k, v in params.items() if k != "n")


def closed_form_size(task: str, arch: str, params: dict) -> dict | None:
    """``Model.size()`` of ``constructions.build(task, arch=arch, **params)`` without building it,
    or None where no closed form is known for these parameters (module docstring)."""
    try:
        n = _int(params, "n")
        if n < 1:
            return None
        if arch == "rnn":
            return _rnn_size(task, n, params)
        return _tf_size(task, arch, n, params)
    except LookupError:
        return None


def _rnn_size(task: str, n: int, params: dict) -> dict | None:
    if task == "index_lookup" and _only(params, {"alphabet_size": None, "seed": None}):
        s = _int(params, "alphabet_size")
        if s < 2:
            return None
        return _rnn((n + 1) * code_bits(s), s + n, s)
    if task in ("disjointness", "equality") and _only(params, {"seed": None}):
        if n < 2 or n % 2:
            return None
        N = n // 2
        if task == "disjointness":
            return _rnn(N + 2, 2, 2)
        from constructions.rnn_halves import coprime_moduli

        return _rnn(N + sum(coprime_moduli(N + 2)) + 5, 2, 2)
    if task == "associative_recall" and _only(params, {"num_keys": None, "num_values": None, "seed": None}):
        K, V = _int(params, "num_keys", n) if params.get("num_keys") is not None else n, _int(params, "num_values", 2)
        if K < n or V < 1:
            return None
        return _rnn(2 * K * code_bits(V) + code_bits(K), K + V, V)
    if task == "dyck" and _only(params, {"types": None, "depth": None, "seed": None}):
        k, d = _int(params, "types", 2), _int(params, "depth", 2)
        if k < 1 or d < 1:
            return None
        from constructions.dyck_rnn import MAX_UNITS, dyck_width

        m = dyck_width(k, d)
        return None if m > MAX_UNITS else _rnn(m, 2 * k, 2)
    return None


def _dyck_tf2(n: int, params: dict) -> dict | None:
    """The two-layer Dyck Transformer with the recency head (constructions/dyck_tf2.py): every array
    but the position table has a shape independent of n, and the table has one row of width D per
    position; so the sizes at n are those of the model built at n = 1 (a few hundred numbers) plus
    (n − 1)·D parameters."""
    types, depth = _int(params, "types", 2), _int(params, "depth", 2)
    if types < 1 or depth not in (1, 2):
        return None
    import constructions

    small = constructions.build("dyck", arch="tf2", n=1, types=types, depth=depth).size()
    keys = ("arch", "layers", "heads", "width", "head_dim", "mlp_width", "params", "params_no_embed")
    out = {k: small[k] for k in keys}
    out["params"] = small["params"] + (n - 1) * small["width"]
    return out


def _tf_size(task: str, arch: str, n: int, params: dict) -> dict | None:
    if (task, arch) == ("dyck", "tf2") and _only(
        params, {"types": None, "depth": None, "seed": None, "addresses": "recency"}
    ):
        return _dyck_tf2(n, params)
    random = {"seed": None, "addresses": "random", "coherence": 0.5}
    if (task, arch) == ("index_lookup", "tf1") and _only(params, {**random, "alphabet_size": None, "beta": None}):
        s = _int(params, "alphabet_size")
        if s < 2:
            return None
        r, B = address_dim(n), code_bits(s)
        return _transformer("tf1", 2 * r + 2 * B, s + n, n + 1, [(1, r, B, 2 * B)], s)
    if (task, arch) == ("equality", "tf2") and _only(params, {**random, "beta": None}):
        if n < 2 or n % 2:
            return None
        r = address_dim(n)
        return _transformer("tf2", 2 * r + 5, 2, n, [(1, r, 1, 4), (1, 1, 1, 2)], 2)
    if (task, arch) == ("disjointness", "tf2") and _only(params, random):
        if n < 2 or n % 2:
            return None
        r = address_dim(n)
        return _transformer("tf2", 3 * r + 10, 2, n, [(2, r, 1, 8), (1, 1, 1, 2)], 2)
    nearest = {"seed": None, "addresses": "random", "coherence": None}
    if (task, arch) == ("associative_recall", "tf2") and _only(
        params, {**nearest, "num_keys": None, "num_values": None}
    ):
        K = _int(params, "num_keys") if params.get("num_keys") is not None else n
        V = _int(params, "num_values", 2)
        if K < n or V < 1:
            return None
        return _nearest(n, code_bits(K), V, K + V)
    if (task, arch) == ("nearest_neighbor", "tf2") and _only(
        params, {**nearest, "dim": None, "margin": None, "num_labels": None, "self_suppression": "flag"}
    ):
        dim, labels = _int(params, "dim"), _int(params, "num_labels", 2)
        if dim < 1 or labels < 1:
            return None
        return _nearest(n, dim, labels, dim + labels)
    return None


def _nearest(n: int, dim: int, labels: int, vocab: int) -> dict:
    """The two-layer nearest-neighbour core (constructions/_nearest.py, the "flag" mode): residual
    blocks point d, label B, type, qflag, addr/next/mix/fetched r each, ans B, bits B."""
    r, B = address_dim(n), code_bits(labels)
    D = dim + 3 * B + 4 * r + 2
    return _transformer("tf2", D, vocab, 2 * n + 1, [(1, dim + 2, r, 2 * r), (1, r, B, 2 * B)], labels)
