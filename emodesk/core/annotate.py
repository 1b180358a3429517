"""Overlays drawn with OpenCV on numpy frames: one function for the live view, snapshots and exported video.

Every consumer calls :func:`annotate`, so a snapshot or an annotated export shows exactly the pixels the
live view showed. Per face it draws

* the box in the colour of the face's current emotion (thicker for the selected face, dashed when the box
  is the tracker's prediction rather than a detection),
* a label ``#ID emotion 87%`` on a filled background in that colour, above the box (below, or nudged
  away from other labels, when there is no room), and
* compact probability bars (one per label the face has, in each label's colour, smoothed values) beside
  the box, right or left.

Sizes scale with the frame (so a 320x240 preview and a 4K export both stay readable) and with the face
(so a small face in a crowd does not get a banner wider than its neighbours). Labels, then bars, are
placed greedily (selected face first, then the biggest) so that, in simple cases, overlapping faces still
get readable annotations; in a crowd, bars that could only cover another face or label are left out.
Everything is shifted inside the frame rather than clipped, unless the frame is smaller than the label.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from emodesk.core.palette import emotion_bgr
from emodesk.core.results import FaceResult, FrameResult
from emodesk.inference.types import Box, Point

log = logging.getLogger(__name__)

FONT = cv2.FONT_HERSHEY_SIMPLEX
# Hershey glyph height at scale 1 (OpenCV reports one height for every string; only the baseline varies)
_GLYPH_H = cv2.getTextSize("Ag", FONT, 1.0, 1)[0][1]
_MIN_FONT = 0.4  # below this the Hershey font stops being legible, however small the frame
_REF_SIDE = 1080.0  # sizes below are tuned on a 1080p frame and scale with min(height, width)
_MAX_BAR_COVER = 0.25  # bars whose best spot covers more than this share of faces/labels are left out
_PANEL_ALPHA = 0.35  # brightness kept under the bar panel: dark enough for bars on any background
_DARK_TEXT = (28, 28, 28)
_LIGHT_TEXT = (255, 255, 255)
_BAR_TRACK = (90, 90, 90)
_ABBREV_TEXT = (225, 225, 225)

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 with x2/y2 exclusive


@dataclass(frozen=True)
class _Layout:
    """Integer geometry of one face's overlay, worked out before anything is drawn."""

    face: FaceResult
    box: Rect
    colour: tuple[int, int, int]
    thickness: int
    font_scale: float
    text_thickness: int
    text: str
    text_h: int
    label_size: tuple[int, int]  # width, height including padding
    pad: int
    bars_size: tuple[int, int]  # (0, 0) when the face has no probabilities
    row_h: int
    bar_pad: int
    abbrev_scale: float  # 0: rows too short for legible text
    abbrev_w: int


def annotate(
    frame: np.ndarray,
    result: FrameResult,
    *,
    selected: int | None = None,
    bars: bool = True,
    landmarks: bool = False,
) -> np.ndarray:
    """A new BGR uint8 image: ``frame`` with every face of ``result`` drawn on it (``frame`` is untouched).

    ``selected`` is a track ID whose box is drawn thicker. ``bars`` adds the per-face probability bars
    (smoothed values), ``landmarks`` the five detector landmarks.
    """
    image = _bgr_copy(frame)
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        return image
    unit = min(h, w) / _REF_SIDE
    layouts = [_layout(face, unit, w, selected) for face in _visible(result.faces, w, h)]
    if not layouts:
        return image
    # the selected face, then the biggest, get first pick of label and bar positions
    layouts.sort(key=lambda lay: (lay.face.track_id != selected, -_area(lay.box)))
    boxes = [_grow(lay.box, lay.thickness) for lay in layouts]

    # labels first: they matter most. Each avoids the faces (its own too: "inside" is a last resort)
    # and, far more, the labels already placed; the bars then fit around all of that.
    label_rects: list[Rect] = []
    for i, lay in enumerate(layouts):
        label_rects.append(_place(_label_candidates(lay, boxes[i], w), w, h, boxes, heavy=label_rects)[0])
    bar_rects: list[Rect | None] = []
    for i, lay in enumerate(layouts):
        if not bars or lay.bars_size == (0, 0):
            bar_rects.append(None)
            continue
        placed = [r for r in bar_rects if r is not None]
        rect, covered = _place(_bar_candidates(lay, boxes[i]), w, h, boxes + placed, heavy=label_rects)
        # in a crowd, bars that would hide another face or label are left out (the label still says the
        # emotion); the selected face always keeps them
        crowded = covered > _MAX_BAR_COVER * _area(rect) and lay.face.track_id != selected
        bar_rects.append(None if crowded else rect)

    # boxes first, then bars and labels, so that text is never painted over by a neighbour's box
    for lay in layouts:
        _draw_box(image, lay, selected)
        if landmarks and lay.face.landmarks:
            draw_landmarks(image, lay.face.landmarks, lay.colour, radius=max(1, lay.thickness))
    for lay, rect in zip(layouts, bar_rects):
        if rect is not None:
            _draw_bars(image, lay, rect)
    for lay, rect in zip(layouts, label_rects):
        _draw_label(image, lay, rect)
    return image


