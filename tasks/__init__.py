"""Tasks of "Separations in the Representational Capabilities of Transformers and Recurrent
Architectures" (Bhattamishra, Hahn, Blunsom, Kanade; NeurIPS 2024): reference solvers in plain
numpy, exhaustive enumeration, sampling, and Alice/Bob splits for communication lower bounds.

Contract (see also docs/DESIGN.md §5.1)::

    task = tasks.get("index_lookup", n=64, alphabet_size=4)
    tasks.available()              # sorted task names
    task.name, task.params         # tasks.get(task.name, **task.params) rebuilds the task
    task.solve(inputs)             # int64 [B] reference outputs ([B, Q] with queries="all")
    task.sample(rng, batch)        # inputs; rng is a np.random.Generator; deterministic given its state
    task.enumerate(batch_size)     # iterator over ALL inputs in a fixed order, batches of batch_size
    task.num_inputs                # exact Python int, None for continuous inputs
    task.seq_len, task.vocab_size, task.num_classes
    task.check_inputs(inputs)      # canonical arrays or TaskError
    task.split(kind="prefix", cut=None)  # Split(alice, bob, kind), 0-based positions
    task.batch_size_of(inputs)

Inputs of discrete tasks are always batched int64 arrays ``[B, L]``; the nearest-neighbour task
takes ``{"points": float64 [B, n+1, dim], "labels": int64 [B, n]}``.  Each task class documents
its token encoding, enumeration order, sampler and default split.

This package never imports JAX.
"""

from ._associative_recall import AssociativeRecall
from ._base import Inputs, Split, Task, TaskError, TokenTask
from ._disjointness import Disjointness
from ._dyck import Dyck
from ._equality import Equality
from ._index_lookup import IndexLookup
from ._nearest_neighbor import NearestNeighbor
from ._registry import available, get
from ._split_equality import SplitEquality, alice_positions
from ._threshold import (
    Threshold,
    threshold_params_disjointness,
    threshold_params_equality,
    threshold_params_random_cnf,
    threshold_params_random_dnf,
)

__all__ = [
    "get",
    "available",
    "Task",
    "TokenTask",
    "Split",
    "TaskError",
    "Inputs",
    "IndexLookup",
    "Equality",
    "Disjointness",
    "Threshold",
    "NearestNeighbor",
    "AssociativeRecall",
    "Dyck",
    "SplitEquality",
    "alice_positions",
    "threshold_params_equality",
    "threshold_params_disjointness",
    "threshold_params_random_dnf",
    "threshold_params_random_cnf",
]
