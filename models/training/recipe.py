"""What the emodesk FER model is fed, shared by training, the manifest entry and the tests (no torch here).

FER2013 images are 48x48 grey, loosely framed faces. Measured on 600 fer2013/val images (upscaled and
padded so a detector could see them), YuNet's box is 0.81 of the image wide and 1.00 high, centred: a
FER2013 image is the square of the box's longer side. So the app crops ``box_square`` with no margin, and
training feeds the images as they are. Both go through ``emodesk.inference.classifiers.to_tensor``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from emodesk.inference.classifiers.normalize import to_tensor

MODEL_ID = "emodesk_fer"
LABELS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
INPUT_SPEC: dict = {
    "size": [48, 48],
    "crop": "box_square",
    "margin": [0.0, 0.0],
    "color": "GRAY",
    "scale": 1 / 255,
    "mean": [0.5],
    "std": [0.5],
    "layout": "NCHW",
    "output": "logits",
}


def read_split(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A FER2013-layout split (``labels.csv`` with ``path,label``) as uint8 images (N, 48, 48) and label ids."""
    rows = list(csv.DictReader((folder / "labels.csv").open(encoding="utf-8")))
    images = np.empty((len(rows), 48, 48), np.uint8)
    labels = np.empty(len(rows), np.int64)
    paths = []
    for i, row in enumerate(rows):
        image = cv2.imdecode(np.fromfile(str(folder / row["path"]), np.uint8), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise ValueError(f"{folder / row['path']}: not an image")
        if image.shape != (48, 48):
            image = cv2.resize(image, (48, 48), interpolation=cv2.INTER_AREA)
        images[i] = image
        labels[i] = LABELS.index(row["label"])
        paths.append(row["path"])
    return images, labels, paths


def preprocess(images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """The model input for whole-image face crops: exactly what the app's adapter computes."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[..., None]  # (N, H, W) grey → (N, H, W, 1), the layout to_tensor takes
    return to_tensor(images, INPUT_SPEC)


def macro_recall(y: np.ndarray, pred: np.ndarray, classes: int) -> float:
    """Balanced accuracy: the mean recall over the classes present in ``y``."""
    return float(np.mean([np.mean(pred[y == c] == c) for c in range(classes) if np.any(y == c)]))


def onnx_logits(path: Path, x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits of an exported model on ``x``, run by onnxruntime on the CPU as the app runs it."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input": x[i : i + batch]})[0] for i in range(0, len(x), batch)])
