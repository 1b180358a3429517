"""The window's exports: session JSON, per-frame CSV, graph PNG, PDF report and annotated video.

The type written is the type chosen: the file-type filter picked in the dialog decides, and a file name
whose suffix names another known type (``x.csv`` typed under the JSON filter) is written as that type;
a name without a known suffix gets the chosen type's suffix. Everything that touches the disk or an
encoder runs on the jobs thread (``JobRunner``); only the graph is *painted* on the GUI thread, its bytes
are written there too. CSV, PDF and video are the EXPORTS functions of ``emodesk.core.export`` run on
the session file, the same code as ``emodesk export``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QProgressDialog, QWidget

from emodesk.core import live_session
from emodesk.atomic import atomic_file
from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event
from emodesk.core.run import SessionRun
from emodesk.core.session import read_session_json
from emodesk.errors import OutputError
from emodesk.ui.jobs import Job, JobContext, JobRunner
from emodesk.ui.review import ReviewSession


@dataclass(frozen=True)
class ExportKind:
    key: str
    title: str
    suffix: str  # appended to the source's stem for the proposed name
    patterns: tuple[str, ...]

    @property
    def filter(self) -> str:
        return f"{self.title} ({' '.join(self.patterns)})"


KINDS = {
    k.key: k
    for k in (
        ExportKind("json", "Session JSON", ".session.json", ("*.session.json", "*.json")),
        ExportKind("csv", "Per-frame CSV", ".frames.csv", ("*.csv",)),
        ExportKind("png", "Graph PNG", "-graph.png", ("*.png",)),
        ExportKind("pdf", "PDF report", ".report.pdf", ("*.pdf",)),
        ExportKind("video", "Annotated video", ".annotated.mp4", ("*.mp4", "*.avi", "*.mov", "*.mkv")),
    )
}
LONG_KINDS = ("pdf", "video")  # these show a progress dialog with Cancel


def _matches(path: Path, kind: str) -> bool:
    return any(path.name.lower().endswith(p.lstrip("*")) for p in KINDS[kind].patterns)


def kind_of(path: Path, chosen: str) -> str:
    """The type to write: the chosen one, unless the name typed ends in another known type's suffix."""
    if _matches(path, chosen):
        return chosen
    return next((key for key in KINDS if _matches(path, key)), chosen)


def with_suffix(path: Path, kind: str) -> Path:
    """``path`` with the type's suffix when its name has none of the type's patterns."""
    if _matches(path, kind):
        return path
    return path.with_name(path.name + KINDS[kind].patterns[0].lstrip("*"))


SessionSource = SessionRun | ReviewSession


def _temporary_session_path() -> Path:
    folder = live_session.recovery_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(prefix=".export-", suffix=".session.json", dir=folder, delete=False)
    handle.close()
    return Path(handle.name)


Markers = tuple[Sequence[Event], BaselineInterval | None]  # a reviewed session's events and baseline as edited


def write_markers(session_path: Path, events: Sequence[Event], baseline: BaselineInterval | None = None) -> None:
    """Replace the session file's events[] and baseline with the window's (a reviewed session after renames,
    deletions, new marks or a new baseline), through the EXPORTS writer that records them in a session, as
    ``emodesk export --events/--baseline`` does; frames[] are untouched."""
    from emodesk.core.export import SessionView, record_in_session

    document = read_session_json(session_path)
    document["events"] = [e.to_json() for e in events]
    document.pop("baseline", None)  # the window's baseline (or none: cleared) replaces the file's
    record_in_session(session_path, SessionView(document, baseline=baseline, session_path=session_path))


def _session_file(session: SessionSource, markers: Markers | None) -> tuple[Path, bool]:
    """A session JSON to export from, with ``markers`` when given; True when it is a temporary file."""
    if isinstance(session, ReviewSession) and markers is None:
        return session.path, False
    path = _temporary_session_path()
    try:
        _write_session(session, path, markers)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, True


