"""How an emotion model wants its input, and the one function that turns face crops into that tensor.

The manifest's ``input`` dict is parsed once into an :class:`InputSpec`; :func:`to_tensor` does the colour
conversion, scaling, mean/std and layout for every adapter and for the training code, so a model trained here
is fed at inference exactly as it was during training.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from emodesk.errors import ModelError

log = logging.getLogger(__name__)

CROPS = ("align5", "box", "box_margin", "box_square")
COLORS = ("RGB", "BGR", "GRAY")
LAYOUTS = ("NCHW", "NHWC")
OUTPUTS = ("logits", "probabilities")
BORDERS = ("constant", "replicate")
INTERPOLATIONS = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "cubic": cv2.INTER_CUBIC,
    "nearest": cv2.INTER_NEAREST,
}
_KNOWN_KEYS = {
    "size",
    "crop",
    "margin",
    "color",
    "scale",
    "mean",
    "std",
    "layout",
    "output",
    "output_name",  # read by EmotionClassifier itself
    "batch",
    "border",
    "interpolation",
}


@dataclass(frozen=True)
class InputSpec:
    """A classifier's input contract, parsed from a manifest ``input`` dict.

    ``size`` is (width, height). ``margin`` is (mx, my): the fraction of the box width (height) added on
    *each* side. ``border`` fills pixels outside the frame; by default ``constant`` (zeros) for ``align5``,
    which is what upstream's ``cv2.warpAffine`` does, and ``replicate`` for box crops, so that a face at the
    frame edge is not framed by a black bar the model never saw in training.
    """

    size: tuple[int, int]
    crop: str = "box"
    margin: tuple[float, float] = (0.0, 0.0)
    color: str = "RGB"
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = "NCHW"
    output: str = "logits"
    batch: int | None = None
    border: str = "replicate"
    interpolation: str = "linear"

    @property
    def channels(self) -> int:
        return 1 if self.color == "GRAY" else 3

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def cv2_interpolation(self) -> int:
        return INTERPOLATIONS[self.interpolation]

    def tensor_shape(self, n: int | str = "N") -> tuple[int | str, ...]:
        w, h = self.size
        c = self.channels
        return (n, c, h, w) if self.layout == "NCHW" else (n, h, w, c)

    @classmethod
    def coerce(cls, spec: InputSpec | Mapping[str, Any]) -> InputSpec:
        return spec if isinstance(spec, InputSpec) else cls.from_mapping(spec)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, model: str = "model") -> InputSpec:
        """Parse and check a manifest ``input`` dict; a bad value raises ModelError naming ``model``."""

        def bad(key: str, why: str) -> ModelError:
            return ModelError(f"{model}: manifest input {key!r} = {raw.get(key)!r} {why}")

        unknown = set(raw) - _KNOWN_KEYS
        if unknown:
            # a typo would silently fall back to a default, so say so; not fatal, the manifest may grow
            log.warning("%s: ignoring unknown manifest input keys %s", model, ", ".join(sorted(unknown)))

        size = raw.get("size")
        if size is None:
            raise ModelError(f"{model}: manifest input has no 'size'")
        if isinstance(size, (int, float)):
            size = (size, size)
        try:
            w, h = (int(v) for v in size)
        except (TypeError, ValueError):
            raise bad("size", "is not [width, height]") from None
        if w <= 0 or h <= 0:
            raise bad("size", "must be positive")

        crop = str(raw.get("crop") or "box")
        if crop not in CROPS:
            raise bad("crop", f"is not one of {', '.join(CROPS)}")
        margin_raw = raw.get("margin")
        if crop == "box_margin" and margin_raw is None:
            raise bad("margin", "is required by crop 'box_margin'")
        if margin_raw is None:
            margin_raw = (0.0, 0.0)
        if isinstance(margin_raw, (int, float)):
            margin_raw = (margin_raw, margin_raw)
        try:
            mx, my = (float(v) for v in margin_raw)
        except (TypeError, ValueError):
            raise bad("margin", "is not [mx, my]") from None
        if mx <= -0.5 or my <= -0.5:
            raise bad("margin", "would shrink the box to nothing")

        color = str(raw.get("color") or "RGB").upper()
        if color not in COLORS:
            raise bad("color", f"is not one of {', '.join(COLORS)}")
        channels = 1 if color == "GRAY" else 3

        def per_channel(key: str, default: float) -> tuple[float, ...]:
            value = raw.get(key, default)
            values = (value,) if isinstance(value, (int, float)) else tuple(value)
            try:
                out = tuple(float(v) for v in values)
            except (TypeError, ValueError):
                raise bad(key, "is not a number or a list of numbers") from None
            if len(out) not in (1, channels):
                raise bad(key, f"needs 1 or {channels} values for color {color}")
            return out

        mean = per_channel("mean", 0.0)
        std = per_channel("std", 1.0)
        if any(s == 0 for s in std):
            raise bad("std", "contains a zero")
        try:
            scale = float(raw.get("scale", 1.0))
        except (TypeError, ValueError):
            raise bad("scale", "is not a number") from None

        layout = str(raw.get("layout") or "NCHW").upper()
        if layout not in LAYOUTS:
            raise bad("layout", f"is not one of {', '.join(LAYOUTS)}")
        output = str(raw.get("output") or "logits")
        if output not in OUTPUTS:
            raise bad("output", f"is not one of {', '.join(OUTPUTS)}")
        batch = raw.get("batch")
        if batch is not None and (not isinstance(batch, int) or batch <= 0):
            raise bad("batch", "must be a positive integer or null")
        border = str(raw.get("border") or ("constant" if crop == "align5" else "replicate"))
        if border not in BORDERS:
            raise bad("border", f"is not one of {', '.join(BORDERS)}")
        interpolation = str(raw.get("interpolation") or "linear")
        if interpolation not in INTERPOLATIONS:
            raise bad("interpolation", f"is not one of {', '.join(INTERPOLATIONS)}")

        return cls(
            size=(w, h),
            crop=crop,
            margin=(mx, my),
            color=color,
            scale=scale,
            mean=mean,
            std=std,
            layout=layout,
            output=output,
            batch=batch,
            border=border,
            interpolation=interpolation,
        )


def to_tensor(crops: Sequence[np.ndarray] | np.ndarray, input_spec: InputSpec | Mapping[str, Any]) -> np.ndarray:
    """Face crops (BGR like the frames they came from, or grayscale) → the model's float32 input batch.

    ``crops`` is a list of HxW / HxWx1 / HxWx3 uint8 images, or one (N, H, W, C) array. Crops not already at
    the spec's size are resized (so FER2013's 48x48 images can feed a model of another size). Colour: BGR is
    converted to RGB or GRAY as the spec says; a grayscale crop fed to a colour model is repeated to 3 channels.
    Values: ``(x * scale - mean) / std``, per channel. Layout: NCHW or NHWC.
    """
    spec = InputSpec.coerce(input_spec)
    batch = _stack(crops, spec)
    n, h, w, c = batch.shape
    if c == 3 and spec.color == "RGB":
        batch = batch[..., ::-1]
    elif c == 3 and spec.color == "GRAY":
        # one cvtColor over the whole batch seen as one tall image
        flat = np.ascontiguousarray(batch).reshape(n * h, w, 3)
        batch = cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY).reshape(n, h, w, 1)
    elif c == 1 and spec.channels == 3:
        batch = np.repeat(batch, 3, axis=-1)

    if spec.layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(batch).astype(np.float32)
    # (x*scale - mean)/std folded into one multiply-add per channel
    std = np.asarray(spec.std, np.float64)
    gain = (spec.scale / std).astype(np.float32)
    offset = (-np.asarray(spec.mean, np.float64) / std).astype(np.float32)
    shape = (1, -1, 1, 1) if spec.layout == "NCHW" else (1, 1, 1, -1)
    x *= gain.reshape(shape)
    x += offset.reshape(shape)
    return x


def _stack(crops: Sequence[np.ndarray] | np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, H, W, C) at the spec's size, C being 1 or 3."""
    w, h = spec.size
    if isinstance(crops, np.ndarray):
        if crops.ndim != 4:
            raise ValueError(
                f"to_tensor takes a list of crops or an (N, H, W, C) array, not an array of shape {crops.shape}"
            )
        if crops.shape[1:3] == (h, w) and crops.shape[3] in (1, 3):
            return crops
        crops = list(crops)
    if len(crops) == 0:
        return np.zeros((0, h, w, spec.channels), np.uint8)
    out = []
    for crop in crops:
        if crop.ndim == 2:
            crop = crop[:, :, None]
        if crop.ndim != 3 or crop.shape[2] not in (1, 3) or crop.shape[0] == 0 or crop.shape[1] == 0:
            raise ValueError(f"a face crop must be HxW, HxWx1 or HxWx3 and non-empty, not {crop.shape}")
        if crop.shape[:2] != (h, w):
            channels = crop.shape[2]
            crop = cv2.resize(crop, (w, h), interpolation=spec.cv2_interpolation)
            if channels == 1:
                crop = crop[:, :, None]  # cv2 drops a single channel axis
        out.append(crop)
    channels = {c.shape[2] for c in out}
    if len(channels) > 1:
        raise ValueError("face crops in one batch mix grayscale and colour")
    return np.stack(out)
