"""Face-crop geometry shared by every emotion adapter and by the training code.

Pure numpy/OpenCV functions: the same crop at training and at inference time is what keeps a model honest.
Frames are HxWx3 BGR uint8 (HxW grayscale also works); boxes are (x1, y1, x2, y2) in frame pixels.

Degenerate boxes (zero or negative width or height, or non-finite coordinates) raise ``ValueError``: a crop of
nothing would still yield confident-looking probabilities, so the caller is told instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from emodesk.inference.classifiers.normalize import InputSpec
from emodesk.inference.types import Box, Detection, Point

# ArcFace / InsightFace 112x112 alignment template, in ArcFace point order (image-left eye first)
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# An align5 model given a detection without keypoints sees a square of side max(w, h), raised by this
# fraction of the box height. Measured with YuNet-n on the test photos: the aligned 112x112 crop is about
# 1.05 box heights wide and centred 6-12 % of the height above the box centre; raising the square by 6 %
# gave the same top class as alignment on 7 of 7 faces (no raise: 6 of 7).
ALIGN5_FALLBACK_RAISE = 0.06

_BORDERS = {"constant": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the least-squares non-reflective similarity mapping ``src`` points onto ``dst``.

    This is the fit opencv_zoo's FaceAlignment (and skimage's SimilarityTransform) does: every point counts.
    ``cv2.estimateAffinePartial2D`` gives the same matrix when all five points are RANSAC inliers, but on a
    turned face it may drop a point, which upstream never does.
    """
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    if len(src) != len(dst) or len(src) < 2:
        raise ValueError(f"need matching point sets of at least 2 points, got {len(src)} and {len(dst)}")
    x, y = src[:, 0], src[:, 1]
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    # u = a*x - b*y + tx ; v = b*x + a*y + ty
    a_mat = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    rhs = np.concatenate([dst[:, 0], dst[:, 1]])
    (a, b, tx, ty), *_ = np.linalg.lstsq(a_mat, rhs, rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)


