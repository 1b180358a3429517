"""SCRFD face detectors (InsightFace ``det_500m`` / ``det_2.5g`` / ``det_10g``) with 5 keypoints."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from emodesk.errors import ModelError
from emodesk.inference.detectors.common import LetterboxDetector
from emodesk.inference.registry import register

log = logging.getLogger(__name__)

# number of graph outputs → (strides, has keypoints); the layout InsightFace's scrfd.py accepts
_LAYOUTS: dict[int, tuple[tuple[int, ...], bool]] = {
    6: ((8, 16, 32), False),
    9: ((8, 16, 32), True),
    10: ((8, 16, 32, 64, 128), False),
    15: ((8, 16, 32, 64, 128), True),
}


@register("face_detector", "scrfd")
class ScrfdDetector(LetterboxDetector):
    """Letterboxes the frame into ``input_size`` and decodes the anchor-free SCRFD heads.

    Outputs come in a fixed order: scores per stride, then box distances per stride, then keypoint
    offsets per stride, each with ``anchors`` rows per feature-map cell.
    """

    default_mean = 127.5
    default_std = 128.0
    default_color = "RGB"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        layout = _LAYOUTS.get(len(self.output_names))
        if layout is None:
            raise ModelError(f"{self.path}: {len(self.output_names)} outputs; an SCRFD graph has 6, 9, 10 or 15")
        self.strides, self.has_kps = layout

    def _decode(
        self, outputs: list[np.ndarray], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Candidates above the threshold, in input-canvas pixels."""
        n = len(self.strides)
        all_boxes: list[np.ndarray] = []
        all_scores: list[np.ndarray] = []
        all_kps: list[np.ndarray] = []
        for i, stride in enumerate(self.strides):
            scores = np.asarray(outputs[i]).reshape(-1)  # some exports add a leading batch dim of 1
            cols = -(-width // stride)
            cells = cols * -(-height // stride)
            anchors, rest = divmod(scores.size, cells)
            if rest or anchors == 0:
                raise ModelError(f"{self.path}: stride {stride} gives {scores.size} scores for {cells} cells")
            # index arithmetic on the few candidates instead of a full anchor grid per frame
            idx = np.flatnonzero(scores >= self.threshold)
            if idx.size == 0:
                continue
            cell = idx // anchors
            centres = np.stack([cell % cols, cell // cols], axis=1).astype(np.float32) * stride
            dist = np.asarray(outputs[i + n]).reshape(-1, 4)[idx] * stride
            all_boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
            all_scores.append(scores[idx])
            if self.has_kps:
                offsets = np.asarray(outputs[i + 2 * n]).reshape(-1, 5, 2)[idx]
                all_kps.append(centres[:, None, :] + offsets * stride)
        if not all_scores:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), None
        kps = np.concatenate(all_kps) if self.has_kps else None
        return np.concatenate(all_boxes), np.concatenate(all_scores), kps
