"""The task registry: ``get(name, **params)`` and ``available()``."""

from __future__ import annotations

import inspect

from ._associative_recall import AssociativeRecall
from ._base import Task, TaskError
from ._disjointness import Disjointness
from ._dyck import Dyck
from ._equality import Equality
from ._index_lookup import IndexLookup
from ._nearest_neighbor import NearestNeighbor
from ._split_equality import SplitEquality
from ._threshold import Threshold

_TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (IndexLookup, Equality, Disjointness, Threshold, NearestNeighbor, AssociativeRecall, Dyck, SplitEquality)
}


def available() -> list[str]:
    """Sorted list of the registered task names."""
    return sorted(_TASKS)


def get(name: str, **params) -> Task:
    """Build the task ``name`` with keyword parameters ``params``.

    Raises TaskError for an unknown name (the message lists the known ones), an unknown or
    missing parameter, or a bad parameter value.  ``get(task.name, **task.params)`` rebuilds
    ``task``.
    """
    if not isinstance(name, str) or name not in _TASKS:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(available())}")
    cls = _TASKS[name]
    signature = inspect.signature(cls.__init__)
    accepted = [p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TaskError(f"unknown parameter(s) {', '.join(unknown)} for task {name!r}; it takes: {', '.join(accepted)}")
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is inspect.Parameter.empty and p.name not in params
    ]
    if missing:
        raise TaskError(f"task {name!r} needs parameter(s): {', '.join(missing)}")
    return cls(**params)
