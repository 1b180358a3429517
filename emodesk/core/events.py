"""Event markers of a study (a stimulus shown, a question asked), kept in the session beside the frames."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from emodesk.errors import EmodeskError

EVENT_SOURCES = ("key", "file", "api")


@dataclass(frozen=True)
class Event:
    """A labelled moment (``duration_s`` None) or interval of the session's media time.

    ``frame`` is the analysed frame the event was marked on (None when it was imported by time only);
    ``source`` says where it came from: a key in the window, an events CSV, or the Python API.
    """

    time_s: float
    label: str
    duration_s: float | None = None
    frame: int | None = None
    source: str = "api"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_s) and self.time_s >= 0):
            raise EmodeskError(f"event time {self.time_s!r} must be a finite number of seconds, 0 or more")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise EmodeskError(f"event duration {self.duration_s!r} must be a finite number of seconds, 0 or more")
        if not self.label.strip():
            raise EmodeskError("an event needs a label")
        if self.source not in EVENT_SOURCES:
            raise EmodeskError(f"event source {self.source!r} is not one of {', '.join(EVENT_SOURCES)}")

    @property
    def end_s(self) -> float:
        return self.time_s + (self.duration_s or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "time_s": round(self.time_s, 6),
            "frame": self.frame,
            "label": self.label,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 6),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            time_s=float(data["time_s"]),
            label=str(data["label"]),
            duration_s=None if data.get("duration_s") is None else float(data["duration_s"]),
            frame=None if data.get("frame") is None else int(data["frame"]),
            source=str(data.get("source", "api")),
        )
