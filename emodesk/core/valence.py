"""Valence: how positive or negative an expression is, in [-1, 1].

FaceReader's definition: the intensity of happiness minus the intensity of the strongest negative
emotion (anger, disgust, fear, sadness). Contempt, surprise and neutral do not enter it (FaceReader
leaves them out too: surprise can be either, contempt is not in its negative set). emodesk applies it to
the calibrated probabilities of a face-frame when the face has a baseline (core/baseline.py), else to its
smoothed probabilities; which one was used is recorded beside the value.
"""

from __future__ import annotations

from collections.abc import Mapping

POSITIVE = "happiness"
NEGATIVE = ("anger", "disgust", "fear", "sadness")


def valence(probs: Mapping[str, float]) -> float | None:
    """``happiness - max(anger, disgust, fear, sadness)`` from the labels present, clipped to [-1, 1].

    None when the model predicts no happiness or none of the negative labels (no valence can be read).
    """
    negatives = [probs[label] for label in NEGATIVE if label in probs]
    if POSITIVE not in probs or not negatives:
        return None
    return min(1.0, max(-1.0, probs[POSITIVE] - max(negatives)))
