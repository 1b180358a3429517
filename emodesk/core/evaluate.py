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
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from emodesk.core.sources import read_image
from emodesk.core.atomic import atomic_file
from emodesk.errors import EmodeskError, ModelError, OutputError, SourceError
from emodesk.inference.base import EmotionClassifier, FaceDetector, load_classifier, load_detector
from emodesk.inference.classifiers.normalize import to_tensor
from emodesk.inference.labels import CANONICAL_LABELS, canonical_label

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
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@dataclass(frozen=True)
class Metrics:
    """Classification metrics over ``labels``; see :func:`metrics`."""

    labels: tuple[str, ...]
    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    per_class: Mapping[str, ClassMetrics]
    confusion: tuple[tuple[int, ...], ...]  # rows = true, columns = predicted, both in ``labels`` order
    misses: tuple[int, ...]  # per true label: predictions that were None (no face found)


def metrics(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]) -> Metrics:
    """Accuracy, balanced accuracy, macro F1, per-class P/R/F1 and the confusion matrix, in numpy.

    ``y_pred[i] is None`` is a miss (no prediction): wrong, in the support of its true class, in no column.
    Precision of a label never predicted is 0; recall and F1 of a label with no support are 0 and such
    labels are left out of the macro averages (balanced accuracy = mean recall over labels present in
    ``y_true``). Nothing is NaN and numpy emits no warnings.
    """
    labels = tuple(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {labels}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    try:
        t = np.fromiter((index[y] for y in y_true), np.int64, len(y_true))
    except KeyError as exc:
        raise ValueError(f"true label {exc.args[0]!r} is not in labels {labels}") from None
    try:
        p = np.fromiter((-1 if y is None else index[y] for y in y_pred), np.int64, len(y_pred))
    except KeyError as exc:
        raise ValueError(f"predicted label {exc.args[0]!r} is not in labels {labels}") from None
    hit = p >= 0
    confusion = np.bincount(t[hit] * k + p[hit], minlength=k * k).reshape(k, k)
    misses = np.bincount(t[~hit], minlength=k)
    support = np.bincount(t, minlength=k)
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    # np.divide with ``where`` leaves 0 where the denominator is 0: defined values, no RuntimeWarning
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support.astype(np.float64), out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    n = len(y_true)
    return Metrics(
        labels=labels,
        n=n,
        accuracy=float(tp.sum() / n) if n else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        per_class=MappingProxyType(
            {
                label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
                for i, label in enumerate(labels)
            }
        ),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        misses=tuple(int(v) for v in misses),
    )


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
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


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
) -> EvalReport:
    """Run ``emotion`` (id, loaded classifier, or the manifest default) over a labelled folder.

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
    pending: list[tuple[int, np.ndarray]] = []
    times = {"read": 0.0, "detect": 0.0, "preprocess": 0.0, "classify": 0.0}

    def flush() -> None:
        if not pending:
            return
        t0 = time.perf_counter()
        probs = classifier.predict(np.concatenate([x for _, x in pending], axis=0))
        times["classify"] += time.perf_counter() - t0
        best = probs.argmax(axis=1)
        for (i, _), b, row in zip(pending, best, probs):
            outcome[i] = (classifier.labels[int(b)], float(row[b]))
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
    )


# ---------------------------------------------------------------------------------------------- text


def summary_line(report: EvalReport) -> str:
    extra = ""
    if report.misses:
        extra += f", {report.misses} without a face"
    if report.unreadable:
        extra += f", {len(report.unreadable)} unreadable left out"
    return (
        f"{report.model} on {report.folder} ({report.crop}): accuracy {report.accuracy:.1%}, "
        f"balanced accuracy {report.balanced_accuracy:.1%}, macro F1 {report.macro_f1:.3f}, "
        f"n={report.n}{extra}, {report.timing.get('ms_per_image', 0.0):.2f} ms/image"
    )


def format_report(report: EvalReport) -> str:
    """A readable multi-line table: headline metrics, per-class P/R/F1/support, the confusion matrix."""
    m = report.metrics
    det = f", detector {report.detector}" if report.detector else ""
    lines = [
        f"model {report.model} (sha256 {report.sha256[:12]}, {', '.join(report.providers)}), crop {report.crop}{det}",
        f"data  {report.labels_csv}: {report.n} images"
        + (f", {len(report.unreadable)} unreadable (left out)" if report.unreadable else "")
        + (f", {report.misses} without a face (counted wrong)" if report.misses else ""),
        "",
        f"accuracy           {m.accuracy:7.1%}",
        f"balanced accuracy  {m.balanced_accuracy:7.1%}   (mean recall over the labels in the data)",
        f"macro F1           {m.macro_f1:7.3f}   (over the labels in the data)",
        f"time               {report.timing.get('ms_per_image', 0.0):7.2f} ms/image",
        "",
    ]
    width = max(len("label"), *(len(lab) for lab in m.labels))
    lines.append(f"{'label':<{width}}  precision  recall     f1  support")
    for label, c in m.per_class.items():
        note = ""
        if label in report.unpredictable_labels:
            note = "  model cannot predict this label"
        elif label in report.labels_not_in_data:
            note = "  not in the data"
        lines.append(f"{label:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}{note}")
    lines += ["", "confusion matrix (rows = true label, columns = predicted)"]
    columns = list(m.labels) + (["no_face"] if report.misses else [])
    cw = max(5, *(len(c) for c in columns)) + 1
    corner = "true \\ predicted"
    rw = max(width, len(corner))
    lines.append(f"{corner:<{rw}}" + "".join(f"{c:>{cw}}" for c in columns))
    for label, row, miss in zip(m.labels, m.confusion, m.misses):
        cells = list(row) + ([miss] if report.misses else [])
        lines.append(f"{label:<{rw}}" + "".join(f"{v:>{cw}d}" for v in cells))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- picture

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LOW = np.array([250, 246, 243], np.float64)  # BGR of 0 % (near white)
_HIGH = np.array([110, 48, 8], np.float64)  # BGR of 100 % (dark blue)
_INK = (30, 30, 30)


def _cell_colour(fraction: float) -> tuple[int, int, int]:
    # a gamma below 1 makes the small off-diagonal fractions visible against the white
    f = float(np.clip(fraction, 0.0, 1.0)) ** 0.7
    bgr = _LOW + (_HIGH - _LOW) * f
    return (int(bgr[0]), int(bgr[1]), int(bgr[2]))


def _text(img: np.ndarray, text: str, center: tuple[int, int], scale: float, colour: tuple[int, int, int], thick: int = 1) -> None:
    (tw, th), _ = cv2.getTextSize(text, _FONT, scale, thick)
    cv2.putText(img, text, (int(center[0] - tw / 2), int(center[1] + th / 2)), _FONT, scale, colour, thick, cv2.LINE_AA)


def render_confusion(report: EvalReport) -> np.ndarray:
    """The row-normalised confusion matrix as a BGR image: colour = share of the true class, text = count."""
    m = report.metrics
    cols = list(m.labels) + (["no face"] if report.misses else [])
    k, kc = len(m.labels), len(cols)
    cell = 92
    label_scale = 0.55
    def row_name(label: str) -> str:
        star = " *" if label in report.unpredictable_labels else ""
        return f"{label} ({m.per_class[label].support}){star}"

    row_w = max(cv2.getTextSize(row_name(lab), _FONT, label_scale, 1)[0][0] for lab in m.labels)
    left = row_w + 60  # row labels plus the rotated "true label" caption
    top = 150
    bar_w = 110
    width = left + kc * cell + 30 + bar_w
    foot = 34 if report.unpredictable_labels else 0
    height = top + k * cell + 40 + foot
    img = np.full((height, width, 3), 255, np.uint8)

    title = f"{report.model} - crop {report.crop}" + (f" - detector {report.detector}" if report.detector else "")
    cv2.putText(img, title, (16, 32), _FONT, 0.7, _INK, 2, cv2.LINE_AA)
    sub = (
        f"n={report.n}  accuracy {m.accuracy:.1%}  balanced {m.balanced_accuracy:.1%}  macro F1 {m.macro_f1:.3f}"
        + (f"  no face {report.misses}" if report.misses else "")
    )
    cv2.putText(img, sub, (16, 62), _FONT, 0.55, _INK, 1, cv2.LINE_AA)
    _text(img, "predicted label", (left + kc * cell // 2, 92), 0.6, _INK, 1)
    # the "true label" caption, written horizontally then rotated into the left margin
    cap = np.full((30, k * cell, 3), 255, np.uint8)
    _text(cap, "true label", (k * cell // 2, 15), 0.6, _INK, 1)
    img[top : top + k * cell, 10:40] = cv2.rotate(cap, cv2.ROTATE_90_COUNTERCLOCKWISE)

    for j, name in enumerate(cols):
        scale = label_scale
        while cv2.getTextSize(name, _FONT, scale, 1)[0][0] > cell - 6 and scale > 0.3:
            scale -= 0.05
        _text(img, name, (left + j * cell + cell // 2, top - 18), scale, _INK, 1)
    for i, label in enumerate(m.labels):
        support = m.per_class[label].support
        y0 = top + i * cell
        text = row_name(label)
        tw = cv2.getTextSize(text, _FONT, label_scale, 1)[0][0]
        cv2.putText(img, text, (left - 10 - tw, y0 + cell // 2 + 6), _FONT, label_scale, _INK, 1, cv2.LINE_AA)
        counts = list(m.confusion[i]) + ([m.misses[i]] if report.misses else [])
        for j, count in enumerate(counts):
            x0 = left + j * cell
            if support == 0:
                cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), (232, 232, 232), -1)
                _text(img, "-", (x0 + cell // 2, y0 + cell // 2), 0.6, (150, 150, 150), 1)
                continue
            frac = count / support
            colour = _cell_colour(frac)
            cv2.rectangle(img, (x0, y0), (x0 + cell, y0 + cell), colour, -1)
            ink = (255, 255, 255) if frac > 0.45 else _INK
            if count == 0:  # empty cells stay quiet so that the real confusions stand out
                _text(img, "0", (x0 + cell // 2, y0 + cell // 2), 0.6, (175, 175, 175), 1)
                continue
            _text(img, str(count), (x0 + cell // 2, y0 + cell // 2 - 12), 0.75, ink, 2)
            share = "<1%" if frac < 0.005 else f"{frac:.0%}"  # a rounded "0%" would hide a real count
            _text(img, share, (x0 + cell // 2, y0 + cell // 2 + 18), 0.5, ink, 1)
    # grid, the diagonal outlined, and the no-face column set apart
    for i in range(k + 1):
        cv2.line(img, (left, top + i * cell), (left + kc * cell, top + i * cell), (200, 200, 200), 1)
    for j in range(kc + 1):
        cv2.line(img, (left + j * cell, top), (left + j * cell, top + k * cell), (200, 200, 200), 1)
    for i in range(min(k, kc)):
        x0, y0 = left + i * cell, top + i * cell
        cv2.rectangle(img, (x0 + 1, y0 + 1), (x0 + cell - 1, y0 + cell - 1), (0, 140, 255), 2)
    if report.misses:
        x = left + k * cell
        cv2.line(img, (x, top - 4), (x, top + k * cell + 4), _INK, 2)

    # colour bar: what a shade means
    bx, by, bh = left + kc * cell + 30, top, k * cell
    for y in range(bh):
        img[by + y, bx : bx + 18] = _cell_colour(1.0 - y / max(bh - 1, 1))
    cv2.rectangle(img, (bx, by), (bx + 18, by + bh), (160, 160, 160), 1)
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = by + int(round((1.0 - frac) * (bh - 1)))
        cv2.putText(img, f"{frac:.0%}", (bx + 24, y + 5), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    cv2.putText(img, "of row", (bx - 2, by + bh + 24), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    if foot:
        note = f"* in the data, but the model cannot predict it: {', '.join(report.unpredictable_labels)}"
        cv2.putText(img, note, (16, height - 16), _FONT, 0.5, _INK, 1, cv2.LINE_AA)
    return img


def confusion_png(report: EvalReport, path: Path | str) -> Path:
    """Write :func:`render_confusion` as a PNG, atomically (a reader never sees half a file)."""
    path = Path(path)
    ok, data = cv2.imencode(".png", render_confusion(report))
    if not ok:
        raise OutputError(f"{path}: OpenCV could not encode the PNG")
    _write_bytes_atomic(path, data.tobytes())
    return path


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_file(path) as out:
        out.write(data)