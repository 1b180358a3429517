"""Frozen, typed per-frame results: what the pipeline yields, the journal stores and the GUI draws."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emodesk.inference.types import Box, Point


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
    # the decoded BGR frame, only when the caller asked for it (run(keep_images=True)); never serialised
    image: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The session file's per-frame record (timings and drops are kept for diagnosis)."""
        return {
            "index": self.index,
            "time_s": round(self.time_s, 6),
            "faces": [f.to_json() for f in self.faces],
            "detected": self.detected,
            "shot_cut": self.shot_cut,
            "dropped": self.dropped,
            "timings": self.timings.to_json(),
        }
