"""YuNet face detectors (libfacedetection YuNet-n dynamic, OpenCV Zoo YuNet-s 640x640) with 5 keypoints."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from emodesk.errors import ModelError
from emodesk.inference.detectors.common import LetterboxDetector
from emodesk.inference.registry import register

log = logging.getLogger(__name__)

_HEADS = ("cls", "obj", "bbox", "kps")
_DEFAULT_STRIDES = (8, 16, 32)


@register("face_detector", "yunet")
class YunetDetector(LetterboxDetector):
    """Runs YuNet on the frame at native size (downscaled only to fit ``input_size``), as OpenCV does.

    A graph with a fixed input (``spec.input["fixed_size"]``) gets the frame letterboxed into exactly
    that size instead.
    """

    default_mean = 0.0
    default_std = 1.0
    default_color = "BGR"
    # YuNet is trained at native scale: never upscale; a dynamic graph only needs padding to 32
    upscale = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strides, self.heads = self._map_outputs()

    def _map_outputs(self) -> tuple[tuple[int, ...], dict[tuple[str, int], int]]:
        """Output index of each (head, stride); by name (``cls_8``, …), else in the upstream order."""
        names = self.output_names
        by_name: dict[tuple[str, int], int] = {}
        for index, name in enumerate(names):
            head, _, stride = name.rpartition("_")
            if head in _HEADS and stride.isdigit():
                by_name[(head, int(stride))] = index
        strides = tuple(sorted({s for _, s in by_name}))
        if strides and all((h, s) in by_name for h in _HEADS for s in strides):
            return strides, by_name
        if len(names) != len(_HEADS) * len(_DEFAULT_STRIDES):
            raise ModelError(f"{self.path}: outputs {names} are not YuNet's cls/obj/bbox/kps per stride")
        positional = {
            (h, s): hi * len(_DEFAULT_STRIDES) + si for hi, h in enumerate(_HEADS) for si, s in enumerate(_DEFAULT_STRIDES)
        }
        return _DEFAULT_STRIDES, positional

    def _decode(
        self, outputs: list[np.ndarray], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates above the threshold, in input-canvas pixels (decoding as OpenCV's FaceDetectorYN)."""
        all_boxes: list[np.ndarray] = []
        all_scores: list[np.ndarray] = []
        all_kps: list[np.ndarray] = []
        for stride in self.strides:
            cls = np.asarray(outputs[self.heads[("cls", stride)]]).reshape(-1)
            obj = np.asarray(outputs[self.heads[("obj", stride)]]).reshape(-1)
            cols = width // stride
            if cls.size != cols * (height // stride):
                raise ModelError(f"{self.path}: stride {stride} gives {cls.size} rows for a {width}x{height} input")
            scores = np.sqrt(np.clip(cls, 0.0, 1.0) * np.clip(obj, 0.0, 1.0))
            # index arithmetic on the few candidates instead of a full anchor grid per frame
            idx = np.flatnonzero(scores >= self.threshold)
            if idx.size == 0:
                continue
            cells = np.stack([idx % cols, idx // cols], axis=1).astype(np.float32)  # (c, r)
            bbox = np.asarray(outputs[self.heads[("bbox", stride)]]).reshape(-1, 4)[idx]
            centre = (cells + bbox[:, :2]) * stride
            half = np.exp(bbox[:, 2:]) * (stride / 2.0)
            all_boxes.append(np.concatenate([centre - half, centre + half], axis=1))
            all_scores.append(scores[idx])
            offsets = np.asarray(outputs[self.heads[("kps", stride)]]).reshape(-1, 5, 2)[idx]
            all_kps.append((offsets + cells[:, None, :]) * stride)
        if not all_scores:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)
