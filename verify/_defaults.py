"""What ``verify`` with no arguments checks: every registered construction at default sizes.

Each entry: ``(task, arch, build_params, mode, samples)``. Sizes are chosen so that the whole run
stays within a couple of minutes on a 2-core laptop; the exhaustive rows cover every input.
"""

import numpy as np

import tasks

DEFAULT_CHECKS = [
    ("index_lookup", "tf1", {"n": 8, "alphabet_size": 2}, "exhaustive", None),
    ("index_lookup", "tf1", {"n": 6, "alphabet_size": 3}, "exhaustive", None),
    ("index_lookup", "tf1", {"n": 1024, "alphabet_size": 16}, "sampled", 2000),
    ("index_lookup", "tf1", {"n": 4096, "alphabet_size": 64}, "sampled", 1000),
    # RNNs (issue 4): constant-size Dyck, and the RNNs that meet the lower bounds
    ("dyck", "rnn", {"n": 8, "types": 2, "depth": 2}, "exhaustive", None),
    ("dyck", "rnn", {"n": 1000, "types": 2, "depth": 2}, "sampled", 500),
    ("index_lookup", "rnn", {"n": 8, "alphabet_size": 2}, "exhaustive", None),
    ("index_lookup", "rnn", {"n": 128, "alphabet_size": 4}, "sampled", 500),
    ("equality", "rnn", {"n": 12}, "exhaustive", None),
    ("equality", "rnn", {"n": 256}, "sampled", 1000),
    ("disjointness", "rnn", {"n": 12}, "exhaustive", None),
    ("disjointness", "rnn", {"n": 256}, "sampled", 1000),
    ("associative_recall", "rnn", {"n": 4, "num_keys": 5, "num_values": 2}, "exhaustive", None),
    ("associative_recall", "rnn", {"n": 64, "num_keys": 64, "num_values": 4}, "sampled", 500),
    # two-layer Transformers (issue 3): Theorems 6, 13 and 7
    ("equality", "tf2", {"n": 12}, "exhaustive", None),
    ("equality", "tf2", {"n": 256}, "sampled", 200),
    ("disjointness", "tf2", {"n": 12}, "exhaustive", None),
    ("disjointness", "tf2", {"n": 256}, "sampled", 200),
    ("threshold", "tf2", tasks.threshold_params_random_dnf(12, 2, 8, np.random.default_rng(0)), "exhaustive", None),
    ("nearest_neighbor", "tf2", {"n": 64, "dim": 8, "margin": 0.1}, "sampled", 200),
    ("associative_recall", "tf2", {"n": 3, "num_keys": 4, "num_values": 3}, "exhaustive", None),
    ("associative_recall", "tf2", {"n": 64, "num_keys": 256, "num_values": 4}, "sampled", 200),
    # the two-layer barrier (issue 16): equality across a random balanced split (Lemma 5)
    ("split_equality", "tf2", {"n": 12, "alice": "random:0"}, "exhaustive", None),
    # every query answered (issue 16, docs/MULTI_QUERY.md): MQAR and nearest neighbour at width O(log n)
    ("associative_recall", "tf2", {"n": 3, "num_keys": 4, "num_values": 3, "queries": "all"}, "exhaustive", None),
    ("nearest_neighbor", "tf2", {"n": 64, "dim": 8, "margin": 0.1, "queries": "all"}, "sampled", 200),
    # Dyck-(2,2) with two layers (issue 16): local conditions, constant width
    ("dyck", "tf2", {"n": 8, "types": 2, "depth": 2}, "exhaustive", None),
]
