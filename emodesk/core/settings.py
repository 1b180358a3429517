"""Analysis settings: one frozen object shared by the CLI, the GUI and the Python API."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from emodesk.errors import EmodeskError
from emodesk.inference.providers import DEVICES


@dataclass(frozen=True)
class Settings:
    """How to analyse. ``None`` model ids mean the manifest's defaults.

    ``smoothing`` is the half-life in seconds of the per-face exponential smoothing (0 = off);
    ``detect_every`` runs the detector on every N-th frame and tracks the faces in between;
    ``det_size`` is the detector's input size (width, height), multiples of 32;
    ``shot_cuts`` resets face IDs at detected shot cuts in video files and streams.
    """

    detector: str | None = None
    emotion: str | None = None
    device: str = "auto"
    threshold: float | None = None
    max_faces: int = 0
    det_size: tuple[int, int] | None = None
    detect_every: int = 1
    smoothing: float = 0.25
    track_max_age_s: float = 1.0
    shot_cuts: bool = True
    threads: int | None = None
    sample_fps: float | None = None  # analyse this many frames per second of a file (None = every frame)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise EmodeskError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise EmodeskError(f"threshold {self.threshold} must be between 0 and 1")
        if self.detect_every < 1:
            raise EmodeskError(f"detect_every {self.detect_every} must be 1 or more")
        if self.smoothing < 0:
            raise EmodeskError(f"smoothing {self.smoothing} must be 0 (off) or a half-life in seconds")
        if self.max_faces < 0:
            raise EmodeskError(f"max_faces {self.max_faces} must be 0 (no limit) or more")
        if self.track_max_age_s <= 0:
            raise EmodeskError(f"track_max_age_s {self.track_max_age_s} must be positive")
        if self.sample_fps is not None and not (self.sample_fps > 0 and self.sample_fps < float("inf")):
            raise EmodeskError(f"sample_fps {self.sample_fps} must be a positive number of frames per second")
        if self.det_size is not None:
            w, h = self.det_size
            if w < 32 or h < 32:
                raise EmodeskError(f"det_size {w}x{h} must be at least 32x32")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["det_size"] = list(self.det_size) if self.det_size else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("det_size") is not None:
            values["det_size"] = tuple(values["det_size"])
        return cls(**values)