def draw_landmarks(
    image: np.ndarray,
    points: Sequence[Point],
    colour: tuple[int, int, int] = (255, 255, 255),
    *,
    radius: int = 2,
) -> np.ndarray:
    """Draw landmark points into ``image`` in place (dark ring, coloured centre) and return it."""
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        centre = (int(round(x)), int(round(y)))
        # the dark ring keeps a light dot visible on skin and on light backgrounds
        cv2.circle(image, centre, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(image, centre, radius, colour, -1, cv2.LINE_AA)
    return image


def face_thumbnail(frame: np.ndarray, box: Box, size: int = 64, *, margin: float = 0.15) -> np.ndarray:
    """A ``size`` x ``size`` BGR crop centred on ``box``: square, ``margin`` of the face side added on each
    side, black where the square leaves the frame (so faces at the edges stay centred)."""
    image = frame if frame.ndim == 3 and frame.shape[2] == 3 else _bgr_copy(frame)
    size = max(1, int(size))
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return np.zeros((size, size, 3), np.uint8)
    side = max(x2 - x1, y2 - y1, 1.0) * (1.0 + 2.0 * margin)
    s = max(1, int(round(side)))
    left = int(round((x1 + x2) / 2 - s / 2))
    top = int(round((y1 + y2) / 2 - s / 2))
    crop = np.zeros((s, s, 3), np.uint8)
    h, w = image.shape[:2]
    sx1, sy1, sx2, sy2 = max(left, 0), max(top, 0), min(left + s, w), min(top + s, h)
    if sx2 > sx1 and sy2 > sy1:
        crop[sy1 - top : sy2 - top, sx1 - left : sx2 - left] = image[sy1:sy2, sx1:sx2]
    interpolation = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


# --- layout -------------------------------------------------------------------------------------


def _bgr_copy(frame: np.ndarray) -> np.ndarray:
    """A fresh contiguous BGR uint8 copy; grey and BGRA inputs are converted rather than rejected."""
    if frame.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return np.array(frame, copy=True, order="C")
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {frame.shape}")


def _visible(faces: Iterable[FaceResult], w: int, h: int) -> list[FaceResult]:
    """Faces whose box is finite and touches the frame (a prediction may drift off-screen)."""
    out = []
    for face in faces:
        x1, y1, x2, y2 = face.box
        if not all(math.isfinite(v) for v in face.box):
            log.debug("face %d has a non-finite box %s; not drawn", face.track_id, face.box)
        elif x2 > 0 and y2 > 0 and x1 < w and y1 < h and x2 > x1 and y2 > y1:
            out.append(face)
    return out


def _layout(face: FaceResult, unit: float, frame_w: int, selected: int | None) -> _Layout:
    x1, y1, x2, y2 = (int(round(v)) for v in face.box)
    bw, bh = x2 - x1, y2 - y1
    side = min(bw, bh)
    # Font: at least readable for the frame, at most a modest banner; in between it follows the face,
    # so a crowd of small faces gets compact labels and a close-up a bigger one.
    lo = max(_MIN_FONT, 0.6 * unit)
    hi = max(lo, 1.15 * unit)
    font_scale = min(max(side / 120.0, lo), hi)
    text_thickness = max(1, int(round(font_scale * 1.7)))
    # 2 px at least: a 1 px anti-aliased line never reaches its full colour and fades into the picture
    thickness = max(2, int(round(min(2.2 * unit, side / 35.0))))
    if face.track_id == selected:
        thickness = 2 * thickness + 1

    pct = int(round(face.confidence * 100))
    emotion = face.emotion or "?"
    text = f"#{face.track_id} {emotion} {pct}%" if face.emotion else f"#{face.track_id} ?"
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, text_thickness)
    if tw > frame_w and face.emotion:  # tiny frames: the abbreviation still names the emotion
        text = f"#{face.track_id} {emotion[:3]} {pct}%"
        (tw, th), base = cv2.getTextSize(text, FONT, font_scale, text_thickness)
    pad = max(2, int(round(th * 0.3)))
    label_size = (tw + 2 * pad, th + 2 * pad + max(base, int(th * 0.25)))

    n = len(face.smoothed)
    row_h = bar_pad = abbrev_w = 0
    abbrev_scale = 0.0
    bars_size = (0, 0)
    if n:
        # rows share the box height, within limits: never thinner than a visible stripe, never taller
        # than the label text (the bars are secondary to the label)
        row_min = max(4, int(round(7 * unit)))
        row_h = min(max(int(bh * 0.9 / n), row_min), max(row_min, int(th * 0.85)))
        if row_h >= 10:
            abbrev_scale = (row_h * 0.62) / _GLYPH_H
            abbrev_w = max(cv2.getTextSize(label[:3], FONT, abbrev_scale, 1)[0][0] for label in face.smoothed)
        bar_pad = max(1, row_h // 5)
        bar_len = max(12, int(round(row_h * 4.5)))
        gap = 2 * bar_pad if abbrev_w else 0
        bars_size = (2 * bar_pad + abbrev_w + gap + bar_len, n * row_h + 2 * bar_pad)
    return _Layout(
        face=face,
        box=(x1, y1, x2, y2),
        colour=emotion_bgr(face.emotion),
        thickness=thickness,
        font_scale=font_scale,
        text_thickness=text_thickness,
        text=text,
        text_h=th,
        label_size=label_size,
        pad=pad,
        bars_size=bars_size,
        row_h=row_h,
        bar_pad=bar_pad,
        abbrev_scale=abbrev_scale,
        abbrev_w=abbrev_w,
    )


def _grow(rect: Rect, thickness: int) -> Rect:
    """The area a box drawn with ``thickness`` covers (the stroke is centred on the box edge)."""
    d = thickness // 2 + 1
    x1, y1, x2, y2 = rect
    return x1 - d, y1 - d, x2 + d, y2 + d


def _label_candidates(lay: _Layout, outer: Rect, frame_w: int) -> list[Rect]:
    lw, lh = lay.label_size
    span = max(frame_w - lw, 0)
    left = min(max(outer[0], 0), span)  # flush with the box's left edge
    right = min(max(outer[2] - lw, 0), span)  # flush with its right edge: a wide label leans the other way
    above, below = outer[1] - lh, outer[3]
    inside = outer[1] + lay.thickness
    # preferred first: _place charges each step down this list a little
    spots = [(left, above), (right, above), (left, below), (right, below), (left, inside)]
    spots += [(left, above - lh), (left, below + lh), (left, above - 2 * lh), (left, below + 2 * lh)]
    return [(x, y, x + lw, y + lh) for x, y in spots]


def _bar_candidates(lay: _Layout, outer: Rect) -> list[Rect]:
    pw, ph = lay.bars_size
    gap = max(2, lay.thickness)
    right, left = outer[2] + gap, outer[0] - gap - pw
    top, bottom = outer[1], outer[3] - ph  # level with the box's top, or with its bottom
    return [(x, y, x + pw, y + ph) for y in (top, bottom) for x in (right, left)]


def _place(
    candidates: list[Rect], w: int, h: int, obstacles: Sequence[Rect], heavy: Sequence[Rect] = ()
) -> tuple[Rect, float]:
    """The cheapest candidate, each first shifted into the frame, and its weighted overlap.

    Cost: overlap with ``obstacles`` (face boxes, bars) plus four times the overlap with ``heavy`` (labels
    already placed: text on text is unreadable), plus a little per step down the list and per pixel a
    candidate had to be shifted to fit, so that a sliver of overlap does not send a rect far from its face.
    """
    shifted = [_clamp_rect(c, w, h) for c in candidates]
    # only rects near the candidates can overlap them; the rest are dropped once, not per candidate
    ux1, uy1 = min(c[0] for c in shifted), min(c[1] for c in shifted)
    ux2, uy2 = max(c[2] for c in shifted), max(c[3] for c in shifted)
    near = [(o, 1) for o in obstacles if o[0] < ux2 and o[2] > ux1 and o[1] < uy2 and o[3] > uy1]
    near += [(o, 4) for o in heavy if o[0] < ux2 and o[2] > ux1 and o[1] < uy2 and o[3] > uy1]
    best, best_cost, best_overlap = shifted[0], math.inf, 0.0
    for rank, (wanted, rect) in enumerate(zip(candidates, shifted)):
        rw = rect[2] - rect[0]
        moved = abs(rect[0] - wanted[0]) + abs(rect[1] - wanted[1])
        overlap = float(sum(k * _overlap(rect, o) for o, k in near))
        cost = 0.08 * _area(rect) * rank + 0.5 * moved * rw + overlap
        if cost < best_cost:  # strict: among equal costs the earlier, preferred spot wins
            best, best_cost, best_overlap = rect, cost, overlap
    return best, best_overlap


def _clamp_rect(rect: Rect, w: int, h: int) -> Rect:
    x1, y1, x2, y2 = rect
    dx = -x1 if x1 < 0 else min(0, w - x2)
    dy = -y1 if y1 < 0 else min(0, h - y2)
    # when the rect is bigger than the frame, keep its start visible (text reads from the left)
    dx = max(dx, -x1) if x2 - x1 > w else dx
    dy = max(dy, -y1) if y2 - y1 > h else dy
    return x1 + dx, y1 + dy, x2 + dx, y2 + dy


def _overlap(a: Rect, b: Rect) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _area(r: Rect) -> int:
    return max(0, r[2] - r[0]) * max(0, r[3] - r[1])


# --- drawing ------------------------------------------------------------------------------------


def _draw_box(image: np.ndarray, lay: _Layout, selected: int | None) -> None:
    x1, y1, x2, y2 = lay.box
    if not lay.face.tracked or lay.face.track_id == selected:
        cv2.rectangle(image, (x1, y1), (x2, y2), lay.colour, lay.thickness, cv2.LINE_AA)
        return
    # a predicted box is dashed: the tracker's guess, not something the detector saw (unless selected,
    # where the emphasis matters more)
    dash = max(4, 3 * lay.thickness)
    segments = []
    for (ax, ay), (bx, by) in (((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))):
        length = abs(bx - ax) + abs(by - ay)  # the sides are axis-aligned
        for start in range(0, length, 2 * dash):
            end = min(start + dash, length)
            p = (ax + (bx - ax) * start // length, ay + (by - ay) * start // length)
            q = (ax + (bx - ax) * end // length, ay + (by - ay) * end // length)
            segments.append(np.array([p, q], np.int32))
    cv2.polylines(image, segments, False, lay.colour, lay.thickness, cv2.LINE_AA)


def _draw_label(image: np.ndarray, lay: _Layout, rect: Rect) -> None:
    x1, y1, x2, y2 = rect
    cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), lay.colour, -1)
    origin = (x1 + lay.pad, y1 + lay.pad + lay.text_h)
    cv2.putText(image, lay.text, origin, FONT, lay.font_scale, _text_colour(lay.colour), lay.text_thickness, cv2.LINE_AA)


def _draw_bars(image: np.ndarray, lay: _Layout, rect: Rect) -> None:
    h, w = image.shape[:2]
    x1, y1, x2, y2 = rect
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    roi = image[cy1:cy2, cx1:cx2]
    # darken rather than fill, so the panel stays light on the picture but bars read on any background
    roi[:] = cv2.convertScaleAbs(roi, alpha=_PANEL_ALPHA)
    row_h, bpad = lay.row_h, lay.bar_pad
    bar_h = max(2, row_h - max(1, row_h // 4))
    bar_x = x1 + bpad + lay.abbrev_w + (2 * bpad if lay.abbrev_w else 0)
    bar_len = x2 - bpad - bar_x
    text_y = (row_h + int(_GLYPH_H * lay.abbrev_scale)) // 2  # baseline that centres the text in its row
    for k, (label, p) in enumerate(lay.face.smoothed.items()):
        top = y1 + bpad + k * row_h
        by1 = top + (row_h - bar_h) // 2
        if lay.abbrev_scale:
            cv2.putText(image, label[:3], (x1 + bpad, top + text_y), FONT, lay.abbrev_scale, _ABBREV_TEXT, 1, cv2.LINE_AA)
        # a thin track shows the full length, so a zero probability is still a visible row
        mid = by1 + bar_h // 2
        cv2.line(image, (bar_x, mid), (bar_x + bar_len - 1, mid), _BAR_TRACK, 1)
        filled = int(round(min(max(p, 0.0), 1.0) * bar_len))
        if filled > 0:
            cv2.rectangle(image, (bar_x, by1), (bar_x + filled - 1, by1 + bar_h - 1), emotion_bgr(label), -1)


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    """Dark text on light label colours (happiness yellow), white on dark ones (sadness blue)."""
    b, g, r = bg
    return _DARK_TEXT if 0.299 * r + 0.587 * g + 0.114 * b > 140 else _LIGHT_TEXT
