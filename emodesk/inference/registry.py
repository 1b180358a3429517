"""The family registry: model family name → adapter class, filled by ``@register`` in the adapter modules.

Kept apart from the adapters' base classes and from the loader so that the import graph has no cycle:
adapters import this module and ``base``; ``loader`` imports the adapters (which registers them) and this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from emodesk.inference.manifest import CLASSIFIER, DETECTOR

_REGISTRY: dict[str, dict[str, type]] = {DETECTOR: {}, CLASSIFIER: {}}
T = TypeVar("T", bound=type)


def register(kind: str, family: str) -> Callable[[T], T]:
    """Class decorator: ``@register("face_detector", "scrfd")``."""

    def deco(cls: T) -> T:
        _REGISTRY[kind][family] = cls
        cls.family = family  # type: ignore[attr-defined]
        return cls

    return deco


def registered(kind: str) -> Mapping[str, type]:
    """The families registered so far (``loader.families`` imports every adapter first)."""
    return dict(_REGISTRY[kind])
