"""The calibration temperature: stored in the manifest, applied by the adapter exactly once, recorded in sessions."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from emodesk.core.eval_metrics import softmax_t
from emodesk.errors import ModelError
from emodesk.inference import manifest as manifest_mod
from emodesk.inference.loader import load_classifier
from emodesk.inference.manifest import (
    CLASSIFIER,
    ModelSpec,
    load_manifest,
    parse_manifest,
    set_temperature,
)
from emodesk.inference.types import Detection
from tests.conftest import SHARED

T = 2.5


@pytest.fixture
def hot_default(monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """The manifest as loaded, with the default emotion model's temperature set to T."""
    real = load_manifest()
    spec = dataclasses.replace(real.default(CLASSIFIER), temperature=T)
    patched = dataclasses.replace(real, models=tuple(spec if s.id == spec.id else s for s in real.models))
    monkeypatch.setattr(manifest_mod, "load_manifest", lambda: patched)
    return spec


def _graph_logits(path: Path, x: np.ndarray) -> np.ndarray:
    """The file's raw output, run by onnxruntime directly: no adapter involved."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_session_probabilities_equal_softmax_of_logits_over_t(hot_default: ModelSpec, tmp_path: Path) -> None:
    from emodesk.core.analyze import analyze_file
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.settings import Settings
    from emodesk.core.sources import read_image

    image_path = SHARED / "test_images" / "single_smile.jpg"
    with Pipeline(Settings(device="cpu")) as pipe:
        classifier = pipe.classifier
        assert classifier.spec.id == hot_default.id and classifier.temperature == T
        result = pipe.analyze_image(read_image(image_path))
        face = max(result.faces, key=lambda f: (f.box[2] - f.box[0]))
        x = classifier.preprocess(read_image(image_path), [Detection(face.box, 1.0, face.landmarks)])
        logits = _graph_logits(classifier.path, x)[0]
        once = softmax_t(logits, T)
        shown = np.array([face.probs[label] for label in classifier.labels])
        np.testing.assert_allclose(shown, once, atol=1e-5)
        # not the raw softmax, and not T applied twice
        assert not np.allclose(shown, softmax_t(logits, 1.0), atol=1e-3)
        assert not np.allclose(shown, softmax_t(logits, T * T), atol=1e-3)
        session_path = analyze_file(image_path, tmp_path, pipeline=pipe)
    data = json.loads(session_path.read_text(encoding="utf-8"))
    [emotion_model] = [m for m in data["models"] if m["kind"] == CLASSIFIER]
    assert emotion_model["temperature"] == T
    [detector] = [m for m in data["models"] if m["kind"] != CLASSIFIER]
    assert detector["temperature"] is None
    faces = [f for frame in data["frames"] for f in frame["faces"]]
    big = max(faces, key=lambda f: f["box"][2] - f["box"][0])
    np.testing.assert_allclose([big["probs"][label] for label in classifier.labels], once, atol=1e-3)


def test_log_probabilities_stand_in_for_logits_of_a_softmax_graph() -> None:
    """A graph that ends in a softmax (mini-Xception): log(p) / T gives the same as logits / T would."""
    mini = load_classifier("mini_xception", device="cpu")
    assert mini.output_kind == "probabilities"
    p = np.array([[0.7, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03]], np.float32)
    z = mini.to_logits(p)
    np.testing.assert_allclose(softmax_t(z, 1.0), p, atol=1e-6)
    mini.temperature = 2.0
    np.testing.assert_allclose(mini.probabilities(z), softmax_t(np.log(p), 2.0), atol=1e-6)


def test_calibrate_writes_the_manifest_entry(tmp_path: Path) -> None:
    src = manifest_mod.bundled_models_dir() / "manifest.json"
    copy = tmp_path / "manifest.json"
    copy.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    set_temperature(copy, "mini_xception", 1.25)
    parsed = parse_manifest(copy)
    assert parsed.get("mini_xception").temperature == 1.25
    before, after = json.loads(src.read_text()), json.loads(copy.read_text())
    changed = [a["id"] for a, b in zip(before["models"], after["models"]) if a != b]
    assert changed == ["mini_xception"]  # nothing else moved
    with pytest.raises(ModelError, match="positive"):
        set_temperature(copy, "mini_xception", 0.0)
    raw = json.loads(copy.read_text())
    raw["models"][0]["temperature"] = -1
    copy.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="temperature must be a positive number"):
        parse_manifest(copy)
