"""Training experiments of the paper (§6, App. H; docs/PAPER.md §13): trainable Transformers,
LSTM, DSS, Mamba and RetNet in JAX/flax + optax, trained on the ``tasks`` samplers to reproduce
the empirical separations (Fig. 2: index lookup and Dyck-(2,2); Fig. 3: the Mamba width sweep).

Command line (see docs/EXPERIMENTS.md)::

    python -m experiments run --protocol smoke|cpu|full [--out DIR]
    python -m experiments report --results DIR [--write experiments/RESULTS.md]
    python -m experiments plot --results DIR

Modules: ``models`` (the architectures and their sizes), ``data`` (the generators),
``train`` (one cell), ``protocols`` (the grids), ``runner`` (resumable runs, tables),
``plots`` (figures), ``report`` (RESULTS.md).  Needs the ``train`` extra (flax, optax).
"""