def _write_session(session: SessionSource, path: Path, markers: Markers | None) -> Path:
    """The session JSON at ``path``: the reviewed file copied, or the run saved (its journal holds every
    mark, edit and baseline of the window); then ``markers`` if given."""
    if isinstance(session, ReviewSession):
        with atomic_file(path) as out, session.path.open("rb") as src:
            shutil.copyfileobj(src, out)
    else:
        session.save(path)
    if markers is not None:
        write_markers(path, *markers)
    return path


def export_job(
    session: SessionSource,
    kind: str,
    path: Path,
    *,
    png: bytes | None = None,
    source: Path | None = None,
    markers: Markers | None = None,
):
    """Write ``kind`` to ``path`` on the jobs thread. ``markers``: a reviewed session's (events, baseline)
    as edited in the window, which replace the file's in what is written (None: the session's own)."""

    def job(context: JobContext) -> Path:
        if kind == "png":
            assert png is not None
            if not path.parent.is_dir():
                raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
            with atomic_file(path) as out:
                out.write(png)
            return path
        if kind == "json":
            return _write_session(session, path, markers)
        from emodesk.core.export import export_session

        session_path, temporary = _session_file(session, markers)
        try:
            written = export_session(
                session_path,
                **{kind: path},
                source=source,
                session_path=session_path,
                progress=context.progress,
                cancel=context.cancel,
            )
        finally:
            if temporary:
                session_path.unlink(missing_ok=True)
        return written[kind]

    return job


class Exports(QObject):
    """Asks where, queues the job, shows progress for long ones, reports the outcome."""

    finished = Signal(object)  # Job (result: the written path; error; cancelled)

    def __init__(self, jobs: JobRunner, parent: QWidget) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.parent_widget = parent
        self._dialogs: dict[int, QProgressDialog] = {}
        self._kinds: dict[int, str] = {}
        jobs.progress.connect(self._on_progress)
        jobs.finished.connect(self._on_finished)

    def ask_path(self, stem: str, kind: str | None) -> tuple[Path, str] | None:
        """The save dialog: one type when ``kind`` is given, all of them otherwise."""
        chosen = kind or "json"
        keys = [chosen] if kind else list(KINDS)
        path, selected = QFileDialog.getSaveFileName(
            self.parent_widget, "Export", stem + KINDS[chosen].suffix, ";;".join(KINDS[k].filter for k in keys)
        )
        if not path:
            return None
        if selected:
            chosen = next((k for k in keys if KINDS[k].filter == selected), chosen)
        chosen = kind_of(Path(path), chosen)
        return with_suffix(Path(path), chosen), chosen

    def start(
        self,
        session: SessionSource,
        kind: str,
        path: Path,
        *,
        png: bytes | None = None,
        source: Path | None = None,
        markers: Markers | None = None,
    ) -> Job:
        job = self.jobs.submit(
            f"export {KINDS[kind].title}", export_job(session, kind, Path(path), png=png, source=source, markers=markers)
        )
        self._kinds[job.job_id] = kind
        if kind in LONG_KINDS:
            dialog = QProgressDialog(f"Writing {KINDS[kind].title.lower()}…", "Cancel", 0, 1000, self.parent_widget)
            dialog.setWindowTitle("Export")
            dialog.setWindowModality(Qt.WindowModality.NonModal)
            dialog.setMinimumDuration(300)
            dialog.canceled.connect(lambda job_id=job.job_id: self.jobs.cancel(job_id))
            self._dialogs[job.job_id] = dialog
        return job

    @Slot(int, int, int)
    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        dialog = self._dialogs.get(job_id)
        if dialog is not None and total:
            dialog.setMaximum(total)
            dialog.setValue(min(done, total))

    @Slot(object)
    def _on_finished(self, job: Job) -> None:
        dialog = self._dialogs.pop(job.job_id, None)
        if dialog is not None:
            dialog.reset()
            dialog.deleteLater()
        if self._kinds.pop(job.job_id, None) is not None:
            self.finished.emit(job)
