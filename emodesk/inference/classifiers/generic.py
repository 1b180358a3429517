"""The manifest-driven emotion adapter: crop, normalise, run, softmax, all from the ``input`` dict.

Family ``onnx_emotion`` is for the project's own models; the upstream families (``opencv_fer``,
``mini_xception``, ``hsemotion``) are this class with their upstream preprocessing as defaults.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from emodesk.errors import ModelError
from emodesk.inference.base import EmotionClassifier
from emodesk.inference.classifiers.crops import face_crops
from emodesk.inference.classifiers.normalize import InputSpec, to_tensor
from emodesk.inference.manifest import CLASSIFIER, ModelSpec
from emodesk.inference.providers import LoadedSession
from emodesk.inference.registry import register
from emodesk.inference.types import Detection

log = logging.getLogger(__name__)


@register(CLASSIFIER, "onnx_emotion")
class OnnxEmotionClassifier(EmotionClassifier):
    """Any single-input image classifier whose manifest entry describes its input fully."""

    # what the family's upstream code does; the manifest entry overrides any of these
    input_defaults: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __init__(self, spec: ModelSpec, loaded: LoadedSession, path: Path) -> None:
        super().__init__(spec, loaded, path)
        self.input_spec = InputSpec.from_mapping({**self.input_defaults, **spec.input}, model=spec.id)
        self._check_graph(path)
        if not self.max_batch and self.input_spec.batch:
            self.max_batch = self.input_spec.batch

    def _check_graph(self, path: Path) -> None:
        """Fail at load time, naming the file, when the manifest and the graph disagree."""
        declared = self.session.get_inputs()[0].shape
        expected = self.input_spec.tensor_shape()
        if len(declared) != 4 or any(
            isinstance(d, int) and isinstance(e, int) and d != e for d, e in zip(declared[1:], expected[1:])
        ):
            raise ModelError(
                f"{path}: the graph's input is {declared}, but the manifest's input for {self.spec.id!r} "
                f"means {list(expected)} ({self.input_spec.layout}, {self.input_spec.color})"
            )
        out_shape = self.session.get_outputs()[self.output_index].shape
        classes = out_shape[-1] if out_shape else None
        if isinstance(classes, int) and classes != len(self.labels):
            raise ModelError(
                f"{path}: the graph outputs {classes} classes, but the manifest lists {len(self.labels)} labels "
                f"for {self.spec.id!r}"
            )

    def preprocess(self, frame: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        return to_tensor(face_crops(frame, detections, self.input_spec), self.input_spec)

    @property
    def output_kind(self) -> str:
        return self.input_spec.output  # the family's default when the manifest entry leaves it out
