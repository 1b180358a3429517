"""Model adapter interfaces and the family registry.

Each model family (SCRFD, YuNet, OpenCV FER, …) is one small class registered under the family name the
manifest uses; loading a model is manifest lookup → file resolve → session → adapter, with no if/elif.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from emodesk.errors import ModelError
from emodesk.inference import manifest as manifest_mod
from emodesk.inference.labels import canonical_labels
from emodesk.inference.manifest import ModelSpec
from emodesk.inference.providers import LoadedSession, RuntimeOptions, create_session
from emodesk.inference.store import resolve, sha256_of
from emodesk.inference.types import Detection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """What the session file records about a loaded model."""

    id: str
    kind: str
    file: str
    path: str
    sha256: str
    licence: str
    commercial_use: bool
    providers: tuple[str, ...]
    runtime: RuntimeOptions | None = None  # onnxruntime threading (intra/inter-op threads, spinning)


class OnnxModel(ABC):
    """An ONNX model with its manifest entry and the providers it actually runs on."""

    def __init__(self, spec: ModelSpec, loaded: LoadedSession, path: Path) -> None:
        self.spec = spec
        self.session = loaded.session
        self.providers = loaded.providers
        self.runtime = loaded.runtime
        self.path = path
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(
            id=self.spec.id,
            kind=self.spec.kind,
            file=self.spec.file,
            path=str(self.path),
            sha256=self.spec.sha256 or sha256_of(self.path),
            licence=self.spec.licence,
            commercial_use=self.spec.commercial_use,
            providers=self.providers,
            runtime=self.runtime,
        )

    @abstractmethod
    def warmup(self) -> None:
        """Run the graph once so that the first real frame is not slow."""


class FaceDetector(OnnxModel):
    """Finds faces (box, score, 5 keypoints) in a BGR frame.

    The input set-up every family shares comes from the manifest's ``input`` (``multiple_of``,
    ``fixed_size``, ``mean``, ``std``, ``color``); the class attributes are the family's upstream values
    for whatever the manifest leaves out.
    """

    default_mean: float = 0.0
    default_std: float = 1.0
    default_color: str = "BGR"

    def __init__(
        self,
        spec: ModelSpec,
        loaded: LoadedSession,
        path: Path,
        *,
        threshold: float | None = None,
        nms_iou: float | None = None,
        max_faces: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(spec, loaded, path)
        self.threshold = float(threshold if threshold is not None else (spec.threshold or 0.5))
        self.nms_iou = float(nms_iou if nms_iou is not None else (spec.nms_iou or 0.4))
        self.max_faces = int(max_faces)  # 0 = no limit; otherwise the largest faces are kept
        default = spec.input.get("default_size") or (640, 640)
        self.multiple = int(spec.input.get("multiple_of") or 32)
        fixed = spec.input.get("fixed_size")
        self.fixed = bool(fixed)
        if fixed:
            if input_size and tuple(input_size) != tuple(fixed):
                log.warning("%s takes only %sx%s input; ignoring input_size %s", spec.id, *fixed, input_size)
            size = fixed
        else:
            size = input_size or default
        self.input_size: tuple[int, int] = round_size(size, self.multiple)  # (w, h)
        self.mean = float(spec.input.get("mean", self.default_mean))
        self.std = float(spec.input.get("std", self.default_std))
        self.swap_rb = str(spec.input.get("color", self.default_color)).upper() == "RGB"

    @abstractmethod
    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in ``frame`` (HxWx3 uint8 BGR), highest score first."""

    def warmup(self) -> None:
        self.detect(np.zeros((self.input_size[1], self.input_size[0], 3), np.uint8))


