"""HSEmotion / EmotiEffLib EfficientNet models (AffectNet, 8 or 7 classes).

Upstream preprocessing (hsemotion-onnx ``facial_emotions.py``, EmotiEffLib ``facial_analysis.py``): the
detector's face box cut from the RGB frame with no margin, ``cv2.resize`` to 224 (``enet_b0_*``) or 260
(``enet_b2_*``), ``x/255`` then ImageNet mean/std, NCHW. The graph returns logits; its batch is dynamic.
The manifest gives the size per model; ``mbf_*`` models would set 112 and mean/std 0.5 there.
"""

from __future__ import annotations

from types import MappingProxyType

from emodesk.inference.classifiers.generic import OnnxEmotionClassifier
from emodesk.inference.manifest import CLASSIFIER
from emodesk.inference.registry import register


@register(CLASSIFIER, "hsemotion")
class HSEmotionClassifier(OnnxEmotionClassifier):
    input_defaults = MappingProxyType(
        {
            "size": (224, 224),
            "crop": "box",
            "color": "RGB",
            "scale": 1 / 255,
            "mean": (0.485, 0.456, 0.406),
            "std": (0.229, 0.224, 0.225),
            "layout": "NCHW",
            "output": "logits",
        }
    )
