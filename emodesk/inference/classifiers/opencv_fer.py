"""OpenCV Zoo facial expression recognition (MobileFaceNet, RAF-DB, 7 classes).

Upstream preprocessing (opencv_zoo ``models/facial_expression_recognition/facial_fer_model.py``): similarity
alignment of the 5 keypoints to the ArcFace 112x112 template, BGR→RGB, ``(x/255 - 0.5) / 0.5``, NCHW.
The graph returns logits. The int8 graph has a fixed batch of 1, so faces run one by one.
"""

from __future__ import annotations

from types import MappingProxyType

from emodesk.inference.classifiers.generic import OnnxEmotionClassifier
from emodesk.inference.manifest import CLASSIFIER
from emodesk.inference.registry import register


@register(CLASSIFIER, "opencv_fer")
class OpenCVFerClassifier(OnnxEmotionClassifier):
    input_defaults = MappingProxyType(
        {
            "size": (112, 112),
            "crop": "align5",
            "color": "RGB",
            "scale": 1 / 255,
            "mean": 0.5,
            "std": 0.5,
            "layout": "NCHW",
            "output": "logits",
        }
    )
