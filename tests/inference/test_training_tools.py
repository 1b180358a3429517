"""The training tools that do not need torch: merging members into one ensemble graph, and its model card."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.conftest import REPO

TRAINING = REPO / "models" / "training"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"training_{name}", TRAINING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _member(path: Path, seed: int) -> None:
    """A stand-in for a train_fer.py export: ``input`` [N, 1, 48, 48] → ``logits`` [N, 7], one linear layer."""
    weight = np.random.default_rng(seed).normal(size=(48 * 48, 7)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
        ],
        "member",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 7])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def test_ensemble_graph_outputs_the_mean_of_its_members_logits(tmp_path: Path) -> None:
    ensemble = _load("ensemble")
    paths = [tmp_path / f"m{i}.onnx" for i in range(3)]
    for i, path in enumerate(paths):
        _member(path, seed=i)
    merged = tmp_path / "ens.onnx"
    onnx.save(ensemble.merge(paths), str(merged))
    x = np.random.default_rng(9).uniform(-1, 1, size=(5, 1, 48, 48)).astype(np.float32)
    expected = np.mean([_run(p, x) for p in paths], axis=0)
    np.testing.assert_allclose(_run(merged, x), expected, rtol=1e-5, atol=1e-4)
    assert _run(merged, x[:1]).shape == (1, 7)  # the batch axis stays dynamic


def test_ensemble_refuses_a_member_that_is_not_a_training_export(tmp_path: Path) -> None:
    ensemble = _load("ensemble")
    good = tmp_path / "good.onnx"
    _member(good, seed=0)
    bad = onnx.load(str(good))
    bad.graph.output[0].name = "probs"
    bad.graph.node[-1].output[0] = "probs"
    onnx.save(bad, str(tmp_path / "bad.onnx"))
    with pytest.raises(SystemExit, match="bad.onnx: expected one input 'input' and one output 'logits'"):
        ensemble.merge([good, tmp_path / "bad.onnx"])


def test_card_of_an_ensemble_names_every_member_and_the_merged_file(tmp_path: Path) -> None:
    record = {
        "model_id": "emodesk_fer",
        "file": "emodesk_fer_ens.onnx",
        "sha256": "a" * 64,
        "size": 123,
        "val_accuracy": 0.7,
        "val_balanced_accuracy": 0.68,
        "members": [
            {"file": "x1.onnx", "sha256": "b" * 64, "val_accuracy": 0.67, "val_balanced_accuracy": 0.65},
            {"file": "x2.onnx", "sha256": "c" * 64, "val_accuracy": 0.69, "val_balanced_accuracy": 0.66},
        ],
        "params": 10,
        "command": "python models/training/ensemble.py x1.onnx x2.onnx --data D --out emodesk_fer_ens.onnx",
    }
    path = tmp_path / "ens.train.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    card = subprocess.run(
        [sys.executable, str(TRAINING / "write_card.py"), str(path), "--limit", "reads downcast faces as sad"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert f"sha256 `{'a' * 64}`" in card
    assert "| `x1.onnx` | `bbbbbbbbbbbb…` | 0.6700 |" in card and "| `x2.onnx` | `cccccccccccc…` | 0.6900 |" in card
    assert record["command"] in card and "- reads downcast faces as sad" in card
