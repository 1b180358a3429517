"""Model adapter interfaces: what every detector and emotion classifier family implements.

Each model family (SCRFD, YuNet, OpenCV FER, …) is one small class registered under the family name the
manifest uses (``registry.register``); ``loader`` turns a manifest id into a warmed-up adapter. The names
``load_model``, ``load_detector``, ``load_classifier`` and ``families`` are still importable from here for
existing callers, but they live in ``emodesk.inference.loader``: importing them here lazily keeps this module
free of an import back from the adapters (they import this module), so the package has no import cycle.
"""

from __future__ import annotations

import importlib
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emodesk.errors import ModelError
from emodesk.inference.labels import canonical_labels
from emodesk.inference.manifest import ModelSpec
from emodesk.inference.providers import LoadedSession
from emodesk.inference.registry import register
from emodesk.inference.store import sha256_of
from emodesk.inference.types import Detection, ModelInfo

__all__ = [
    "EmotionClassifier",
    "FaceDetector",
    "ModelInfo",
    "OnnxModel",
    "register",
    "round_size",
    "round_up",
    "softmax",
]

log = logging.getLogger(__name__)

_MOVED_TO_LOADER = ("families", "load_classifier", "load_detector", "load_model")


def __getattr__(name: str) -> Any:
    # the loader imports the adapters, which import this module: a module-level import here would be a cycle
    if name in _MOVED_TO_LOADER:
        return getattr(importlib.import_module("emodesk.inference.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
            temperature=getattr(self, "temperature", None),
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
        temperature = spec.temperature
        if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
            raise ModelError(f"model {spec.id!r}: temperature must be a positive number, not {temperature!r}")
        self.temperature: float | None = temperature

    @abstractmethod
    def preprocess(self, frame: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """The input batch for ``detections`` (one row per face, in order)."""

    @property
    def output_kind(self) -> str:
        """``logits`` or ``probabilities``: what the graph's output is (the manifest's ``input.output``)."""
        return str(self.spec.input.get("output", "logits"))

    def to_logits(self, outputs: np.ndarray) -> np.ndarray:
        """Raw graph outputs → logits (float32). A graph that ends in a softmax gives log-probabilities,
        which differ from its logits by a per-row constant, so softmax and temperature act on them alike."""
        if self.output_kind == "logits":
            return outputs.astype(np.float32)
        probs = np.clip(outputs.astype(np.float64), 0.0, None)
        total = probs.sum(axis=-1, keepdims=True)
        # renormalise first: a softmax computed in float32 inside the graph sums to 1 only within rounding
        probs = np.divide(probs, total, out=np.full_like(probs, 1.0 / probs.shape[-1]), where=total > 0)
        return np.log(np.maximum(probs, 1e-12)).astype(np.float32)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits in the model's label order for a preprocessed batch; one call per batch where allowed."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.max_batch and len(batch) > self.max_batch:
            parts = [batch[i : i + self.max_batch] for i in range(0, len(batch), self.max_batch)]
        else:
            parts = [batch]
        outs = [self.session.run(None, {self.input_name: p})[self.output_index] for p in parts]
        return self.to_logits(np.concatenate(outs, axis=0))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """``softmax(logits / T)``: the one place the calibration temperature is applied (T = 1 if None)."""
        return softmax(logits / np.float32(self.temperature or 1.0))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for a preprocessed batch (rows sum to 1), in the model's label order."""
        return self.probabilities(self.logits(batch))

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


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``value``: the one rounding rule of the package."""
    return -(-int(value) // multiple) * multiple


def round_size(size: Sequence[int], multiple: int = 32) -> tuple[int, int]:
    """``(w, h)`` rounded up to multiples of ``multiple``: graphs with strides up to 32 need that."""
    w, h = (max(multiple, round_up(int(v), multiple)) for v in size)
    if (w, h) != (int(size[0]), int(size[1])):
        log.info("detector input size %sx%s rounded up to %sx%s", size[0], size[1], w, h)
    return w, h


def softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
