"""Exports of a session: per-frame CSV, PDF report, annotated video; the same code for every entry point.

``emodesk analyze --pdf --csv --video``, ``emodesk export SESSION.json`` and the window's Export menu all
call :func:`export_session` (or one writer), with a progress callback and a cancel event so the window
can run them off the GUI thread. Nothing here imports Qt.

Each writer takes a session (a path, the JSON document, a typed session, or a :class:`SessionView`
carrying export-time events, baseline and source), and writes atomically: readers see the old file or the
new one, and a cancel leaves no partial file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emodesk.atomic import atomic_text_file, json_dumps
from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event
from emodesk.core.export.frames_csv import (
    frame_columns,
    iter_frame_rows,
    write_frames_csv,
)
from emodesk.core.export.report import write_report
from emodesk.core.export.video import write_annotated_video
from emodesk.core.export.view import (
    ExportCancelled,
    FaceSummary,
    Progress,
    SessionView,
    as_view,
)

__all__ = [
    "ExportCancelled",
    "FaceSummary",
    "SessionView",
    "export_session",
    "frame_columns",
    "iter_frame_rows",
    "record_in_session",
    "write_annotated_video",
    "write_frames_csv",
    "write_report",
]

REPORT_SUFFIX = ".report.pdf"
CSV_SUFFIX = ".frames.csv"
VIDEO_SUFFIX = ".annotated.mp4"


def export_session(
    session: Any,
    *,
    pdf: str | Path | None = None,
    csv: str | Path | None = None,
    video: str | Path | None = None,
    events: Iterable[Event] = (),
    baseline: BaselineInterval | None = None,
    source: str | Path | None = None,
    session_path: str | Path | None = None,
    paper: str = "a4",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Path]:
    """Write each export asked for (CSV, then PDF, then video: quickest first) and return
    ``{"csv"|"pdf"|"video": path}``.

    ``progress(done, total)`` counts thousandths of the whole job; ``cancel`` stops between frames or
    pages (ExportCancelled; files already finished stay). Errors are EmodeskErrors with one line.
    """
    view = as_view(session, events=events, baseline=baseline, source=source, session_path=session_path)
    jobs = [(kind, Path(target)) for kind, target in (("csv", csv), ("pdf", pdf), ("video", video)) if target]
    written: dict[str, Path] = {}
    share = 1000 // max(len(jobs), 1)
    for n, (kind, target) in enumerate(jobs):

        def stage(done: int, total: int | None, base: int = n * share) -> None:
            if progress:
                progress(base + (share * done // total if total else 0), 1000)

        if kind == "csv":
            written[kind] = write_frames_csv(view, target, progress=stage, cancel=cancel)
        elif kind == "pdf":
            written[kind] = write_report(view, target, paper=paper, progress=stage, cancel=cancel)
        else:
            written[kind] = write_annotated_video(view, target, progress=stage, cancel=cancel)
    if progress:
        progress(1000, 1000)
    return written


def default_paths(session_path: Path) -> dict[str, Path]:
    """``<stem>.report.pdf``, ``<stem>.frames.csv``, ``<stem>.annotated.mp4`` beside the session."""
    from emodesk.core.session import SESSION_SUFFIX

    stem = session_path.name.removesuffix(SESSION_SUFFIX).removesuffix(".json")
    return {
        "pdf": session_path.with_name(stem + REPORT_SUFFIX),
        "csv": session_path.with_name(stem + CSV_SUFFIX),
        "video": session_path.with_name(stem + VIDEO_SUFFIX),
    }


def record_in_session(session_path: str | Path, view: SessionView) -> Path:
    """Rewrite the session file with the view's ``events[]``, ``baseline`` (interval and each face's
    resting probabilities) and per-face ``valence_mean``; ``frames[]`` are kept exactly as they were.

    Used by ``emodesk analyze --events/--baseline`` so that the session records what its exports show.
    Same layout as the run's writer: the head indented, one frame per line.
    """
    session_path = Path(session_path)
    document = view.recorded()
    frames = document.pop("frames")
    head = json_dumps(document, indent=1)
    with atomic_text_file(session_path) as out:
        out.write(head[:-2] + ',\n "frames": [')
        for i, record in enumerate(frames):
            out.write(("\n  " if i == 0 else ",\n  ") + json_dumps(record, compact=True))
        out.write("\n ]\n}\n")
    return session_path
