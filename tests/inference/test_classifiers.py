"""Emotion classifier adapters on the real models and photos, plus tiny ONNX graphs for the models we lack."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("EMODESK_MODEL_DIR", str(Path(__file__).resolve().parents[3] / "shared" / "models"))

import dataclasses
from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from emodesk.errors import ModelError
from emodesk.inference.base import EmotionClassifier, families, load_classifier, softmax
from emodesk.inference.classifiers.generic import OnnxEmotionClassifier
from emodesk.inference.classifiers.hsemotion import HSEmotionClassifier
from emodesk.inference.classifiers.mini_xception import MiniXceptionClassifier
from emodesk.inference.classifiers.opencv_fer import OpenCVFerClassifier
from emodesk.inference.labels import CANONICAL_LABELS
from emodesk.inference.manifest import CLASSIFIER, ModelSpec, load_manifest
from emodesk.inference.providers import create_session
from emodesk.inference.store import search_dirs
from emodesk.inference.types import Detection

SHARED = Path(__file__).resolve().parents[3] / "shared"
IMAGES = SHARED / "test_images"
YUNET = SHARED / "models" / "yunet_n_dynamic.onnx"
Scene = tuple[np.ndarray, list[Detection]]
SEVEN = {"anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"}

pytestmark = pytest.mark.skipif(not YUNET.is_file(), reason=f"shared models not found at {YUNET.parent}")


# ---- helpers ---------------------------------------------------------------------------------------------


def yunet_faces(frame: np.ndarray) -> list[Detection]:
    """Faces from OpenCV's YuNet, largest first; keypoints come in ArcFace image order already."""
    h, w = frame.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(YUNET), "", (w, h), 0.6, 0.3, 5000)
    _, rows = detector.detect(frame)
    faces = []
    for row in rows if rows is not None else []:
        x, y, bw, bh = (float(v) for v in row[:4])
        kps = tuple((float(px), float(py)) for px, py in row[4:14].reshape(5, 2))
        faces.append(Detection(box=(x, y, x + bw, y + bh), score=float(row[14]), landmarks=kps))
    return sorted(faces, key=lambda d: d.width * d.height, reverse=True)


def top(probs: dict[str, float]) -> str:
    return max(probs, key=probs.__getitem__)


def count_runs(monkeypatch: pytest.MonkeyPatch, model: EmotionClassifier) -> list[int]:
    """Spy on session.run; returns the list of batch sizes it was called with."""
    calls: list[int] = []
    real_run = model.session.run

    def run(names: list[str] | None, feeds: dict[str, np.ndarray], *args: object, **kwargs: object) -> list:
        calls.append(len(next(iter(feeds.values()))))
        return real_run(names, feeds, *args, **kwargs)

    monkeypatch.setattr(model.session, "run", run)
    return calls


def tiny_classifier_graph(
    path: Path,
    input_shape: Sequence[int | str],
    weights: np.ndarray,
    bias: np.ndarray,
    *,
    layout: str = "NCHW",
) -> Path:
    """input → mean over H, W → [N, C] @ weights + bias → [N, K]: a stand-in classifier with known maths."""
    axes = [2, 3] if layout == "NCHW" else [1, 2]
    k = weights.shape[1]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["pooled"], axes=axes, keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["mm"]),
            helper.make_node("Add", ["mm", "b"], ["logits"]),
        ],
        "tiny_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [input_shape[0], k])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # what every onnxruntime >= 1.18 reads
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def adapter_for(cls: type[EmotionClassifier], spec: ModelSpec, graph: Path) -> EmotionClassifier:
    return cls(spec, create_session(graph, "cpu", threads=1), graph)


def manifest_spec(model_id: str, **changes: object) -> ModelSpec:
    return dataclasses.replace(load_manifest().get(model_id), sha256=None, **changes)


# ---- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smile() -> tuple[np.ndarray, list[Detection]]:
    frame = cv2.imread(str(IMAGES / "single_smile.jpg"))
    assert frame is not None
    return frame, yunet_faces(frame)


@pytest.fixture(scope="module")
def group() -> tuple[np.ndarray, list[Detection]]:
    frame = cv2.imread(str(IMAGES / "group6_test_image.jpg"))
    assert frame is not None
    faces = yunet_faces(frame)
    assert len(faces) == 6
    return frame, faces


@pytest.fixture(scope="module")
def fer() -> Iterator[EmotionClassifier]:
    yield load_classifier("fer_mobilefacenet_int8", device="cpu", allow_download=False, threads=2)


@pytest.fixture(scope="module")
def mini() -> Iterator[EmotionClassifier]:
    yield load_classifier("mini_xception", device="cpu", allow_download=False, threads=2)


