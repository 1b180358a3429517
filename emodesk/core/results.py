"""Frozen, typed per-frame results: what the pipeline yields, the journal stores and the GUI draws.

Frozen through and through: mappings are :class:`FrozenMap` (``face.probs["anger"] = 99`` raises
TypeError), sequences are tuples, so a result handed to another thread or kept by a panel can never be
changed behind the session's back. ``to_json``/``from_json`` are the session file's per-frame records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emodesk.inference.types import Box, Point


class FrozenMap(Mapping[str, float]):
    """A read-only mapping (label -> value). Unlike ``types.MappingProxyType`` it pickles, so results
    can cross process boundaries (cluster workers)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, float] | None = None) -> None:
        object.__setattr__(self, "_data", dict(data or {}))

    def __getitem__(self, key: str) -> float:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenMap is read-only")

    def __getstate__(self) -> dict[str, float]:
        return self._data

    def __setstate__(self, state: dict[str, float]) -> None:
        object.__setattr__(self, "_data", dict(state))

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _freeze(mapping: Mapping[str, float]) -> FrozenMap:
    return mapping if isinstance(mapping, FrozenMap) else FrozenMap(mapping)


@dataclass(frozen=True)
class FaceResult:
    """One tracked face in one frame.

    ``probs`` are the classifier's raw probabilities, ``smoothed`` the per-track smoothed ones (equal when
    smoothing is off); both are keyed by canonical label and hold only the labels the model predicts.
    ``emotion``/``confidence`` are the top smoothed label and its probability. ``tracked`` is True when
    the box comes from the tracker's prediction (detect-every-N) rather than from a detection.
    """

    track_id: int
    box: Box
    score: float
    landmarks: tuple[Point, ...] | None
    probs: Mapping[str, float]
    smoothed: Mapping[str, float]
    emotion: str | None
    confidence: float
    tracked: bool = False

    def __post_init__(self) -> None:
        # callers pass plain dicts and lists; store read-only copies so nobody can edit a result later
        object.__setattr__(self, "probs", _freeze(self.probs))
        object.__setattr__(self, "smoothed", _freeze(self.smoothed))
        object.__setattr__(self, "box", tuple(self.box))
        if self.landmarks is not None:
            object.__setattr__(self, "landmarks", tuple(tuple(p) for p in self.landmarks))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaceResult:
        """A face record of a session file or journal (values as stored, i.e. rounded)."""
        landmarks = data.get("landmarks")
        return cls(
            track_id=int(data["id"]),
            box=tuple(float(v) for v in data["box"]),  # type: ignore[arg-type]
            score=float(data["score"]),
            landmarks=tuple((float(x), float(y)) for x, y in landmarks) if landmarks else None,
            probs=data["probs"],
            smoothed=data.get("smoothed", data["probs"]),
            emotion=data.get("emotion"),
            confidence=float(data.get("confidence", 0.0)),
            tracked=bool(data.get("tracked", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.track_id,
            "box": [round(v, 2) for v in self.box],
            "score": round(self.score, 4),
            "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks] if self.landmarks else None,
            "probs": {k: round(v, 5) for k, v in self.probs.items()},
            "smoothed": {k: round(v, 5) for k, v in self.smoothed.items()},
            "emotion": self.emotion,
            "confidence": round(self.confidence, 5),
            "tracked": self.tracked,
        }


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent per stage on one frame (decode is measured in the reader)."""

    decode_ms: float = 0.0
    detect_ms: float = 0.0
    track_ms: float = 0.0
    classify_ms: float = 0.0
    total_ms: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 3) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class FrameResult:
    """Everything the engine knows about one processed frame.

    ``time_s`` is the media time (file mode: index / fps, so reruns match); ``captured_at`` is the
    monotonic clock when the frame was read, for latency. ``dropped`` counts frames the live slot replaced
    before this one was taken (always 0 in file mode).
    """

    index: int
    time_s: float
    faces: tuple[FaceResult, ...]
    timings: StageTimings = field(default_factory=StageTimings)
    detected: bool = True
    dropped: int = 0
    captured_at: float = 0.0
    frame_shape: tuple[int, int] = (0, 0)  # (height, width)
    shot_cut: bool = False  # this frame starts a new shot: tracks were reset before it
    file: str | None = None  # folders of images: the picture's path relative to the folder
    # the decoded BGR frame, only when the caller asked for it (run(keep_images=True)); never serialised
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", tuple(self.faces))

    def to_json(self) -> dict[str, Any]:
        """The session file's per-frame record (timings and drops are kept for diagnosis)."""
        record = {
            "index": self.index,
            "time_s": round(self.time_s, 6),
            "faces": [f.to_json() for f in self.faces],
            "detected": self.detected,
            "shot_cut": self.shot_cut,
            "dropped": self.dropped,
            "timings": self.timings.to_json(),
        }
        if self.file is not None:  # only image folders have one: video sessions stay byte-identical
            record["file"] = self.file
        return record

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameResult:
        """A frame record of a session file or journal (session files keep no timings: zeros then)."""
        timings = data.get("timings") or {}
        return cls(
            index=int(data["index"]),
            time_s=float(data["time_s"]),
            faces=tuple(FaceResult.from_json(f) for f in data.get("faces", ())),
            timings=StageTimings(**{k: float(v) for k, v in timings.items() if k in StageTimings.__dataclass_fields__}),
            detected=bool(data.get("detected", True)),
            dropped=int(data.get("dropped", 0)),
            shot_cut=bool(data.get("shot_cut", False)),
            file=data.get("file"),
        )
