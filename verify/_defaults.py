"""What ``verify`` with no arguments checks: every registered construction at default sizes.

Each entry: ``(task, arch, build_params, mode, samples)``. Sizes are chosen so that the whole run
stays within a couple of minutes on a 2-core laptop; the exhaustive rows cover every input.
"""

DEFAULT_CHECKS = [
    ("index_lookup", "tf1", {"n": 8, "alphabet_size": 2}, "exhaustive", None),
    ("index_lookup", "tf1", {"n": 6, "alphabet_size": 3}, "exhaustive", None),
    ("index_lookup", "tf1", {"n": 1024, "alphabet_size": 16}, "sampled", 2000),
    ("index_lookup", "tf1", {"n": 4096, "alphabet_size": 64}, "sampled", 1000),
]
