"""Stable face IDs across frames: constant-velocity prediction plus optimal assignment.

Every quantity is in media time (seconds), never in frames, so the tracker behaves the same at any frame
rate, with detect-every-N and with dropped frames. Pure numpy; no scipy.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emodesk.inference.types import Box, Detection

__all__ = ["FaceTracker", "TrackedFace", "iou_matrix", "linear_assignment"]

log = logging.getLogger(__name__)

# Half-life of the velocity estimate's exponential smoothing: long enough to damp ±few px detector jitter
# at 60 fps, short enough to follow a face that changes direction within a few frames.
_VELOCITY_HALF_LIFE_S = 0.1
# A predicted box may at most halve or double in size, whatever the gap: size velocity is noisy and an
# exploding or vanishing box would no longer match the face when it reappears.
_MAX_LOG_SCALE = math.log(2.0)
# Distance-gated matches (no IoU) must also agree in size within this factor, so a small face passing a
# big one's centre is not taken for it.
_MAX_SIZE_RATIO = 2.0
# A track seen once has no velocity yet, so its prediction is just its last position: widen its distance
# gate so a fast face is still linked on its second detection (after that the motion model takes over).
_NEW_TRACK_GATE_FACTOR = 2.0
_INFEASIBLE = 1e6
# Tolerance for "time went backwards": float noise in index / fps must not look like a seek.
_TIME_EPS = 1e-9


@dataclass(frozen=True)
class TrackedFace:
    """A face with its stable ID in one frame.

    For a predicted face (``predicted=True``) the detection's box and landmarks were moved by the motion
    model and its score is the last detection's score.
    """

    track_id: int
    detection: Detection
    predicted: bool


def iou_matrix(a: np.ndarray | Sequence[Box], b: np.ndarray | Sequence[Box]) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b`` (x1, y1, x2, y2): shape (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0.0, inter / union, 0.0)
    return iou


def linear_assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment (Hungarian, O(n²m)) of a rectangular, finite cost matrix.

    Returns (row, column) pairs, sorted by row; min(rows, columns) pairs are always returned, so callers
    gate out pairs they consider infeasible.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be 2-D, got shape {cost.shape}")
    if cost.size == 0:
        return []
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape
    # Jonker-Volgenant style shortest augmenting paths with potentials (1-based; column 0 is a sentinel).
    u = np.zeros(n + 1)
    v = np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.int64)
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = row_of_col[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, minv[1:], np.inf)
            j1 = int(np.argmin(candidates)) + 1
            delta = candidates[j1 - 1]
            u[row_of_col[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0 != 0:
            j1 = way[j0]
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    pairs = [(int(row_of_col[j]) - 1, j - 1) for j in range(1, m + 1) if row_of_col[j] != 0]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


@dataclass(eq=False)
class _Track:
    """Mutable motion state of one track; position is the last detection's, velocity smoothed."""

    key: int
    public_id: int | None
    time_s: float
    detection: Detection
    state: np.ndarray  # cx, cy, log w, log h at time_s
    velocity: np.ndarray  # per second, same order as state
    has_velocity: bool = False
    hits: int = 1

    def predicted_state(self, time_s: float) -> np.ndarray:
        dt = max(0.0, time_s - self.time_s)
        moved = self.state + self.velocity * dt
        moved[2:] = self.state[2:] + np.clip(moved[2:] - self.state[2:], -_MAX_LOG_SCALE, _MAX_LOG_SCALE)
        return moved

    def predicted_box(self, time_s: float) -> np.ndarray:
        return _state_to_box(self.predicted_state(time_s))

    def predicted_detection(self, time_s: float) -> Detection:
        if time_s <= self.time_s:
            return self.detection
        state = self.predicted_state(time_s)
        box = _state_to_box(state)
        landmarks = self.detection.landmarks
        if landmarks is not None:
            scale = np.exp(state[2:] - self.state[2:])
            landmarks = tuple(
                (
                    float(state[0] + (x - self.state[0]) * scale[0]),
                    float(state[1] + (y - self.state[1]) * scale[1]),
                )
                for x, y in landmarks
            )
        x1, y1, x2, y2 = (float(c) for c in box)
        return Detection(box=(x1, y1, x2, y2), score=self.detection.score, landmarks=landmarks)

    def observe(self, detection: Detection, time_s: float) -> None:
        new_state = _box_to_state(detection.box)
        dt = time_s - self.time_s
        if dt > 0.0:
            measured = (new_state - self.state) / dt
            if self.has_velocity:
                alpha = 1.0 - 0.5 ** (dt / _VELOCITY_HALF_LIFE_S)
                self.velocity = self.velocity + alpha * (measured - self.velocity)
            else:
                # no prior to blend with: a zero prior would make the first frames lag behind a moving face
                self.velocity = measured
                self.has_velocity = True
        self.state = new_state
        self.detection = detection
        self.time_s = time_s
        self.hits += 1


