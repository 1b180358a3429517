"""Plain result types of the inference layer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: this module stays a leaf that every other one may import
    from emodesk.inference.providers import RuntimeOptions

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One face found in a frame, in that frame's pixel coordinates.

    ``landmarks`` are 5 points in image order (ArcFace order): image-left eye, image-right eye, nose,
    image-left mouth corner, image-right mouth corner. ``None`` when the detector gives none.
    """

    box: Box  # x1, y1, x2, y2
    score: float
    landmarks: tuple[Point, ...] | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class ModelInfo:
    """What the session file records about a loaded model (every field goes into ``models[]``)."""

    id: str
    kind: str
    file: str
    path: str
    sha256: str
    licence: str
    commercial_use: bool
    providers: tuple[str, ...]
    runtime: RuntimeOptions | None = None  # onnxruntime threading (intra/inter-op threads, spinning)
    # emotion models: the softmax temperature applied to every probability (manifest, fitted by
    # `emodesk models calibrate`); None = not calibrated, i.e. 1
    temperature: float | None = None
