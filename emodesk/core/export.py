"""Flat exports of a session: one CSV row per face per frame, for spreadsheets, pandas and R.

Columns: ``frame, time_s, face_id, x1, y1, x2, y2, score, emotion, confidence, tracked``, then
``prob_<label>`` (raw classifier output) and ``smoothed_<label>`` for each of the session's ``labels``.

A frame with no faces still gets one row, with only ``frame`` and ``time_s`` filled in, so the CSV's
timeline is complete: gaps where nobody was visible are visible as such instead of silently missing.
Empty cells also stand for a label the face has no value for and for a face with no emotion. Numbers are
written exactly as stored in the session (``float(cell)`` gives back the JSON value); ``tracked`` is
``true``/``false``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from emodesk.core.atomic import atomic_text_file

log = logging.getLogger(__name__)

FACE_COLUMNS = ("face_id", "x1", "y1", "x2", "y2", "score", "emotion", "confidence", "tracked")


def frame_columns(labels: Sequence[str]) -> list[str]:
    """The CSV header for a session with these labels."""
    return (
        ["frame", "time_s", *FACE_COLUMNS]
        + [f"prob_{label}" for label in labels]
        + [f"smoothed_{label}" for label in labels]
    )


def iter_frame_rows(session: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One dict per face per frame (one face-less row for a frame without faces), keyed by
    :func:`frame_columns` in that order. Values keep their JSON types; absent values are ``None``."""
    labels = list(session["labels"])
    columns = frame_columns(labels)
    for record in session["frames"]:
        faces = record.get("faces") or ()
        if not faces:
            row = dict.fromkeys(columns)
            row["frame"], row["time_s"] = record["index"], record["time_s"]
            yield row
            continue
        for face in faces:
            x1, y1, x2, y2 = face["box"]
            row = {
                "frame": record["index"],
                "time_s": record["time_s"],
                "face_id": face["id"],
                "x1": x1,
                "y1": y1,
                "x2": x2,
                "y2": y2,
                "score": face["score"],
                "emotion": face.get("emotion"),
                "confidence": face.get("confidence"),
                "tracked": bool(face.get("tracked", False)),
            }
            probs, smoothed = face.get("probs") or {}, face.get("smoothed") or {}
            # a model's missing labels stay empty, never 0: "not predicted" is not "probability zero"
            row.update({f"prob_{label}": probs.get(label) for label in labels})
            row.update({f"smoothed_{label}": smoothed.get(label) for label in labels})
            yield row


def write_frames_csv(session: Mapping[str, Any], path: Path) -> Path:
    """Write :func:`iter_frame_rows` to ``path`` (UTF-8) atomically: a crash leaves the old file or none.

    Raises OutputError naming ``path`` when it cannot be written.
    """
    path = Path(path)
    columns = frame_columns(session["labels"])
    rows = 0
    with atomic_text_file(path, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in iter_frame_rows(session):
            writer.writerow(_cell(row[c]) for c in columns)
            rows += 1
    log.info("wrote %d rows to %s", rows, path)
    return path


def _cell(value: Any) -> Any:
    """CSV text for one value: empty for None, JSON spelling for booleans, repr-exact floats otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
