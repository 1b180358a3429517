"""Canonical emotion labels and the mapping from each model's own label names."""

from __future__ import annotations

from collections.abc import Iterable

CANONICAL_LABELS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

_ALIASES = {
    "angry": "anger",
    "anger": "anger",
    "contempt": "contempt",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "scared": "fear",
    "happy": "happiness",
    "happiness": "happiness",
    "joy": "happiness",
    "neutral": "neutral",
    "calm": "neutral",
    "sad": "sadness",
    "sadness": "sadness",
    "surprise": "surprise",
    "surprised": "surprise",
}


def canonical_label(name: str) -> str:
    """Map a model's label name (any case) to its canonical name; unknown names raise ValueError."""
    try:
        return _ALIASES[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown emotion label {name!r}; known: {', '.join(CANONICAL_LABELS)}") from None


def canonical_labels(names: Iterable[str]) -> tuple[str, ...]:
    """Map a model's label order to canonical names, keeping the model's order; duplicates are an error."""
    mapped = tuple(canonical_label(n) for n in names)
    if len(set(mapped)) != len(mapped):
        raise ValueError(f"labels {list(names)} map to duplicate canonical names {mapped}")
    return mapped
