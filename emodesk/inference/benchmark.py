"""Speed of emotion models per face, as the live loop sees it (crop + preprocessing + inference).

Figures are medians over repeated runs after a warm-up; these machines are shared and noisy, so they are
printed for people to compare, never asserted in tests.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from emodesk.inference.base import EmotionClassifier
from emodesk.inference.types import Detection


@dataclass(frozen=True)
class ClassifierTiming:
    model_id: str
    providers: tuple[str, ...]
    ms_per_face: dict[int, float]  # batch size → median ms per face


def synthetic_faces(count: int, size: int = 640) -> tuple[np.ndarray, list[Detection]]:
    """A textured frame with ``count`` face-sized boxes and plausible keypoints (content does not matter)."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    side = size // 4
    detections = []
    for i in range(count):
        x, y = (i % 4) * side, (i // 4) % 4 * side
        pts = tuple(
            (x + fx * side, y + fy * side) for fx, fy in ((0.35, 0.4), (0.65, 0.4), (0.5, 0.55), (0.38, 0.72), (0.62, 0.72))
        )
        detections.append(Detection((x + 4.0, y + 4.0, x + side - 4.0, y + side - 4.0), 0.9, pts))
    return frame, detections


def time_classifier(classifier: EmotionClassifier, batches: tuple[int, ...] = (1, 8), repeats: int = 30) -> ClassifierTiming:
    result = {}
    for batch in batches:
        frame, detections = synthetic_faces(batch)
        for _ in range(3):
            classifier.classify(frame, detections)
        samples = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            classifier.classify(frame, detections)
            samples.append((time.perf_counter() - t0) * 1000.0 / batch)
        result[batch] = statistics.median(samples)
    return ClassifierTiming(classifier.spec.id, classifier.providers, result)
