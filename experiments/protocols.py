"""The protocols: grids of task × model × length × width × learning rate × seed (docs/PAPER.md §13).

Cells run in the order listed (most important first), so an interrupted ``cpu`` run has the
headline comparisons before the extras.

* ``smoke``: two tiny cells (index lookup n=12, one-layer Transformer and LSTM of width 16,
  60 steps) for the test suite.
* ``cpu``: the CPU-sized grid, 40 cells, for ``--jobs 2`` on a 2-core machine (see
  docs/EXPERIMENTS.md and experiments/RESULTS.md for its measured wall clock).  Cut relative to the
  paper: lengths 20, 50, 100, 200 (not 400); widths 64 and 256 (not 128, 512); one learning rate
  (1e-3, not the seven-value grid), one seed, one depth per model (Transformer 1 (and 2 for Dyck),
  LSTM 1, DSS 2, Mamba 2, as in Fig. 3), a step budget of 1,000 steps instead of up to 250k,
  validation on 500 examples every 100 steps.  Test on 5,000 as in the paper.  Index-lookup
  batches come in 8 length ranges (``length_buckets``, experiments.data): the same length
  distribution per example, about 0.6x the padded width.
* ``full``: the paper's grid for an accelerator: lengths 20, 50, 100, 200, 400; widths
  64, 128, 256, 512 (Mamba sweep 32..1024); learning rates {1e-2, 5e-3, 1e-3, 5e-4, 1e-4, 5e-5};
  depths as in the figures; 250k-step budget with early stopping.
"""

from __future__ import annotations

from .train import Cell

PROTOCOLS = ("smoke", "cpu", "full")


class ProtocolError(ValueError):
    """Unknown protocol."""


def cells(protocol: str) -> list[Cell]:
    if protocol == "smoke":
        kw = dict(
            task="index_lookup", n=12, lr=3e-3, seed=0, steps=60, batch=32, eval_every=20, val_size=200, test_size=500
        )
        return [Cell(model="tf", width=16, layers=1, **kw), Cell(model="lstm", width=16, layers=1, **kw)]
    if protocol == "cpu":
        lengths = (20, 50, 100, 200)
        il = dict(task="index_lookup", lr=1e-3, seed=0, steps=1000, eval_every=100, val_size=500, length_buckets=8)
        dy = dict(task="dyck", lr=1e-3, seed=0, steps=1000, eval_every=100, val_size=500)
        out = []
        out += [Cell(n=n, model="tf", width=64, layers=1, **il) for n in lengths]
        out += [Cell(n=n, model="lstm", width=64, layers=1, **dy) for n in lengths]
        out += [Cell(n=n, model="tf", width=256, layers=1, **dy) for n in lengths]
        out += [Cell(n=n, model="lstm", width=64, layers=1, **il) for n in lengths]
        out += [Cell(n=n, model="dss", width=64, layers=2, **il) for n in lengths]
        out += [Cell(n=n, model="mamba", width=64, layers=2, **il) for n in lengths]
        out += [Cell(n=n, model="tf", width=64, layers=2, **dy) for n in lengths]
        # width 256: Mamba (Fig. 3's second width; the longest cells) first, so that with --jobs 2
        # the cheaper DSS and LSTM cells fill the other worker while the long ones run
        wide = [("mamba", 2, n) for n in lengths[::-1]] + [
            (m, l, n) for m, l in (("dss", 2), ("lstm", 1)) for n in lengths
        ]
        out += [Cell(n=n, model=m, width=256, layers=l, **il) for m, l, n in wide]
        return out
    if protocol == "full":
        lengths = (20, 50, 100, 200, 400)
        lrs = (1e-2, 5e-3, 1e-3, 5e-4, 1e-4, 5e-5)
        base = dict(seed=0, steps=250_000, eval_every=1000, val_size=1000)
        out = []
        for lr in lrs:
            for n in lengths:
                il = dict(task="index_lookup", n=n, lr=lr, length_buckets=8, **base)
                out.append(Cell(model="tf", width=64, layers=1, **il))
                for m, layers in (
                    ("lstm", 1),
                    ("lstm", 3),
                    ("dss", 2),
                    ("dss", 6),
                    ("retnet", 2),
                    ("mamba", 2),
                    ("mamba", 6),
                ):
                    for w in (64, 128, 256):
                        out.append(Cell(model=m, width=w, layers=layers, **il))
                for w in (32, 512, 1024):  # Fig. 3 sweep beyond the widths above
                    out.append(Cell(model="mamba", width=w, layers=2, **il))
                for m, w, layers in (("tf", 256, 1), ("tf", 64, 2), ("lstm", 64, 1), ("mamba", 64, 2)):
                    out.append(Cell(task="dyck", n=n, model=m, width=w, layers=layers, lr=lr, **base))
        return out
    raise ProtocolError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
