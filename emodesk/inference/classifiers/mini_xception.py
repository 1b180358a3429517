"""mini-Xception trained on FER2013 (oarriaga/face_classification), 7 classes.

Upstream preprocessing (``src/video_emotion_color_demo.py``, ``src/utils/preprocessor.py`` v2): the face box
grown by a margin (upstream: 20 px / 40 px on ~200 px Haar boxes, i.e. about 10 % / 20 % per side), grayscale,
64x64, ``(x/255 - 0.5) * 2``, NHWC. The graph already ends in a softmax; its batch is dynamic.
"""

from __future__ import annotations

from types import MappingProxyType

from emodesk.inference.classifiers.generic import OnnxEmotionClassifier
from emodesk.inference.manifest import CLASSIFIER
from emodesk.inference.registry import register


@register(CLASSIFIER, "mini_xception")
class MiniXceptionClassifier(OnnxEmotionClassifier):
    input_defaults = MappingProxyType(
        {
            "size": (64, 64),
            "crop": "box_margin",
            "margin": (0.1, 0.2),
            "color": "GRAY",
            "scale": 1 / 255,
            "mean": 0.5,
            "std": 0.5,
            "layout": "NHWC",
            "output": "probabilities",
        }
    )
