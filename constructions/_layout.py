"""Named blocks of coordinates, in the manner of tracr's residual spaces.

Every vector space a construction uses (the residual stream, a head's query/key space, an MLP's
hidden layer) is a :class:`Layout`: an ordered list of named blocks. Weight matrices are then
assembled block by block, so a reader sees which block each matrix reads and which it writes::

    resid = Layout(symbol=B, query=r, address=r, bits=B)
    qk = Layout(address=r)
    wq = linear(src=resid, dst=qk, blocks={("query", "address"): beta * np.eye(r)})

``linear(src, dst, blocks)`` returns the ``[dst.dim, src.dim]`` matrix M with ``y = M x``: entry
block ``(s, d)`` maps source block ``s`` into destination block ``d``. Projections in the
Transformer are stored in this orientation (``Q = X Wq^T``); MLP matrices are stored transposed
(``X W1``), and :func:`linear_in` gives that orientation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["Layout", "linear", "linear_in"]


class Layout:
    """An ordered set of named coordinate blocks.

    >>> resid = Layout(symbol=2, address=3)
    >>> resid.dim, resid["address"]
    (5, slice(2, 5, None))
    """

    def __init__(self, *pairs: tuple[str, int], **blocks: int):
        items = list(pairs) + list(blocks.items())
        self._slices: dict[str, slice] = {}
        self._sizes: dict[str, int] = {}
        offset = 0
        for name, size in items:
            if name in self._slices:
                raise ValueError(f"duplicate block name {name!r}")
            size = int(size)
            if size < 0:
                raise ValueError(f"block {name!r} has negative size {size}")
            self._slices[name] = slice(offset, offset + size)
            self._sizes[name] = size
            offset += size
        self.dim = offset

    def __getitem__(self, name: str) -> slice:
        try:
            return self._slices[name]
        except KeyError:
            raise KeyError(f"no block {name!r}; blocks are {list(self._slices)}") from None

    def size(self, name: str) -> int:
        return self._sizes[name]

    @property
    def names(self) -> list[str]:
        return list(self._slices)

    def labels(self) -> list[str]:
        """One label per coordinate, e.g. ``['symbol[0]', 'symbol[1]', 'address[0]', ...]``."""
        return [f"{n}[{i}]" for n in self._slices for i in range(self._sizes[n])]

    def vector(self, **parts) -> np.ndarray:
        """A float64 ``[dim]`` vector with the given blocks filled and the rest zero."""
        v = np.zeros(self.dim)
        for name, value in parts.items():
            v[self[name]] = value
        return v

    def describe(self) -> list[dict]:
        return [{"block": n, "start": s.start, "size": s.stop - s.start} for n, s in self._slices.items()]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={self._sizes[n]}" for n in self._slices)
        return f"Layout({inner})"


def linear(src: Layout, dst: Layout, blocks: Mapping[tuple[str, str], object]) -> np.ndarray:
    """Matrix ``[dst.dim, src.dim]`` mapping ``src`` block ``s`` into ``dst`` block ``d``.

    ``blocks[(s, d)]`` is a ``[dst.size(d), src.size(s)]`` array or a scalar (a scalar c on a
    square pair of blocks means ``c·I``).
    """
    m = np.zeros((dst.dim, src.dim))
    for (s, d), value in blocks.items():
        shape = (dst.size(d), src.size(s))
        value = np.asarray(value, dtype=np.float64)
        if value.ndim == 0:
            if shape[0] != shape[1]:
                raise ValueError(f"scalar block needs square blocks, got {s}->{d} of shape {shape}")
            value = value * np.eye(shape[0])
        if value.shape != shape:
            raise ValueError(f"block {s}->{d} must have shape {shape}, got {value.shape}")
        m[dst[d], src[s]] += value
    return m


def linear_in(src: Layout, dst: Layout, blocks: Mapping[tuple[str, str], object]) -> np.ndarray:
    """Same as :func:`linear` but ``[src.dim, dst.dim]`` (for ``y = x W``, the MLP orientation)."""
    return linear(src, dst, blocks).T