def arcface_template(size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """The ArcFace 5-point template scaled from 112x112 to ``size`` (width, height)."""
    w, h = size
    return ARCFACE_112 * np.array([w / 112.0, h / 112.0])


def align_five_points(
    frame: np.ndarray,
    landmarks: Sequence[Point] | np.ndarray,
    size: tuple[int, int] = (112, 112),
    *,
    border: str = "constant",
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Warp the face so its 5 keypoints (ArcFace order) land on the ArcFace template scaled to ``size``.

    Pixels from outside the frame are zeros by default, as with upstream's plain ``cv2.warpAffine``.
    """
    points = np.asarray(landmarks, np.float64)
    if points.shape != (5, 2):
        raise ValueError(f"align_five_points needs 5 (x, y) keypoints, got an array of shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("align_five_points got non-finite keypoints")
    matrix = similarity_transform(points, arcface_template(size))
    return cv2.warpAffine(frame, matrix, (int(size[0]), int(size[1])), flags=interpolation, borderMode=_BORDERS[border])


def expand_box(box: Box | Sequence[float], margin: tuple[float, float] = (0.0, 0.0), square: bool = False) -> Box:
    """The box grown by ``margin`` (fractions of its width, height) on each side, then squared if asked.

    Squaring keeps the centre and takes the longer side, so the face stays centred.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or w <= 0 or h <= 0:
        raise ValueError(f"face box {tuple(box)} has no area (need x2 > x1 and y2 > y1, all finite)")
    mx, my = margin
    x1, x2 = x1 - mx * w, x2 + mx * w
    y1, y2 = y1 - my * h, y2 + my * h
    if square:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half = max(x2 - x1, y2 - y1) / 2
        x1, y1, x2, y2 = cx - half, cy - half, cx + half, cy + half
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"margin {margin} leaves nothing of face box {tuple(box)}")
    return (x1, y1, x2, y2)


def align5_fallback_box(box: Box | Sequence[float]) -> Box:
    """The square box an align5 model is fed when keypoints are missing (see ``ALIGN5_FALLBACK_RAISE``)."""
    x1, y1, x2, y2 = expand_box(box, square=True)
    shift = ALIGN5_FALLBACK_RAISE * (float(box[3]) - float(box[1]))
    return (x1, y1 - shift, x2, y2 - shift)


def crop_box(
    frame: np.ndarray,
    box: Box | Sequence[float],
    margin: tuple[float, float] = (0.0, 0.0),
    square: bool = False,
    *,
    border: str = "replicate",
) -> np.ndarray:
    """The pixels of the (expanded) box. Parts outside the frame are padded, never shifted in.

    ``border`` is ``replicate`` (edge pixels) or ``constant`` (zeros). The crop is at least 1x1 pixel; where it
    lies wholly inside the frame it is a view of ``frame``, not a copy.
    """
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {', '.join(_BORDERS)}, not {border!r}")
    fh, fw = frame.shape[:2]
    if fh == 0 or fw == 0:
        raise ValueError(f"cannot crop from an empty frame of shape {frame.shape}")
    x1, y1, x2, y2 = expand_box(box, margin, square)
    # nearest pixel edges; a sub-pixel box still yields one pixel
    ix1, iy1 = math.floor(x1 + 0.5), math.floor(y1 + 0.5)
    ix2, iy2 = max(ix1 + 1, math.floor(x2 + 0.5)), max(iy1 + 1, math.floor(y2 + 0.5))
    if ix1 >= 0 and iy1 >= 0 and ix2 <= fw and iy2 <= fh:
        return frame[iy1:iy2, ix1:ix2]
    if border == "replicate":
        rows = np.clip(np.arange(iy1, iy2), 0, fh - 1)
        cols = np.clip(np.arange(ix1, ix2), 0, fw - 1)
        return frame[rows[:, None], cols[None, :]]
    out = np.zeros((iy2 - iy1, ix2 - ix1, *frame.shape[2:]), frame.dtype)
    sx1, sy1, sx2, sy2 = max(ix1, 0), max(iy1, 0), min(ix2, fw), min(iy2, fh)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - iy1 : sy2 - iy1, sx1 - ix1 : sx2 - ix1] = frame[sy1:sy2, sx1:sx2]
    return out


def resize_crop(crop: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``crop`` resized to ``size`` (width, height), keeping a channel axis if it had one."""
    w, h = int(size[0]), int(size[1])
    if crop.shape[:2] == (h, w):
        return crop
    out = cv2.resize(crop, (w, h), interpolation=interpolation)
    if crop.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def face_crop(frame: np.ndarray, detection: Detection, spec: InputSpec) -> np.ndarray:
    """One face cut out as ``spec`` says, at ``spec.size``, still in the frame's colour order (uint8).

    ``align5`` without keypoints falls back to a square box crop (see :func:`align5_fallback_box`).
    """
    if spec.crop == "align5":
        if detection.landmarks is not None:
            return align_five_points(
                frame, detection.landmarks, spec.size, border=spec.border, interpolation=spec.cv2_interpolation
            )
        crop = crop_box(frame, align5_fallback_box(detection.box), border=spec.border)
    else:
        crop = crop_box(frame, detection.box, spec.margin, square=spec.crop == "box_square", border=spec.border)
    return resize_crop(crop, spec.size, spec.cv2_interpolation)


def face_crops(frame: np.ndarray, detections: Sequence[Detection], spec: InputSpec) -> np.ndarray:
    """(N, H, W, C) uint8 batch of :func:`face_crop` for every detection, in order."""
    w, h = spec.size
    channels = frame.shape[2] if frame.ndim == 3 else 1
    out = np.empty((len(detections), h, w, channels), frame.dtype)
    for i, det in enumerate(detections):
        crop = face_crop(frame, det, spec)
        out[i] = crop if crop.ndim == 3 else crop[:, :, None]
    return out