# ---- registry --------------------------------------------------------------------------------------------


def test_families_are_registered() -> None:
    registered = families(CLASSIFIER)
    assert registered["opencv_fer"] is OpenCVFerClassifier
    assert registered["mini_xception"] is MiniXceptionClassifier
    assert registered["hsemotion"] is HSEmotionClassifier
    assert registered["onnx_emotion"] is OnnxEmotionClassifier
    for cls in (OpenCVFerClassifier, MiniXceptionClassifier, HSEmotionClassifier):
        assert issubclass(cls, OnnxEmotionClassifier)
        assert cls.preprocess is OnnxEmotionClassifier.preprocess  # one preprocessing path for all


def test_every_manifest_classifier_family_has_an_adapter() -> None:
    registered = families(CLASSIFIER)
    for spec in load_manifest().of_kind(CLASSIFIER):
        assert spec.family in registered, spec.id


# ---- real models on real photos --------------------------------------------------------------------------


def test_fer_int8_single_smile_is_happy(fer: EmotionClassifier, smile: Scene) -> None:
    frame, faces = smile
    assert isinstance(fer, OpenCVFerClassifier)
    probs = fer.classify(frame, faces[:1])[0]
    raw = softmax(fer.logits(fer.preprocess(frame, faces[:1])))[0]  # T = 1: what MODELS.md measured
    assert raw[fer.labels.index("happiness")] > 0.9
    # the calibrated probability (manifest temperature, about 3.7) keeps the top label with less certainty
    assert top(probs) == "happiness" and probs["happiness"] < raw[fer.labels.index("happiness")]


def test_mini_xception_single_smile_is_happy(mini: EmotionClassifier, smile: Scene) -> None:
    frame, faces = smile
    assert isinstance(mini, MiniXceptionClassifier)
    probs = mini.classify(frame, faces[:1])[0]
    assert top(probs) == "happiness"
    assert probs["happiness"] > 0.5  # 0.76 with YuNet's box (0.88 with SCRFD's, per MODELS.md)


def test_fer_int8_group_five_happy_one_neutral(fer: EmotionClassifier, group: Scene) -> None:
    frame, faces = group
    results = fer.classify(frame, faces)
    tops = [top(p) for p in results]
    assert tops.count("happiness") == 5
    assert tops.count("neutral") == 1
    assert tops[0] == "neutral"  # the big selfie face in front is the serious one
    raw = softmax(fer.logits(fer.preprocess(frame, faces)))  # T = 1
    assert all(r[fer.labels.index("happiness")] > 0.9 for r, p in zip(raw, results) if top(p) == "happiness")


def test_mini_xception_group_smiles(mini: EmotionClassifier, group: Scene) -> None:
    frame, faces = group
    tops = [top(p) for p in mini.classify(frame, faces)]
    assert tops[1:].count("happiness") == 5


@pytest.mark.parametrize("which", ["fer", "mini"])
def test_probabilities_are_canonical_and_sum_to_one(which: str, request: pytest.FixtureRequest, group: Scene) -> None:
    model = request.getfixturevalue(which)
    frame, faces = group
    for probs in model.classify(frame, faces):
        assert set(probs) == SEVEN
        assert "contempt" not in probs  # absent, not zero: the model cannot say
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= v <= 1.0 for v in probs.values())


def test_no_faces_no_results(fer: EmotionClassifier, mini: EmotionClassifier, smile: Scene) -> None:
    frame, _ = smile
    assert fer.classify(frame, []) == []
    assert mini.classify(frame, []) == []


def test_faces_without_keypoints_still_classify_on_align5(fer: EmotionClassifier, group: Scene) -> None:
    frame, faces = group
    aligned = [top(p) for p in fer.classify(frame, faces)]
    bare = [Detection(f.box, f.score, None) for f in faces]
    results = fer.classify(frame, bare)
    assert len(results) == 6
    assert all(sum(p.values()) == pytest.approx(1.0, abs=1e-5) for p in results)
    agree = sum(a == top(p) for a, p in zip(aligned, results))
    assert agree >= 5  # the square fallback crop sees about what alignment sees


def test_mixed_keypoints_in_one_batch(fer: EmotionClassifier, group: Scene) -> None:
    frame, faces = group
    mixed = [faces[0], Detection(faces[1].box, faces[1].score, None), faces[2]]
    results = fer.classify(frame, mixed)
    alone = fer.classify(frame, [faces[0]])[0]
    assert results[0] == pytest.approx(alone, abs=1e-6)


# ---- batching --------------------------------------------------------------------------------------------


