"""Accuracy of an emotion model on a labelled image folder: the engine behind ``emodesk eval``.

A labelled folder has a ``labels.csv`` with columns ``path,label`` (paths relative to the CSV's folder, labels
canonical names or their aliases), as ``fer2013/val`` and ``jaffe`` in the shared data do.

Two ways to feed the model:

``whole``
    every image *is* the face crop (FER2013 style): it is resized to the model's input and normalised by
    :func:`~emodesk.inference.classifiers.normalize.to_tensor`; no detector, no alignment.
``detect``
    the detector finds the face first and the classifier crops it as it would in a video (alignment and
    margins included). Images with no face found are *misses*: listed under ``no_face``, counted in ``n``
    and in each class's support and always counted wrong, but they have no cell in the (square) confusion
    matrix, so a confusion row sums to the class's support minus its misses.

Images that cannot be read (missing, empty, not an image) are listed under ``unreadable`` and left out of
``n`` entirely. Labels in the data that the model cannot predict (``contempt`` for a 7-class model) keep
their confusion row and count in the macro averages with recall 0; they are listed in
``unpredictable_labels``.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from emodesk.atomic import json_dumps
from emodesk.core.eval_metrics import (
    Calibration,
    Metrics,
    calibration,
    metrics,
    softmax_t,
)
from emodesk.core.sources import read_image
from emodesk.errors import EmodeskError, ModelError, SourceError
from emodesk.inference.base import EmotionClassifier, FaceDetector
from emodesk.inference.classifiers.normalize import to_tensor
from emodesk.inference.labels import CANONICAL_LABELS, canonical_label
from emodesk.inference.loader import load_classifier, load_detector

log = logging.getLogger(__name__)

CROP_MODES = ("whole", "detect")
LABELS_FILE = "labels.csv"
# YuNet never upscales, so tiny face crops (FER2013's 48x48) are enlarged to this short side before
# detection. Measured on the 3,543 fer2013/val images with YuNet: raw 86.9 % found, enlarged 95.8 %,
# enlarged and framed with a 25 % black border 94.0 %: no border.
MIN_DETECT_SIDE = 128

Progress = Callable[[int, int], None]  # (images done, images listed)


class LabelsFileError(EmodeskError):
    """The labels CSV is malformed (bad header, unknown label, duplicate path): a usage error, exit 2."""


@dataclass(frozen=True)
class LabelledImage:
    line: int  # line number in the CSV (1 = header)
    name: str  # the path as written in the CSV
    path: Path  # resolved against the CSV's folder
    label: str  # canonical


@dataclass(frozen=True)
class Prediction:
    path: str  # as written in the CSV
    label: str
    predicted: str | None  # None: no face found (detect mode)
    confidence: float | None


@dataclass(frozen=True)
class EvalReport:
    """The result of :func:`evaluate`; ``to_json()`` is what ``emodesk eval --out`` writes."""

    model: str
    sha256: str
    providers: tuple[str, ...]
    model_labels: tuple[str, ...]
    detector: str | None
    detector_sha256: str | None
    crop: str
    folder: str
    labels_csv: str
    metrics: Metrics
    unpredictable_labels: tuple[str, ...]  # in the data, but the model has no such output
    labels_not_in_data: tuple[str, ...]  # the model predicts them, the data has none
    no_face: tuple[str, ...]  # detect mode: images where no face was found (counted wrong)
    unreadable: Mapping[str, str]  # path as in the CSV → why; not in n
    predictions: tuple[Prediction, ...]
    timing: Mapping[str, float] = field(default_factory=dict)
    # the temperature the probabilities were computed with (None: T = 1, uncalibrated or never fitted)
    temperature: float | None = None
    # ECE/NLL/Brier over the images that got a prediction and whose label the model has; None if none did
    calibration: Calibration | None = None
    # raw logits (model label order) and true label index of those images: what `models calibrate` fits on
    logits: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), repr=False, compare=False)
    true_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)

    # the headline numbers, so that callers need not know about ``metrics``
    @property
    def n(self) -> int:
        return self.metrics.n

    @property
    def accuracy(self) -> float:
        return self.metrics.accuracy

    @property
    def balanced_accuracy(self) -> float:
        return self.metrics.balanced_accuracy

    @property
    def macro_f1(self) -> float:
        return self.metrics.macro_f1

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metrics.labels

    @property
    def confusion(self) -> tuple[tuple[int, ...], ...]:
        return self.metrics.confusion

    @property
    def misses(self) -> int:
        return len(self.no_face)

    def to_dict(self) -> dict[str, Any]:
        m = self.metrics
        c = self.calibration
        return {
            "model": self.model,
            "sha256": self.sha256,
            "providers": list(self.providers),
            "model_labels": list(self.model_labels),
            "detector": self.detector,
            "detector_sha256": self.detector_sha256,
            "crop": self.crop,
            "folder": self.folder,
            "labels_csv": self.labels_csv,
            "n": m.n,
            "accuracy": m.accuracy,
            "balanced_accuracy": m.balanced_accuracy,
            "macro_f1": m.macro_f1,
            "ece": c.ece if c else None,
            "nll": c.nll if c else None,
            "brier": c.brier if c else None,
            "temperature": self.temperature,
            "calibration": c.to_dict() if c else None,
            "labels": list(m.labels),
            "per_class": {label: c.to_dict() for label, c in m.per_class.items()},
            "confusion": [list(row) for row in m.confusion],
            "misses_per_class": dict(zip(m.labels, m.misses)),
            "unpredictable_labels": list(self.unpredictable_labels),
            "labels_not_in_data": list(self.labels_not_in_data),
            "misses": self.misses,
            "no_face": list(self.no_face),
            "unreadable": list(self.unreadable),
            "unreadable_reasons": dict(self.unreadable),
            "timing": dict(self.timing),
            "predictions": [
                {"path": p.path, "label": p.label, "predicted": p.predicted, "confidence": p.confidence}
                for p in self.predictions
            ],
        }

    def to_json(self) -> str:
        return json_dumps(self.to_dict(), indent=2) + "\n"


def read_labels(csv_path: Path) -> list[LabelledImage]:
    """The rows of a ``path,label`` CSV. A missing file is a SourceError; a malformed one a LabelsFileError."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        what = "is a folder, not a labels file" if csv_path.is_dir() else "no such labels file"
        raise SourceError(f"{csv_path}: {what} (a CSV with columns path,label)")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError as exc:
        raise LabelsFileError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SourceError(f"{csv_path}: cannot read ({exc.strerror or exc})") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    columns = [c.strip().lower() for c in header or ()]
    if "path" not in columns or "label" not in columns:
        raise LabelsFileError(f"{csv_path} line 1: the header must name the columns path,label (got {header})")
    ip, il = columns.index("path"), columns.index("label")
    base = csv_path.parent
    rows: list[LabelledImage] = []
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if not record or all(not c.strip() for c in record):
            continue  # blank lines are harmless
        if len(record) <= max(ip, il):
            raise LabelsFileError(f"{csv_path} line {line}: expected the columns path,label, got {record}")
        name, raw_label = record[ip].strip(), record[il].strip()
        if not name:
            raise LabelsFileError(f"{csv_path} line {line}: empty path")
        try:
            label = canonical_label(raw_label)
        except ValueError as exc:
            raise LabelsFileError(f"{csv_path} line {line}: {exc}") from None
        path = base / name
        key = os.path.normcase(os.path.normpath(str(path)))
        if key in seen:
            # a repeated row would count one image twice and skew every metric
            raise LabelsFileError(f"{csv_path} line {line}: {name} is already listed on line {seen[key]}")
        seen[key] = line
        rows.append(LabelledImage(line=line, name=name, path=path, label=label))
    if not rows:
        raise SourceError(f"{csv_path}: lists no images")
    return rows


