"""``verify --load m.onnx``: any ONNX sequence model checked against a task's reference solver.

The task comes from the command line (``--task T`` and its options) or, for a graph written by
``model.save("m.onnx")``, from the file's metadata. The graph must follow the input/output
convention of docs/MODEL.md (*ONNX*), checked when it is opened; the check itself is the
engine's, with the same report, counterexamples and exit codes as for our models.
"""

from __future__ import annotations

import json

import constructions
import tasks

from ._entry import UsageError

__all__ = ["open_for_check"]


def open_for_check(
    path: str, task_name: str | None, task_params: dict, *, arch, param, certify
) -> constructions.OnnxModel:
    """The ONNX model at ``path`` and its task; a :class:`UsageError` (one line, exit 2) for options
    that do not apply to it or a graph that does not fit the task."""
    if arch or param:
        raise UsageError("--arch and --param build our models; an ONNX model is checked as it is")
    if certify:
        raise UsageError("--certify proves our own models; check an ONNX model with --exhaustive or --samples")
    if task_name is None:
        if task_params:
            raise UsageError("give --task with the task options")
        props = constructions.onnx_metadata(path)
        if "task" not in props:
            raise UsageError(
                f"{path} does not name its task; give --task and its options (e.g. --task index_lookup --n 8)"
            )
        task_name, task_params = props["task"], json.loads(props.get("task_params", "{}"))
    task = tasks.get(task_name, **task_params)
    if task.params.get("queries", "last") != "last":
        raise UsageError(
            "an ONNX model is checked at one output per input (the last position); "
            "a multi-query task (queries='all') is checked on our own models only"
        )
    return constructions.open_onnx(path, task)