def test_mini_xception_runs_six_faces_in_one_call(
    mini: EmotionClassifier, group: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, faces = group
    assert mini.max_batch == 0  # dynamic batch
    calls = count_runs(monkeypatch, mini)
    batched = mini.classify(frame, faces)
    assert calls == [6]
    for face, probs in zip(faces, batched):
        assert probs == pytest.approx(mini.classify(frame, [face])[0], abs=1e-5)


def test_fer_int8_fixed_batch_runs_once_per_face(
    fer: EmotionClassifier, group: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, faces = group
    assert fer.max_batch == 1  # the int8 graph's input is [1, 3, 112, 112]
    one_by_one = [fer.classify(frame, [f])[0] for f in faces[:3]]
    calls = count_runs(monkeypatch, fer)
    together = fer.classify(frame, faces[:3])
    assert calls == [1, 1, 1]
    for a, b in zip(together, one_by_one):
        assert a == pytest.approx(b, abs=1e-6)


def test_preprocess_batch_shapes(fer: EmotionClassifier, mini: EmotionClassifier, group: Scene) -> None:
    frame, faces = group
    x = fer.preprocess(frame, faces)
    assert x.shape == (6, 3, 112, 112) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    y = mini.preprocess(frame, faces)
    assert y.shape == (6, 64, 64, 1) and y.dtype == np.float32


# ---- label mapping by name -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "cls", "shape", "layout", "expected"),
    [
        ("mini_xception", MiniXceptionClassifier, ["N", 64, 64, 1], "NHWC", "sadness"),
        ("fer_mobilefacenet_int8", OpenCVFerClassifier, ["N", 3, 112, 112], "NCHW", "neutral"),
    ],
)
def test_labels_map_by_name_not_index(
    tmp_path: Path, model_id: str, cls: type[EmotionClassifier], shape: list[int | str], layout: str, expected: str
) -> None:
    # a graph whose output is the one-hot vector at index 4, whatever the input
    channels = shape[3] if layout == "NHWC" else shape[1]
    one_hot = np.eye(7)[4]
    graph = tiny_classifier_graph(tmp_path / "onehot.onnx", shape, np.zeros((channels, 7)), one_hot, layout=layout)
    spec = manifest_spec(
        model_id, file=graph.name, input={**load_manifest().get(model_id).input, "output": "probabilities"},
        temperature=None,  # the label order is under test here, not the calibration
    )
    model = adapter_for(cls, spec, graph)
    frame = np.full((200, 200, 3), 128, np.uint8)
    face = Detection((50, 40, 150, 160), 0.9)
    probs = model.classify(frame, [face])[0]
    assert probs[expected] == pytest.approx(1.0)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert set(probs) == SEVEN


# ---- HSEmotion with stand-in graphs ----------------------------------------------------------------------


HSE_WEIGHTS = np.array(
    [
        [1.0, -0.5, 0.2, 0.0, 2.0, -1.0, 0.3, 0.1],
        [0.5, 0.4, -0.8, 1.2, -0.3, 0.6, 0.0, -0.2],
        [-1.0, 0.9, 0.1, -0.4, 0.5, 0.2, -0.7, 1.5],
    ]
)
HSE_BIAS = np.linspace(-0.4, 0.3, 8)


def reference_hsemotion_input(frame: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    """What hsemotion-onnx's preprocess would feed for this face: written out by hand, not via emodesk."""
    x1, y1, x2, y2 = box
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    face = cv2.resize(rgb[y1:y2, x1:x2], (size, size)) / 255.0
    face = (face - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return face.transpose(2, 0, 1).astype(np.float32)


@pytest.mark.parametrize(("model_id", "size"), [("hsemotion_enet_b0_8_afew", 224), ("hsemotion_enet_b2_8", 260)])
def test_hsemotion_adapter_with_a_stand_in_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_id: str, size: int
) -> None:
    graph = tiny_classifier_graph(tmp_path / f"{model_id}.onnx", ["N", 3, size, size], HSE_WEIGHTS, HSE_BIAS)
    spec = manifest_spec(model_id, file=graph.name)
    model = adapter_for(HSEmotionClassifier, spec, graph)
    assert model.input_spec.size == (size, size)

    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (360, 480, 3), dtype=np.uint8), (0, 0), 3)
    boxes = [(40, 30, 160, 170), (200, 60, 330, 210), (350, 200, 470, 350)]
    faces = [Detection(tuple(map(float, b)), 0.9) for b in boxes]

    fed = model.preprocess(frame, faces)
    expected = np.stack([reference_hsemotion_input(frame, b, size) for b in boxes])
    assert fed.shape == (3, 3, size, size) and fed.dtype == np.float32
    np.testing.assert_allclose(fed, expected, atol=1e-5)

    calls = count_runs(monkeypatch, model)
    results = model.classify(frame, faces)
    assert calls == [3]  # all faces in one session.run
    want = softmax(expected.mean(axis=(2, 3)) @ HSE_WEIGHTS + HSE_BIAS)
    for probs, row in zip(results, want):
        assert list(probs) == list(CANONICAL_LABELS)  # 8 classes, contempt included, model order kept
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert [probs[k] for k in CANONICAL_LABELS] == pytest.approx(row.tolist(), abs=1e-5)