class EmotionClassifier(OnnxModel):
    """Turns faces of a frame into probabilities keyed by canonical label names."""

    def __init__(self, spec: ModelSpec, loaded: LoadedSession, path: Path) -> None:
        super().__init__(spec, loaded, path)
        if not spec.labels:
            raise ModelError(f"model {spec.id!r}: the manifest gives no label order")
        self.labels: tuple[str, ...] = canonical_labels(spec.labels)
        try:
            self.output_index = self.output_names.index(spec.input.get("output_name", self.output_names[0]))
        except ValueError as exc:
            raise ModelError(f"{path}: has no output {spec.input.get('output_name')!r}") from exc
        batch_dim = self.session.get_inputs()[0].shape[0]
        # a fixed batch of 1 (the OpenCV FER int8 graph) means one run per face
        self.max_batch = batch_dim if isinstance(batch_dim, int) and batch_dim > 0 else 0

    @abstractmethod
    def preprocess(self, frame: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """The input batch for ``detections`` (one row per face, in order)."""

    def postprocess(self, outputs: np.ndarray) -> np.ndarray:
        """Raw model outputs → probabilities in the model's label order (rows sum to 1)."""
        if self.spec.input.get("output", "logits") == "probabilities":
            return outputs.astype(np.float32)
        return softmax(outputs)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for a preprocessed batch; one call per batch where the model allows it."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.max_batch and len(batch) > self.max_batch:
            parts = [batch[i : i + self.max_batch] for i in range(0, len(batch), self.max_batch)]
        else:
            parts = [batch]
        outs = [self.session.run(None, {self.input_name: p})[self.output_index] for p in parts]
        return self.postprocess(np.concatenate(outs, axis=0))

    def classify(self, frame: np.ndarray, detections: Sequence[Detection]) -> list[dict[str, float]]:
        """One ``{canonical label: probability}`` per detection; labels the model lacks are absent."""
        if not detections:
            return []
        probs = self.predict(self.preprocess(frame, detections))
        return [dict(zip(self.labels, map(float, row))) for row in probs]

    def warmup(self) -> None:
        frame = np.zeros((128, 128, 3), np.uint8)
        pts = ((40.0, 50.0), (88.0, 50.0), (64.0, 72.0), (45.0, 95.0), (83.0, 95.0))
        self.classify(frame, [Detection(box=(16.0, 16.0, 112.0, 120.0), score=1.0, landmarks=pts)])


def round_size(size: Sequence[int], multiple: int = 32) -> tuple[int, int]:
    """``(w, h)`` rounded up to multiples of ``multiple``: graphs with strides up to 32 need that."""
    w, h = (max(multiple, -(-int(v) // multiple) * multiple) for v in size)
    if (w, h) != (int(size[0]), int(size[1])):
        log.info("detector input size %sx%s rounded up to %sx%s", size[0], size[1], w, h)
    return w, h


def softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


_REGISTRY: dict[str, dict[str, type[OnnxModel]]] = {manifest_mod.DETECTOR: {}, manifest_mod.CLASSIFIER: {}}
T = TypeVar("T", bound=type[OnnxModel])


def register(kind: str, family: str) -> Callable[[T], T]:
    """Class decorator: ``@register("face_detector", "scrfd")``."""

    def deco(cls: T) -> T:
        _REGISTRY[kind][family] = cls
        cls.family = family  # type: ignore[attr-defined]
        return cls

    return deco


def families(kind: str) -> Mapping[str, type[OnnxModel]]:
    _import_adapters()
    return dict(_REGISTRY[kind])


def _import_adapters() -> None:
    # importing the packages runs their @register decorators
    import emodesk.inference.classifiers  # noqa: F401
    import emodesk.inference.detectors  # noqa: F401


def load_model(
    model: str | ModelSpec,
    *,
    kind: str,
    device: str = "auto",
    allow_download: bool | None = None,
    warmup: bool = True,
    threads: int | None = None,
    **options: Any,
) -> OnnxModel:
    """Manifest id (or spec) → verified file → onnxruntime session → adapter, warmed up once."""
    spec = manifest_mod.load_manifest().get(model) if isinstance(model, str) else model
    if spec.kind != kind:
        raise ModelError(f"model {spec.id!r} is a {spec.kind}, not a {kind}")
    adapter = families(kind).get(spec.family)
    if adapter is None:
        raise ModelError(f"model {spec.id!r}: no adapter for family {spec.family!r}")
    path = resolve(spec, allow_download=allow_download)
    loaded = create_session(path, device, threads=threads)
    instance = adapter(spec, loaded, path, **options)
    if warmup:
        instance.warmup()
    log.info("loaded %s on %s", spec.id, ", ".join(loaded.providers))
    return instance


def load_detector(model: str | ModelSpec | None = None, **kwargs: Any) -> FaceDetector:
    spec = model or manifest_mod.load_manifest().default(manifest_mod.DETECTOR)
    return load_model(spec, kind=manifest_mod.DETECTOR, **kwargs)  # type: ignore[return-value]


def load_classifier(model: str | ModelSpec | None = None, **kwargs: Any) -> EmotionClassifier:
    spec = model or manifest_mod.load_manifest().default(manifest_mod.CLASSIFIER)
    return load_model(spec, kind=manifest_mod.CLASSIFIER, **kwargs)  # type: ignore[return-value]