def _box_to_state(box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    w = max(x2 - x1, 1e-6)
    h = max(y2 - y1, 1e-6)
    return np.array([(x1 + x2) / 2.0, (y1 + y2) / 2.0, math.log(w), math.log(h)])


def _side(boxes: np.ndarray) -> np.ndarray:
    """Square root of each box's area: the length that distances are normalised by."""
    return np.sqrt(np.clip((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-12, None))


def _state_to_box(state: np.ndarray) -> np.ndarray:
    half_w = math.exp(state[2]) / 2.0
    half_h = math.exp(state[3]) / 2.0
    return np.array([state[0] - half_w, state[1] - half_h, state[0] + half_w, state[1] + half_h])


class FaceTracker:
    """Gives each face a stable integer ID across frames.

    Call :meth:`update` on every frame where the detector ran and :meth:`predict` on frames where it did
    not. A track needs ``min_hits`` detections before it gets a public ID and is reported; a tentative
    track that misses a detection is dropped, so IDs stay dense (1, 2, 3, ...) and are never reused.
    Tracks unseen for more than ``max_age_s`` of media time are deleted. A detection matches a track's
    predicted box when their IoU is at least ``iou_threshold`` or their centre distance, divided by the
    square root of the predicted box's area, is below ``max_distance``. Time going backwards is a seek:
    every track is dropped.
    """

    def __init__(
        self,
        *,
        max_age_s: float = 1.0,
        iou_threshold: float = 0.3,
        min_hits: int = 1,
        max_distance: float = 0.5,
    ) -> None:
        if max_age_s < 0:
            raise ValueError(f"max_age_s must be >= 0, got {max_age_s}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        if max_distance < 0:
            raise ValueError(f"max_distance must be >= 0, got {max_distance}")
        self.max_age_s = float(max_age_s)
        self.iou_threshold = float(iou_threshold)
        self.min_hits = int(min_hits)
        self.max_distance = float(max_distance)
        self._tracks: list[_Track] = []
        self._next_key = 0
        self._next_id = 1
        self._time_s: float | None = None

    @property
    def active_ids(self) -> tuple[int, ...]:
        """Public IDs of the confirmed tracks still held (as of the last update/predict), ascending."""
        return tuple(sorted(t.public_id for t in self._tracks if t.public_id is not None))

    def reset(self) -> None:
        """Drop every track; IDs keep counting up so an ID never means two faces."""
        if self._tracks:
            log.debug("tracker reset, dropping %d tracks", len(self._tracks))
        self._tracks = []
        self._time_s = None

    def update(self, detections: Sequence[Detection], time_s: float) -> list[TrackedFace]:
        """Associate this frame's detections with the tracks.

        Returns one :class:`TrackedFace` per detection whose track is confirmed, in the order of
        ``detections``.
        """
        self._advance_clock(time_s)
        self._expire(time_s)

        matches: dict[int, _Track] = {}
        if self._tracks and detections:
            for track_index, det_index in self._associate(detections, time_s):
                matches[det_index] = self._tracks[track_index]

        matched_keys = {t.key for t in matches.values()}
        # a tentative track must be seen on consecutive detector runs, or it was probably a false positive
        self._tracks = [t for t in self._tracks if t.key in matched_keys or t.public_id is not None]

        out: list[TrackedFace] = []
        for det_index, detection in enumerate(detections):
            track = matches.get(det_index)
            if track is None:
                track = _Track(
                    key=self._next_key,
                    public_id=None,
                    time_s=time_s,
                    detection=detection,
                    state=_box_to_state(detection.box),
                    velocity=np.zeros(4),
                )
                self._next_key += 1
                self._tracks.append(track)
            else:
                track.observe(detection, time_s)
            if track.public_id is None and track.hits >= self.min_hits:
                track.public_id = self._next_id
                self._next_id += 1
                log.debug("new track %d at t=%.3f", track.public_id, time_s)
            if track.public_id is not None:
                out.append(TrackedFace(track_id=track.public_id, detection=detection, predicted=False))
        return out

    def predict(self, time_s: float) -> list[TrackedFace]:
        """Where every live confirmed track is at ``time_s``, for frames the detector skipped."""
        self._advance_clock(time_s)
        self._expire(time_s)
        return [
            TrackedFace(track_id=t.public_id, detection=t.predicted_detection(time_s), predicted=True)
            for t in self._tracks
            if t.public_id is not None
        ]

    def _advance_clock(self, time_s: float) -> None:
        if self._time_s is not None and time_s < self._time_s - _TIME_EPS:
            log.debug("time went back from %.3f to %.3f: resetting tracker", self._time_s, time_s)
            self.reset()
        if self._time_s is None or time_s > self._time_s:
            self._time_s = time_s

    def _expire(self, time_s: float) -> None:
        kept: list[_Track] = []
        for t in self._tracks:
            if time_s - t.time_s <= self.max_age_s + _TIME_EPS:
                kept.append(t)
            elif t.public_id is not None:
                log.debug("track %d expired at t=%.3f", t.public_id, time_s)
        self._tracks = kept

    def _associate(self, detections: Sequence[Detection], time_s: float) -> list[tuple[int, int]]:
        """Optimal (track index, detection index) pairs that pass the gate."""
        predicted = np.stack([t.predicted_box(time_s) for t in self._tracks])
        boxes = np.asarray([d.box for d in detections], dtype=np.float64).reshape(-1, 4)
        iou = iou_matrix(predicted, boxes)

        p_size = _side(predicted)
        d_size = _side(boxes)
        p_centre = (predicted[:, :2] + predicted[:, 2:]) / 2.0
        d_centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        distance = np.linalg.norm(p_centre[:, None, :] - d_centre[None, :, :], axis=2) / p_size[:, None]
        size_ratio = np.maximum(p_size[:, None] / d_size[None, :], d_size[None, :] / p_size[:, None])

        max_distance = np.array(
            [self.max_distance * (1.0 if t.has_velocity else _NEW_TRACK_GATE_FACTOR) for t in self._tracks]
        )
        near = (distance < max_distance[:, None]) & (size_ratio <= _MAX_SIZE_RATIO)
        gate = (iou >= self.iou_threshold) | near
        cost = np.where(gate, (1.0 - iou) + distance, _INFEASIBLE)
        return [(r, c) for r, c in linear_assignment(cost) if gate[r, c]]
