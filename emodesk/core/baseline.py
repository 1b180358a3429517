"""Per-participant baseline calibration: expression relative to a person's own resting face.

Some faces look sad or angry at rest (FaceReader calls it the participant's "neutral state"); without a
correction every frame of such a person reads a little sad. The user marks an interval of the session
(``--baseline START:END`` in seconds) in which the participant is at rest. For each face seen in it:

* its **baseline** ``b`` is the mean of its smoothed probabilities over the interval's face-frames;
* each face-frame's **calibrated** probabilities are, with ``p`` its smoothed probabilities
  (renormalised to sum to 1):

  - for every label except neutral: ``c[l] = max(p[l] - b[l], 0)``, the part of ``l`` above rest;
  - ``c[neutral] = 1 - sum of the others``: everything at or below the resting level reads neutral.

  ``c`` sums to 1 and is never negative (``sum c[l] <= sum p[l] <= 1``); a face exactly like its baseline
  reads ``neutral = 1``; a face that smiles more than at rest keeps only the extra smile.

Faces not seen during the interval have **no** calibrated values (they stay empty rather than being
calibrated against someone else's rest), and neither do sessions whose model has no neutral label.
The stored frames (raw and smoothed) are never rewritten: calibration is applied when exporting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from emodesk.errors import EmodeskError

NEUTRAL = "neutral"


@dataclass(frozen=True)
class BaselineInterval:
    """The media-time interval ``[start_s, end_s]`` in which participants are at rest."""

    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and math.isfinite(self.end_s) and 0 <= self.start_s < self.end_s):
            raise EmodeskError(
                f"baseline {self.start_s:g}:{self.end_s:g} must be START:END seconds with 0 <= START < END"
            )

    @classmethod
    def parse(cls, text: str) -> BaselineInterval:
        """``"2:10"`` or ``"2.5:10"`` (seconds)."""
        start, sep, end = text.partition(":")
        try:
            if not sep:
                raise ValueError
            return cls(float(start), float(end))
        except ValueError:
            raise EmodeskError(f"baseline {text!r} is not START:END in seconds, e.g. 0:5") from None

    def contains(self, time_s: float) -> bool:
        return self.start_s <= time_s <= self.end_s

    def to_json(self) -> dict[str, float]:
        return {"start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6)}


@dataclass(frozen=True)
class FaceBaseline:
    """One face's resting expression: mean smoothed probabilities over ``frames`` face-frames."""

    face_id: int
    frames: int
    probs: Mapping[str, float]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.face_id, "frames": self.frames, "probs": {k: round(v, 5) for k, v in self.probs.items()}}


def face_baselines(frames: Iterable[Mapping[str, Any]], interval: BaselineInterval) -> dict[int, FaceBaseline]:
    """Each face seen in ``interval`` → its baseline, from session frame records (``index, time_s, faces``)."""
    sums: dict[int, dict[str, float]] = {}
    counts: dict[int, int] = {}
    for record in frames:
        if not interval.contains(record["time_s"]):
            continue
        for face in record["faces"]:
            smoothed = face.get("smoothed") or {}
            if not smoothed:
                continue
            acc = sums.setdefault(face["id"], {})
            for label, p in smoothed.items():
                acc[label] = acc.get(label, 0.0) + p
            counts[face["id"]] = counts.get(face["id"], 0) + 1
    return {
        face_id: FaceBaseline(face_id, counts[face_id], {k: v / counts[face_id] for k, v in acc.items()})
        for face_id, acc in sorted(sums.items())
    }


def calibrate(probs: Mapping[str, float], baseline: FaceBaseline | Mapping[str, float]) -> dict[str, float] | None:
    """Calibrated probabilities (module docstring), or None when they cannot be computed: no neutral
    label, or probabilities that sum to zero."""
    base = baseline.probs if isinstance(baseline, FaceBaseline) else baseline
    total = sum(probs.values())
    if NEUTRAL not in probs or total <= 0:
        return None
    above = {label: max(p / total - base.get(label, 0.0), 0.0) for label, p in probs.items() if label != NEUTRAL}
    out = {label: above.get(label, 0.0) for label in probs}
    out[NEUTRAL] = max(0.0, 1.0 - sum(above.values()))
    return out
