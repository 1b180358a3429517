"""Analyse whole sources into session files: the engine behind ``emodesk analyze`` and ``analyze_file``."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emodesk.core.pipeline import Pipeline
from emodesk.core.run import RunCounts, RunStatus, SessionRun
from emodesk.core.session import (
    JOURNAL_SUFFIX,
    SESSION_SUFFIX,
    inspect_journal,
    journal_path_for,
)
from emodesk.core.settings import Settings
from emodesk.core.sources import FrameSource
from emodesk.errors import EmodeskError, OutputError

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]  # (frames done, frames expected or None)


@dataclass(frozen=True)
class AnalysisOutcome:
    """How one input went. ``session_path`` is set whenever anything was written."""

    input: str
    status: str  # a RunStatus value: complete | truncated | damaged | stopped | failed
    session_path: Path | None = None
    frames: int = 0
    faces: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    wall_s: float = 0.0
    mean_ms: dict[str, float] = field(default_factory=dict)
    counts: RunCounts = field(default_factory=RunCounts)
    journal_path: Path | None = None  # kept because the session could not be written

    @property
    def ok(self) -> bool:
        return self.status == "complete"

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def ensure_output_dir(out_dir: Path) -> Path:
    """Create ``out_dir`` and prove it is writable before any work is done."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{out_dir}: output folder cannot be written ({exc.strerror})") from exc
    return out_dir


def session_name(target: str | Path | int) -> str:
    """``clip.mp4`` → ``clip``; a folder → its name; camera 0 → ``camera0``; a URL → its host/path."""
    text = str(target)
    if text.isdigit():
        return f"camera{text}"
    if "://" in text:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text.split("://", 1)[1])
        return safe.strip("_") or "stream"
    path = Path(text)
    if text.startswith("/dev/"):
        return path.name
    return path.stem if path.suffix else (path.resolve().name or "input")


def unique_session_path(out_dir: Path, target: str | Path | int, taken: set[Path]) -> Path:
    """``DIR/<stem>.session.json``; a second input with the same stem in one run gets ``<stem>-2``."""
    stem = session_name(target)
    candidate = out_dir / f"{stem}{SESSION_SUFFIX}"
    n = 2
    while candidate in taken:
        candidate = out_dir / f"{stem}-{n}{SESSION_SUFFIX}"
        n += 1
    taken.add(candidate)
    return candidate


def free_journal_path(session_path: Path) -> tuple[Path, str | None]:
    """The journal for a new run writing ``session_path``, and a warning when an earlier one is in the way.

    A journal left beside the output by an earlier run that did not finish (a crash, kill -9, a full
    disk) may be the only copy of that analysis: it is never overwritten or deleted. The new run writes
    ``<stem>.2.journal.jsonl`` (3, ...) instead, and the user is told how to recover the old one.
    """
    journal = journal_path_for(session_path)
    if not journal.exists():
        return journal, None
    info = inspect_journal(journal)
    if info.writer_pid is not None:
        note = f"{journal}: being written by another emodesk run (process {info.writer_pid}); left alone"
    else:
        note = (
            f"{journal}: journal of an earlier run that did not finish ({info.frames} frames of {info.source}, "
            f"started {info.created}); kept: `emodesk recover {journal}` makes a session of it"
        )
    n = 2
    while True:
        candidate = journal.with_name(journal.name.removesuffix(JOURNAL_SUFFIX) + f".{n}{JOURNAL_SUFFIX}")
        if not candidate.exists():
            return candidate, note
        n += 1


def analyze_source(
    pipeline: Pipeline,
    target: str | Path | int | FrameSource,
    session_path: Path,
    *,
    live: bool | None = None,
    realtime: bool = False,
    max_frames: int | None = None,
    duration_s: float | None = None,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    on_start: Callable[[SessionRun], None] | None = None,
) -> AnalysisOutcome:
    """Run one source to a session file through a :class:`SessionRun`. Input and output problems become
    a failed outcome, never an exception; whatever was analysed before a problem is still written (or,
    when even that cannot be written, its journal is kept). KeyboardInterrupt writes, then re-raises.

    ``stop`` (optional) ends the run between frames when set (SIGTERM in the CLI); ``on_start`` gets the
    SessionRun before it starts. ``progress(done, total)`` counts decoded frames against the source's.
    """
    label = target.info.path if isinstance(target, FrameSource) else str(target)
    started = time.monotonic()
    journal, note = free_journal_path(session_path)
    notes = (note,) if note else ()
    try:
        run = SessionRun(
            pipeline,
            target,
            journal,
            live=live,
            realtime=realtime,
            max_frames=max_frames,
            duration_s=duration_s,
            stop=stop,
        )
    except EmodeskError as exc:
        log.debug("%s: the run could not start", label, exc_info=True)  # the user gets the one line
        if isinstance(target, FrameSource):
            target.close()
        return AnalysisOutcome(label, "failed", error=str(exc), warnings=notes)
    if progress is not None:
        expected = run.source_info.frame_count
        if max_frames is not None and not run.analysis["sample_fps"]:
            expected = min(expected, max_frames) if expected else max_frames
        # the frames up to this one in source order, not ``counts.delivered``: that also holds the
        # read-ahead, which ran the bar past its total when a limit ended the run
        run.on_result = lambda result: progress(result.index + 1, expected)
    if on_start is not None:
        on_start(run)
    status: str = RunStatus.FAILED.value
    error: str | None = None
    path: Path | None = None
    try:
        status = run.run().value
    except KeyboardInterrupt:
        status = run.status.value
        raise
    finally:
        error = run.error
        if run.frames == 0 and status != RunStatus.COMPLETE.value:
            run.discard()  # nothing analysed: no session, no journal
        elif run.journal_failed:
            # the disk is full: a session cannot be written either; the journal keeps what was analysed
            run.close()
            error = f"{error}; the journal so far is kept: `emodesk recover {run.journal_path}` makes a session of it"
        else:
            try:
                path = run.finish(session_path)
            except EmodeskError as exc:
                log.debug("%s: the session could not be written", label, exc_info=True)
                run.close()
                status, error = RunStatus.FAILED.value, str(exc)
                if run.journal_path.exists() and "emodesk recover" not in error:
                    error += f"; the journal so far is kept: `emodesk recover {run.journal_path}` makes a session of it"
    summary = run.summary
    return AnalysisOutcome(
        input=label,
        status=status,
        session_path=path,
        frames=run.frames,
        faces=len(summary.get("faces", ())),
        error=error,
        warnings=notes + tuple(w for w in run.warnings if w not in (error, run.error)),
        wall_s=time.monotonic() - started,
        mean_ms=dict(summary.get("timings", {})),
        counts=run.counts,
        journal_path=None if path else (run.journal_path if run.journal_path.exists() else None),
    )


def analyze_file(
    target: str | Path | int,
    out_dir: str | Path = ".",
    settings: Settings | None = None,
    *,
    pipeline: Pipeline | None = None,
    **options: object,
) -> Path:
    """Analyse one file, folder, camera or stream into ``out_dir``; returns the session path.

    Raises EmodeskError if nothing could be analysed; a truncated file still returns its session.
    """
    out = ensure_output_dir(Path(out_dir))
    own = pipeline is None
    pipe = pipeline or Pipeline(settings)
    try:
        outcome = analyze_source(pipe, target, unique_session_path(out, target, set()), **options)  # type: ignore[arg-type]
    finally:
        if own:
            pipe.close()
    if outcome.session_path is None:
        raise EmodeskError(outcome.error or f"{target}: nothing could be analysed")
    return outcome.session_path