def detection_frame(image: np.ndarray) -> np.ndarray:
    """``image`` as the detector should see it: small face crops enlarged (see MIN_DETECT_SIDE)."""
    h, w = image.shape[:2]
    short = min(h, w)
    if short >= MIN_DETECT_SIDE:
        return image
    scale = MIN_DETECT_SIDE / short
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)


def evaluate(
    folder: Path | str,
    labels_csv: Path | str | None = None,
    emotion: str | EmotionClassifier | None = None,
    detector: str | FaceDetector | None = None,
    crop: str = "whole",
    device: str = "auto",
    batch: int = 64,
    progress: Progress | None = None,
    calibrated: bool = True,
) -> EvalReport:
    """Run ``emotion`` (id, loaded classifier, or the manifest default) over a labelled folder.

    Probabilities (confidences, ECE, NLL, Brier) are the app's: ``softmax(logits / T)`` with the model's
    temperature from the manifest; ``calibrated=False`` measures the raw model (T = 1) instead.

    ``detector`` is used only with ``crop="detect"`` (default: the manifest's, at its default threshold).
    ``batch`` images are classified per call (the classifier splits further if its graph needs it).
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {', '.join(CROP_MODES)}, not {crop!r}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "no such folder"
        raise SourceError(f"{folder}: {what}")
    csv_path = Path(labels_csv) if labels_csv is not None else folder / LABELS_FILE
    rows = read_labels(csv_path)

    classifier = emotion if isinstance(emotion, EmotionClassifier) else load_classifier(emotion, device=device)
    det: FaceDetector | None = None
    if crop == "detect":
        det = detector if isinstance(detector, FaceDetector) else load_detector(detector, device=device)
    elif detector is not None:
        log.warning("crop 'whole' uses no detector; ignoring detector %s", getattr(detector, "spec", detector))
    spec = getattr(classifier, "input_spec", None)
    if crop == "whole" and spec is None:
        raise ModelError(f"model {classifier.spec.id!r} has no input description; use crop 'detect'")

    unreadable: dict[str, str] = {}
    no_face: list[str] = []
    outcome: dict[int, tuple[str | None, float | None]] = {}  # row index → (prediction, confidence)
    row_logits: dict[int, np.ndarray] = {}  # row index → raw logits in the model's label order
    row_probs: dict[int, np.ndarray] = {}  # row index → the probabilities the app would show
    temperature = classifier.temperature if calibrated else None
    pending: list[tuple[int, np.ndarray]] = []
    times = {"read": 0.0, "detect": 0.0, "preprocess": 0.0, "classify": 0.0}

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        logits = classifier.logits(np.concatenate([x for _, x in pending], axis=0))
        # the adapter's own temperature step, so eval measures exactly what the app shows
        probs = classifier.probabilities(logits) if calibrated else softmax_t(logits).astype(np.float32)
        times["classify"] += time.perf_counter() - t0
        best = probs.argmax(axis=1)
        for (i, _), b, row, z in zip(pending, best, probs, logits):
            outcome[i] = (classifier.labels[int(b)], float(row[b]))
            row_logits[i] = z
            row_probs[i] = row
        pending.clear()

    start = time.perf_counter()
    for i, item in enumerate(rows):
        t0 = time.perf_counter()
        try:
            image = read_image(item.path)
        except SourceError as exc:
            reason = str(exc).removeprefix(f"{item.path}: ")
            log.info("%s (line %d): %s", item.name, item.line, reason)
            unreadable[item.name] = reason
            image = None
        t1 = time.perf_counter()
        times["read"] += t1 - t0
        if image is not None:
            if det is None:
                pending.append((i, to_tensor([image], spec)))  # resizes and converts colour
                times["preprocess"] += time.perf_counter() - t1
            else:
                frame = detection_frame(image)
                faces = det.detect(frame)
                t2 = time.perf_counter()
                times["detect"] += t2 - t1
                if faces:
                    face = max(faces, key=lambda d: d.score)
                    pending.append((i, classifier.preprocess(frame, [face])))
                    times["preprocess"] += time.perf_counter() - t2
                else:
                    log.info("%s: no face found", item.name)
                    no_face.append(item.name)
                    outcome[i] = (None, None)
            if len(pending) >= batch:
                flush()
        if progress is not None:
            progress(i + 1, len(rows))
    flush()
    wall = time.perf_counter() - start

    read_rows = [i for i in range(len(rows)) if rows[i].name not in unreadable]
    if not read_rows:
        raise SourceError(f"{csv_path}: none of the {len(rows)} listed images could be read")
    data_labels = {rows[i].label for i in read_rows}
    model_labels = tuple(classifier.labels)
    labels = tuple(lab for lab in CANONICAL_LABELS if lab in data_labels or lab in model_labels)
    m = metrics([rows[i].label for i in read_rows], [outcome[i][0] for i in read_rows], labels)
    n = len(read_rows)
    timing = {
        "total_s": round(wall, 3),
        "ms_per_image": round(1000 * wall / n, 3),
        **{f"{k}_ms_per_image": round(1000 * v / n, 3) for k, v in times.items()},
    }
    scored = [i for i in read_rows if i in row_logits and rows[i].label in model_labels]
    true_index = np.array([model_labels.index(rows[i].label) for i in scored], np.int64)
    logits_arr = np.stack([row_logits[i] for i in scored]) if scored else np.zeros((0, len(model_labels)), np.float32)
    probs_arr = np.stack([row_probs[i] for i in scored]) if scored else np.zeros((0, len(model_labels)), np.float32)
    info = classifier.info
    return EvalReport(
        model=info.id,
        sha256=info.sha256,
        providers=tuple(info.providers),
        model_labels=model_labels,
        detector=det.spec.id if det is not None else None,
        detector_sha256=det.info.sha256 if det is not None else None,
        crop=crop,
        folder=str(folder.resolve()),
        labels_csv=str(csv_path.resolve()),
        metrics=m,
        unpredictable_labels=tuple(lab for lab in labels if lab in data_labels and lab not in model_labels),
        labels_not_in_data=tuple(lab for lab in labels if lab not in data_labels),
        no_face=tuple(no_face),
        unreadable=MappingProxyType(unreadable),
        predictions=tuple(
            Prediction(rows[i].name, rows[i].label, outcome[i][0], outcome[i][1]) for i in read_rows
        ),
        timing=MappingProxyType(timing),
        temperature=temperature,
        calibration=calibration(probs_arr, true_index) if scored else None,
        logits=logits_arr,
        true_index=true_index,
    )
