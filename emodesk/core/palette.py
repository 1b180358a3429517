"""One colour per canonical emotion, shared by the overlays, the graphs and the reports.

Chosen to stay distinguishable on dark and light backgrounds and for the common colour-vision
deficiencies where possible (happiness and surprise differ in lightness as well as hue).
"""

from __future__ import annotations

EMOTION_RGB: dict[str, tuple[int, int, int]] = {
    "anger": (230, 57, 70),
    "contempt": (155, 89, 182),
    "disgust": (106, 153, 78),
    "fear": (236, 112, 200),
    "happiness": (255, 200, 40),
    "neutral": (170, 178, 189),
    "sadness": (52, 120, 230),
    "surprise": (255, 140, 0),
}
UNKNOWN_RGB = (255, 255, 255)


def emotion_rgb(label: str | None) -> tuple[int, int, int]:
    return EMOTION_RGB.get(label or "", UNKNOWN_RGB)


def emotion_bgr(label: str | None) -> tuple[int, int, int]:
    r, g, b = emotion_rgb(label)
    return b, g, r
