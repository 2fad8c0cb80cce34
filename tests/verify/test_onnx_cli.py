"""``verify --load m.onnx`` (verify/_onnx.py, constructions/_onnx_model.py): a model we did not build,
written here by hand with ``onnx.helper`` (float32, as a PyTorch export would be), is checked against
the reference solver with the usual report and exit codes; graphs that do not fit the task are
refused with one line and exit 2; our own exported models check without naming their task."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verify import main

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
helper, TP = onnx.helper, onnx.TensorProto

N, S = 5, 3  # index lookup: 3^5 * 5 = 1215 inputs
BAD = [1, 0, 2, 2, 0, S + 3]  # the one input the hand-built model gets wrong: x[3] = 2


def lookup_graph(path, *, n=N, s=S, bad=BAD, per_position=False, input_type=TP.INT64, extra_input=False):
    """Index lookup as an ONNX graph: read the index token ``s + t``, gather ``x[t]``, one-hot it
    (float32 logits); on the input ``bad`` the logits are negated, so that one input is wrong.
    ``per_position``: logits ``[batch, 2, s]`` whose last position is the answer (the first is not)."""
    c = lambda name, a: onnx.numpy_helper.from_array(np.asarray(a), name)  # noqa: E731
    nodes = [
        helper.make_node("Cast", ["tokens"], ["tok"], to=TP.INT64),
        helper.make_node("Gather", ["tok", "n"], ["index_token"], axis=1),
        helper.make_node("Sub", ["index_token", "s"], ["t"]),
        helper.make_node("Unsqueeze", ["t", "axis1"], ["t1"]),
        helper.make_node("GatherElements", ["tok", "t1"], ["symbol1"], axis=1),
        helper.make_node("Squeeze", ["symbol1", "axis1"], ["symbol"]),
        helper.make_node("OneHot", ["symbol", "depth", "values"], ["onehot"], axis=-1),
        helper.make_node("Equal", ["tok", "bad"], ["same"]),
        helper.make_node("Cast", ["same"], ["samef"], to=TP.FLOAT),
        helper.make_node("ReduceMin", ["samef"], ["is_bad"], axes=[1], keepdims=1),  # 1 on `bad` only
        helper.make_node("Mul", ["is_bad", "two"], ["twice"]),
        helper.make_node("Mul", ["twice", "onehot"], ["flip"]),
        helper.make_node("Sub", ["onehot", "flip"], ["answer"]),
    ]
    if per_position:
        nodes += [
            helper.make_node("Neg", ["answer"], ["decoy"]),
            helper.make_node("Unsqueeze", ["decoy", "axis1"], ["first"]),
            helper.make_node("Unsqueeze", ["answer", "axis1"], ["last"]),
            helper.make_node("Concat", ["first", "last"], ["logits"], axis=1),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["answer"], ["logits"]))
    inits = [
        c("n", np.array(n, np.int64)),
        c("s", np.array(s, np.int64)),
        c("axis1", np.array([1], np.int64)),
        c("depth", np.array(s, np.int64)),
        c("values", np.array([0, 1], np.float32)),
        c("bad", np.asarray(bad, np.int64)[None]),
        c("two", np.array(2, np.float32)),
    ]
    inputs = [helper.make_tensor_value_info("tokens", input_type, ["batch", n + 1])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("attention_mask", TP.INT64, ["batch", n + 1]))
    out_shape = ["batch", 2, s] if per_position else ["batch", s]
    graph = helper.make_graph(
        nodes, "lookup", inputs, [helper.make_tensor_value_info("logits", TP.FLOAT, out_shape)], initializer=inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return str(path)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


TASK = ("--task", "index_lookup", "--n", N, "--alphabet-size", S)


def test_exhaustive_finds_the_one_wrong_input(capsys, tmp_path):
    path = lookup_graph(tmp_path / "m.onnx")
    code, out, err = run(capsys, "--load", path, *TASK, "--exhaustive", "--json")
    assert code == 1, err
    (row,) = json.loads(out)
    assert (row["task"], row["arch"], row["mode"], row["status"]) == ("index_lookup", "onnx", "exhaustive", "fail")
    assert row["inputs_checked"] == S**N * N and row["failures"] == 1
    assert row["counterexample"]["input"] == BAD
    assert row["counterexample"]["expected"] == BAD[BAD[-1] - S] and row["counterexample"]["got"] != BAD[BAD[-1] - S]
    code, out, _ = run(capsys, "--load", path, *TASK, "--exhaustive")  # the table names it too
    assert code == 1 and f"input {json.dumps(BAD)} expected" in out


def test_a_right_model_passes_and_per_position_logits_are_read_at_the_last(capsys, tmp_path):
    outside = [0] * N + [S + N]  # an index token no input has: the graph is right everywhere
    path = lookup_graph(tmp_path / "m.onnx", bad=outside, per_position=True, input_type=TP.INT32)
    code, out, err = run(capsys, "--load", path, *TASK, "--exhaustive", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["failures"] == 0 and row["min_margin"] == 1.0


@pytest.mark.parametrize("ext", ["onnx", "safetensors"])
def test_our_exported_model_checks_without_naming_its_task(capsys, tmp_path, ext):
    if ext == "safetensors":
        pytest.importorskip("safetensors")
    path = tmp_path / f"il.{ext}"
    code, _, err = run(capsys, "--task", "index_lookup", "--arch", "tf1", *TASK[2:], "--save", path, "--exhaustive")
    assert code == 0, err
    code, out, err = run(capsys, "--load", path, "--exhaustive", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["arch"] == ("onnx" if ext == "onnx" else "tf1") and row["inputs_checked"] == S**N * N
    assert row["width"] is not None and row["failures"] == 0


@pytest.mark.parametrize(
    "graph,argv,message",
    [
        ({}, (*TASK[:2], "--n", N + 1, "--alphabet-size", S), "has size 6 on axis 1; index_lookup"),
        ({}, ("--task", "dyck", "--n", 4), "has size 6 on axis 1; dyck"),
        ({"s": 2}, TASK, "2 output classes; index_lookup needs 3"),
        ({"input_type": TP.FLOAT}, TASK, "input 'tokens' is float of rank 2"),
        ({"extra_input": True}, TASK, "expected one input"),
        ({}, (), "does not name its task"),
        ({}, (*TASK, "--arch", "tf1"), "--arch and --param build our models"),
        ({}, (*TASK, "--certify"), "--certify proves our own models"),
        ({}, (*TASK, "--precision", "float32"), "own number types"),
    ],
)
def test_graphs_and_options_that_do_not_fit_exit_2(capsys, tmp_path, graph, argv, message):
    path = lookup_graph(tmp_path / "m.onnx", **graph)
    code, out, err = run(capsys, "--load", path, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("verify: error: ") and message in err, err


def test_not_an_onnx_file_exits_2(capsys, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x00junk")
    code, _, err = run(capsys, "--load", tmp_path / "junk.onnx", *TASK)
    assert code == 2 and "is not an ONNX model" in err
    code, _, err = run(capsys, "--load", tmp_path / "missing.onnx", *TASK)
    assert code == 2 and "no such file" in err
