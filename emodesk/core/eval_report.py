"""What ``emodesk eval`` shows and draws: the text report, the confusion-matrix PNG, the reliability diagram."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from emodesk.atomic import atomic_file
from emodesk.errors import OutputError

if TYPE_CHECKING:  # the report type only: evaluate.py runs the loop, this module only presents its result
    from emodesk.core.evaluate import EvalReport


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
        f"{_calibration_short(report)}n={report.n}{extra}, {report.timing.get('ms_per_image', 0.0):.2f} ms/image"
    )


def _calibration_short(report: EvalReport) -> str:
    c = report.calibration
    return "" if c is None else f"ECE {c.ece:.3f}, NLL {c.nll:.3f}, Brier {c.brier:.3f}, "


def _temperature_text(report: EvalReport) -> str:
    return "none (T = 1)" if report.temperature is None else f"T = {report.temperature:.3f}"


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
    c = report.calibration
    if c is not None:
        lines[-1:-1] = [
            f"calibration        {_temperature_text(report)}, over the {c.n} images with a prediction of a label the model has",
            f"  ECE              {c.ece:7.3f}   (15 equal-width bins of the top-1 confidence)",
            f"  NLL              {c.nll:7.3f}   (mean -ln p(true label))",
            f"  Brier            {c.brier:7.3f}   (mean squared distance to the one-hot label)",
            f"  mean confidence  {c.mean_confidence:7.1%}   (accuracy on the same images {c.accuracy:.1%})",
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
    return _write_png(path, render_confusion(report))


def _write_png(path: Path | str, image: np.ndarray) -> Path:
    """Encode ``image`` as PNG and write it atomically (a reader never sees half a file)."""
    path = Path(path)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OutputError(f"{path}: OpenCV could not encode the PNG")
    with atomic_file(path) as out:
        out.write(data.tobytes())
    return path


# ---------------------------------------------------------------------------------------------- reliability


def render_reliability(report: EvalReport) -> np.ndarray:
    """The reliability diagram as a BGR image: per confidence bin, accuracy (bar) against mean confidence.

    A calibrated model's bars reach the diagonal; a bar below it means the model was surer than it was
    right (over-confident). The strip under the plot shows how many images fell in each bin.
    """
    c = report.calibration
    if c is None:
        raise ValueError(f"{report.model}: the report has no calibration figures (no image had a prediction)")
    plot, left, top = 480, 90, 110
    hist_h, gap = 90, 40
    width, height = left + plot + 40, top + plot + gap + hist_h + 70
    img = np.full((height, width, 3), 255, np.uint8)
    title = f"{report.model} - reliability - crop {report.crop}"
    cv2.putText(img, title, (16, 32), _FONT, 0.7, _INK, 2, cv2.LINE_AA)
    sub = f"{_temperature_text(report)}  n={c.n}  ECE {c.ece:.3f}  NLL {c.nll:.3f}  Brier {c.brier:.3f}"
    cv2.putText(img, sub, (16, 62), _FONT, 0.5, _INK, 1, cv2.LINE_AA)
    cv2.putText(img, f"mean confidence {c.mean_confidence:.1%}, accuracy {c.accuracy:.1%}", (16, 86), _FONT, 0.5, _INK, 1, cv2.LINE_AA)

    def xy(conf: float, acc: float) -> tuple[int, int]:
        return int(round(left + conf * plot)), int(round(top + (1.0 - acc) * plot))

    for k in range(6):  # grid and ticks at 0, 20, ..., 100 %
        v = k / 5
        x, y = xy(v, v)
        cv2.line(img, (x, top), (x, top + plot), (232, 232, 232), 1)
        cv2.line(img, (left, y), (left + plot, y), (232, 232, 232), 1)
        _text(img, f"{v:.0%}", (x, top + plot + 14), 0.4, _INK, 1)
        tw = cv2.getTextSize(f"{v:.0%}", _FONT, 0.4, 1)[0][0]
        cv2.putText(img, f"{v:.0%}", (left - 8 - tw, y + 4), _FONT, 0.4, _INK, 1, cv2.LINE_AA)
    most = max((b.count for b in c.bins), default=0)
    for b in c.bins:
        if not b.count:
            continue
        x0, _ = xy(b.low, 0.0)
        x1, _ = xy(b.high, 0.0)
        _, y_acc = xy(0.0, b.accuracy)
        _, y_conf = xy(0.0, b.confidence)
        cv2.rectangle(img, (x0 + 1, y_acc), (x1 - 1, top + plot), (180, 120, 40), -1)  # accuracy bar (blue)
        # the gap between accuracy and confidence, hatched red: what the model claimed beyond what it got
        lo, hi = sorted((y_acc, y_conf))
        if hi - lo >= 1:
            overlay = img.copy()
            cv2.rectangle(overlay, (x0 + 1, lo), (x1 - 1, hi), (60, 60, 220), -1)
            cv2.addWeighted(overlay, 0.45, img, 0.55, 0, dst=img)
        cv2.line(img, (x0 + 1, y_conf), (x1 - 1, y_conf), (40, 40, 200), 2)
        bar = int(round(hist_h * b.count / most)) if most else 0
        base = top + plot + gap + hist_h
        cv2.rectangle(img, (x0 + 1, base - bar), (x1 - 1, base), (150, 150, 150), -1)
    cv2.line(img, xy(0.0, 0.0), xy(1.0, 1.0), (60, 60, 60), 1, cv2.LINE_AA)  # perfect calibration
    cv2.rectangle(img, (left, top), (left + plot, top + plot), (120, 120, 120), 1)
    _text(img, "top-1 confidence", (left + plot // 2, top + plot + 30), 0.5, _INK, 1)
    cap = np.full((24, plot, 3), 255, np.uint8)
    _text(cap, "accuracy", (plot // 2, 12), 0.5, _INK, 1)
    img[top : top + plot, 8:32] = cv2.rotate(cap, cv2.ROTATE_90_COUNTERCLOCKWISE)
    base = top + plot + gap + hist_h
    cv2.putText(img, f"images per bin (max {most})", (left, base + 22), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    cv2.putText(img, "blue: accuracy  red line: mean confidence  red band: the gap", (left, base + 46), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    return img


def reliability_png(report: EvalReport, path: Path | str) -> Path:
    """Write :func:`render_reliability` as a PNG, atomically."""
    return _write_png(path, render_reliability(report))
