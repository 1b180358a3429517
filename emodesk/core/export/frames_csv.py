"""Per-frame CSV in long format (OpenFace-style): one row per face per analysed frame.

Columns (README "Per-frame CSV" documents each one): ``frame, time_s, face_id, x1, y1, x2, y2, score,
tracked, emotion, confidence, valence, valence_from``, then ``raw_<label>`` and ``smoothed_<label>`` for
each of the session's labels, ``calibrated_<label>`` when a baseline is set, and ``event`` last.

Frames without any face have no row (the session's ``frames_processed`` says how many frames were
analysed). Empty cells stand for "no value": a label the model does not predict, a face without
calibration (not seen during the baseline), no active event. Stored numbers are written exactly as the
session holds them (``float(cell)`` gives the JSON value back); ``tracked`` is ``true``/``false``, which
pandas reads as booleans.
"""

from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from emodesk.atomic import atomic_text_file
from emodesk.core.export.view import (
    FaceFrame,
    Progress,
    SessionView,
    as_view,
    check_cancel,
)

log = logging.getLogger(__name__)

FACE_COLUMNS = ("face_id", "x1", "y1", "x2", "y2", "score", "tracked", "emotion", "confidence", "valence", "valence_from")
EVENT_SEPARATOR = ";"  # several active events in one cell: "stimulus A;question 2"


def frame_columns(labels: Sequence[str], *, calibrated: bool = False) -> list[str]:
    """The CSV header for a session with these labels (``calibrated``: a baseline is set)."""
    columns = ["frame", "time_s", *FACE_COLUMNS]
    columns += [f"raw_{label}" for label in labels]
    columns += [f"smoothed_{label}" for label in labels]
    if calibrated:
        columns += [f"calibrated_{label}" for label in labels]
    return [*columns, "event"]


def iter_frame_rows(session: Any, **view_options: Any) -> Iterator[dict[str, Any]]:
    """One dict per face per analysed frame, keyed by :func:`frame_columns` in that order. Values keep
    their JSON types; absent values are ``None``. ``view_options`` as for :class:`SessionView`."""
    view = as_view(session, **view_options)
    for ff in view.face_frames():
        yield _row(view, ff)


def _row(view: SessionView, ff: FaceFrame) -> dict[str, Any]:
    face = ff.face
    x1, y1, x2, y2 = face["box"]
    row: dict[str, Any] = {
        "frame": ff.frame,
        "time_s": ff.time_s,
        "face_id": face["id"],
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
        "score": face["score"],
        "tracked": bool(face.get("tracked", False)),
        "emotion": face.get("emotion"),
        "confidence": face.get("confidence"),
        "valence": ff.valence,
        "valence_from": ff.valence_from,
    }
    probs, smoothed = face.get("probs") or {}, face.get("smoothed") or {}
    # a model's missing labels stay empty, never 0: "not predicted" is not "probability zero"
    row.update({f"raw_{label}": probs.get(label) for label in view.labels})
    row.update({f"smoothed_{label}": smoothed.get(label) for label in view.labels})
    if view.baseline is not None:
        calibrated = ff.calibrated or {}
        row.update({f"calibrated_{label}": calibrated.get(label) for label in view.labels})
    row["event"] = EVENT_SEPARATOR.join(ff.events) or None
    return row


def write_frames_csv(
    session: Any,
    path: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **view_options: Any,
) -> Path:
    """Write :func:`iter_frame_rows` to ``path`` (UTF-8) atomically: a crash or a cancel leaves the old
    file or none. ``session``: a path, the session JSON document, a typed session or a SessionView.

    Raises OutputError naming ``path`` when it cannot be written, ExportCancelled when ``cancel`` is set.
    """
    path = Path(path)
    view = as_view(session, **view_options)
    columns = frame_columns(view.labels, calibrated=view.baseline is not None)
    total = view.face_count
    rows = 0
    with atomic_text_file(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for ff in view.face_frames():
            row = _row(view, ff)
            writer.writerow(_cell(row[c]) for c in columns)
            rows += 1
            if rows % 500 == 0:
                check_cancel(cancel)
                if progress:
                    progress(rows, total)
    if progress:
        progress(rows, total)
    log.info("wrote %d rows to %s", rows, path)
    return path


def _cell(value: Any) -> Any:
    """CSV text for one value: empty for None, JSON spelling for booleans, repr-exact floats otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
