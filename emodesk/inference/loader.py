"""Loading a model: manifest lookup → verified file → onnxruntime session → registered adapter, warmed up.

Importing this module imports every adapter package, which registers the families; nothing imports this
module back, so there is no import cycle (``base`` holds the interfaces, ``registry`` the family table).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import emodesk.inference.classifiers  # registers the emotion families
import emodesk.inference.detectors  # noqa: F401 - registers the detector families
from emodesk.errors import ModelError
from emodesk.inference import manifest as manifest_mod
from emodesk.inference.base import EmotionClassifier, FaceDetector, OnnxModel
from emodesk.inference.manifest import ModelSpec
from emodesk.inference.providers import create_session
from emodesk.inference.registry import registered
from emodesk.inference.store import resolve

log = logging.getLogger(__name__)


def families(kind: str) -> Mapping[str, type[OnnxModel]]:
    """Every adapter family of ``kind`` (``face_detector`` or ``emotion_classifier``)."""
    return registered(kind)


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
