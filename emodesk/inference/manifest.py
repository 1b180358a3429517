"""The model manifest: every model emodesk knows, read from ``models/manifest.json``."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from emodesk.atomic import write_json
from emodesk.errors import ModelError

DETECTOR = "face_detector"
CLASSIFIER = "emotion_classifier"
KINDS = (DETECTOR, CLASSIFIER)


def bundled_models_dir() -> Path:
    """The project's ``models/`` folder: the checkout's in development, the wheel's copy once installed."""
    package_dir = Path(__file__).resolve().parent.parent
    checkout = package_dir.parent / "models"
    if (checkout / "manifest.json").is_file():
        return checkout
    return package_dir / "_models"


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry. ``input`` holds the family-specific preprocessing constants."""

    id: str
    kind: str
    family: str
    file: str
    sha256: str | None
    size: int | None
    url: str | None
    licence: str
    commercial_use: bool
    description: str = ""
    licence_note: str = ""
    zip_member: str | None = None
    upstream: str | None = None
    default: bool = False
    threshold: float | None = None
    nms_iou: float | None = None
    labels: tuple[str, ...] | None = None
    input: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    card: str | None = None
    # emotion models: softmax temperature fitted on held-out data (`emodesk models calibrate`); None = 1
    temperature: float | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ModelSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ModelError(f"manifest entry {raw.get('id')!r} has unknown keys: {', '.join(sorted(unknown))}")
        data = dict(raw)
        if data.get("labels") is not None:
            data["labels"] = tuple(data["labels"])
        data["input"] = MappingProxyType(dict(data.get("input") or {}))
        spec = cls(**data)
        if spec.kind not in KINDS:
            raise ModelError(f"manifest entry {spec.id!r}: kind {spec.kind!r} is not one of {', '.join(KINDS)}")
        if spec.kind == CLASSIFIER and not spec.labels:
            raise ModelError(f"manifest entry {spec.id!r}: an emotion classifier needs its label order")
        if spec.temperature is not None and not (
            isinstance(spec.temperature, (int, float)) and math.isfinite(spec.temperature) and spec.temperature > 0
        ):
            raise ModelError(f"manifest entry {spec.id!r}: temperature must be a positive number, not {spec.temperature!r}")
        return spec

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (what ``models list --json`` prints)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["input"] = dict(self.input)
        out["labels"] = list(self.labels) if self.labels else None
        return out


@dataclass(frozen=True)
class Manifest:
    models: tuple[ModelSpec, ...]
    path: Path

    def get(self, model_id: str) -> ModelSpec:
        for spec in self.models:
            if spec.id == model_id:
                return spec
        known = ", ".join(s.id for s in self.models)
        raise ModelError(f"unknown model {model_id!r}; known models: {known}")

    def of_kind(self, kind: str) -> tuple[ModelSpec, ...]:
        return tuple(s for s in self.models if s.kind == kind)

    def default(self, kind: str) -> ModelSpec:
        for spec in self.of_kind(kind):
            if spec.default:
                return spec
        raise ModelError(f"{self.path}: no default {kind} in the manifest")


def parse_manifest(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model manifest ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: the model manifest is not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    specs = tuple(ModelSpec.from_dict(entry) for entry in raw.get("models", ()))
    ids = [s.id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ModelError(f"{path}: duplicate model ids: {', '.join(duplicates)}")
    return Manifest(models=specs, path=path)


@lru_cache(maxsize=1)
def load_manifest() -> Manifest:
    """The bundled manifest (parsed once per process)."""
    return parse_manifest(bundled_models_dir() / "manifest.json")


def set_temperature(path: Path, model_id: str, temperature: float) -> None:
    """Store ``temperature`` in ``model_id``'s entry of the manifest at ``path`` (atomic rewrite, same layout)."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ModelError(f"temperature must be a positive number, not {temperature!r}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    entries = [e for e in raw.get("models", ()) if e.get("id") == model_id]
    if not entries:
        raise ModelError(f"{path}: no model {model_id!r}")
    entries[0]["temperature"] = float(temperature)
    # atomic (readers see the old manifest or the new one, never half of it), the user's umask, no NaN
    write_json(path, raw, indent=2)
    load_manifest.cache_clear()

