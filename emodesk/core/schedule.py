"""Detect less, track more: when the face detector must run, and at what input size.

The detector is most of a frame's cost; between detections the tracker's constant-velocity prediction
gives each face its box, and the emotion model still runs on every frame. ``DetectionSchedule`` runs
the detector when the tracks are uncertain and skips it when they are not:

- always on stills, at a shot cut, while no face is tracked, and at least every ``full_every_s`` at the
  detector's full input size (a refresh that finds new small faces);
- when something changed outside the tracked faces since the last detection (a face may have entered);
- when the last detection disagreed with the prediction (a track lost, a face more or fewer, IoU with
  the predicted box below ``good_iou``): the gap between detections falls back to zero, and it doubles
  (up to ``max_gap_s``) while predictions keep matching.

The input size follows the faces present (seed's "auto-adjusted resolution"): when every tracked face is
large, the frame is scaled down so that the smallest is still ``min_face_px`` wide at the detector's
input, never below ``min_input_px``. Only for detectors that do not upscale their input (YuNet): a
detector that letterboxes everything to 640 gains nothing from a smaller frame.

Every decision is a function of the frames and the tracks, in media time, never of wall time or thread
timing: a file gives the same frames[] on every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from emodesk.core.shots import thumbnail
from emodesk.core.tracker import iou_matrix
from emodesk.inference.types import Detection

_THUMB = (96, 54)  # motion thumbnail (w, h): 1080p → 20 px per thumb pixel
_CHANGED_LEVEL = 24  # grey-level difference that counts a thumbnail pixel as changed (compression noise is < 10)


@dataclass(frozen=True)
class Plan:
    detect: bool
    scale: float = 1.0  # frame scale before detection (1 = the detector's full input)
    reason: str = ""


class DetectionSchedule:
    def __init__(
        self,
        *,
        detector_input: tuple[int, int],
        can_downscale: bool,
        max_gap_s: float = 0.25,
        full_every_s: float = 1.0,
        good_iou: float = 0.75,
        min_face_px: float = 96.0,
        min_input_px: int = 160,
        changed_fraction: float = 0.01,
    ) -> None:
        self.detector_input = detector_input
        self.can_downscale = can_downscale
        self.max_gap_s = max_gap_s
        self.full_every_s = full_every_s
        self.good_iou = good_iou
        self.min_face_px = min_face_px
        self.min_input_px = min_input_px
        self.changed_fraction = changed_fraction
        self.reset()

    def reset(self) -> None:
        self._gap_s = 0.0
        self._last_t: float | None = None
        self._last_full_t: float | None = None
        self._ref: np.ndarray | None = None  # motion thumbnail at the last detection
        self._want_full = True

    def plan(self, image: np.ndarray, time_s: float, predicted: Sequence[Detection], *, force: bool) -> Plan:
        """Whether to detect on this frame (and at what scale); ``predicted`` are the tracked faces' boxes."""
        if force or not predicted or self._last_t is None or self._last_full_t is None or self._want_full:
            return Plan(True, 1.0, "forced" if force else "searching")
        if time_s - self._last_full_t >= self.full_every_s - 1e-9 or time_s < self._last_t:
            return Plan(True, 1.0, "refresh")
        if self._changed_outside(image, predicted):
            return Plan(True, 1.0, "motion")
        if time_s - self._last_t >= self._gap_s - 1e-9:
            return Plan(True, self._scale(image, predicted), "gap")
        return Plan(False)

    def observed(
        self, image: np.ndarray, time_s: float, plan: Plan, predicted: Sequence[Detection], found: Sequence[Detection]
    ) -> None:
        """After a detection: how well the prediction matched decides the next gap."""
        self._ref = self._thumb(image)
        self._last_t = time_s
        if plan.scale >= 1.0:
            self._last_full_t = time_s
        self._want_full = False
        if not predicted or not found:
            # nothing to compare: a face appeared (search again next frame) or every face left
            self._gap_s = 0.0
            self._want_full = bool(predicted) and not found and plan.scale < 1.0
            return
        iou = iou_matrix([p.box for p in predicted], [d.box for d in found])
        worst = float(iou.max(axis=1).min())  # the least well predicted track
        if len(found) != len(predicted) or worst < self.good_iou:
            self._gap_s = 0.0
            # a face lost at a reduced input size may only be too small for it now: look at full size
            self._want_full = plan.scale < 1.0 and len(found) < len(predicted)
        else:
            self._gap_s = min(self.max_gap_s, max(2.0 * self._gap_s, 1.0 / 30.0))

    def _scale(self, image: np.ndarray, predicted: Sequence[Detection]) -> float:
        if not self.can_downscale:
            return 1.0
        h, w = image.shape[:2]
        fit = min(self.detector_input[0] / w, self.detector_input[1] / h, 1.0)
        smallest = min(min(d.width, d.height) for d in predicted)
        scale = max(self.min_face_px / max(smallest, 1e-6), self.min_input_px / max(w, h))
        # only worth a resize when it saves a real share of the pixels
        return scale / fit if scale < 0.8 * fit else 1.0

    def _thumb(self, image: np.ndarray) -> np.ndarray:
        small = thumbnail(image, _THUMB)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small

    def _changed_outside(self, image: np.ndarray, predicted: Sequence[Detection]) -> bool:
        if self._ref is None:
            return True
        thumb = self._thumb(image)
        changed = cv2.absdiff(thumb, self._ref) > _CHANGED_LEVEL
        h, w = image.shape[:2]
        sx, sy = _THUMB[0] / w, _THUMB[1] / h
        outside = np.ones(changed.shape, bool)
        for d in predicted:
            # the face and a margin around it (hair, shoulders) move with the face: not "new"
            mx, my = 0.5 * d.width, 0.5 * d.height
            x1 = max(0, math.floor((d.box[0] - mx) * sx))
            y1 = max(0, math.floor((d.box[1] - my) * sy))
            x2 = min(_THUMB[0], math.ceil((d.box[2] + mx) * sx))
            y2 = min(_THUMB[1], math.ceil((d.box[3] + my) * sy))
            outside[y1:y2, x1:x2] = False
        total = int(outside.sum())
        return total > 0 and float(changed[outside].sum()) / total > self.changed_fraction


def detect_scaled(detector, image: np.ndarray, scale: float) -> list[Detection]:
    """``detector.detect`` on ``image`` scaled by ``scale`` (< 1), boxes and landmarks back in frame pixels.

    ``scale`` is relative to the size the detector would use for the whole frame.
    """
    if scale >= 1.0:
        return detector.detect(image)
    h, w = image.shape[:2]
    in_w, in_h = detector.input_size
    fit = min(in_w / w, in_h / h, 1.0) * scale
    new_w, new_h = max(1, round(w * fit)), max(1, round(h * fit))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    fx, fy = w / new_w, h / new_h
    out = []
    for d in detector.detect(small):
        x1, y1, x2, y2 = d.box
        landmarks = tuple((x * fx, y * fy) for x, y in d.landmarks) if d.landmarks else d.landmarks
        out.append(Detection(box=(x1 * fx, y1 * fy, x2 * fx, y2 * fy), score=d.score, landmarks=landmarks))
    return out
