"""Emotion classifier adapters; importing this package registers every family."""

from emodesk.inference.classifiers import generic, hsemotion, mini_xception, opencv_fer  # noqa: F401
from emodesk.inference.classifiers.crops import (
    align_five_points,
    crop_box,
    face_crop,
    face_crops,
)
from emodesk.inference.classifiers.generic import OnnxEmotionClassifier
from emodesk.inference.classifiers.normalize import InputSpec, to_tensor

__all__ = [
    "InputSpec",
    "OnnxEmotionClassifier",
    "align_five_points",
    "crop_box",
    "face_crop",
    "face_crops",
    "to_tensor",
]