def test_hsemotion_size_mismatch_fails_at_load(tmp_path: Path) -> None:
    graph = tiny_classifier_graph(tmp_path / "b0.onnx", ["N", 3, 224, 224], HSE_WEIGHTS, HSE_BIAS)
    spec = manifest_spec("hsemotion_enet_b2_8", file=graph.name)  # says 260
    with pytest.raises(ModelError, match="260"):
        adapter_for(HSEmotionClassifier, spec, graph)


def test_label_count_mismatch_fails_at_load(tmp_path: Path) -> None:
    graph = tiny_classifier_graph(tmp_path / "seven.onnx", ["N", 3, 224, 224], np.zeros((3, 7)), np.zeros(7))
    spec = manifest_spec("hsemotion_enet_b0_8_afew", file=graph.name)
    with pytest.raises(ModelError, match="8 labels"):
        adapter_for(HSEmotionClassifier, spec, graph)


# ---- the project's own model: generic adapter through the registry ---------------------------------------


def test_generic_adapter_for_a_fer2013_style_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = np.array([[0.0, 0.0, 0.0, 4.0, 0.0, 0.0, -4.0]])  # bright face → happy, dark → neutral
    bias = np.array([0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 2.0])
    graph = tiny_classifier_graph(tmp_path / "emodesk_fer48.onnx", ["batch", 1, 48, 48], weights, bias)
    spec = ModelSpec.from_dict(
        {
            "id": "emodesk_fer48",
            "kind": CLASSIFIER,
            "family": "onnx_emotion",
            "file": graph.name,
            "sha256": None,
            "size": None,
            "url": None,
            "licence": "MIT",
            "commercial_use": True,
            "labels": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
            "input": {
                "size": [48, 48],
                "crop": "box_square",
                "margin": [0.05, 0.05],
                "color": "GRAY",
                "scale": 1 / 255,
                "mean": [0.0],
                "std": [1.0],
                "layout": "NCHW",
                "output": "logits",
            },
        }
    )
    monkeypatch.setenv("EMODESK_MODEL_DIR", str(tmp_path))
    assert search_dirs()[0] == tmp_path
    model = load_classifier(spec, device="cpu", allow_download=False)
    assert type(model) is OnnxEmotionClassifier

    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, 160:] = 255
    dark, bright = Detection((20, 40, 100, 140), 0.9), Detection((200, 40, 280, 140), 0.9)
    x = model.preprocess(frame, [dark, bright])
    assert x.shape == (2, 1, 48, 48)
    assert x[0].max() == 0.0 and x[1].min() == pytest.approx(1.0)
    results = model.classify(frame, [dark, bright])
    assert top(results[0]) == "neutral" and top(results[1]) == "happiness"
    assert set(results[0]) == SEVEN


def test_generic_adapter_rejects_a_layout_the_graph_does_not_have(tmp_path: Path) -> None:
    graph = tiny_classifier_graph(
        tmp_path / "nhwc.onnx", ["N", 64, 64, 1], np.zeros((1, 7)), np.zeros(7), layout="NHWC"
    )
    spec = manifest_spec(
        "mini_xception",
        file=graph.name,
        family="onnx_emotion",
        input={**load_manifest().get("mini_xception").input, "layout": "NCHW"},
    )
    with pytest.raises(ModelError, match="NCHW"):
        adapter_for(OnnxEmotionClassifier, spec, graph)


def test_family_defaults_fill_a_sparse_manifest_entry(tmp_path: Path) -> None:
    # a user's manifest entry for the fp32 FER model that only names the file still gets upstream's input
    graph = tiny_classifier_graph(tmp_path / "fer32.onnx", [1, 3, 112, 112], np.zeros((3, 7)), np.zeros(7))
    spec = manifest_spec("fer_mobilefacenet", file=graph.name, input={})
    model = adapter_for(OpenCVFerClassifier, spec, graph)
    spec_in = model.input_spec
    assert (spec_in.size, spec_in.crop, spec_in.color, spec_in.layout) == ((112, 112), "align5", "RGB", "NCHW")
    assert model.max_batch == 1
    probs = model.classify(np.zeros((150, 150, 3), np.uint8), [Detection((10, 10, 120, 130), 0.9)])[0]
    assert probs["neutral"] == pytest.approx(1 / 7)
