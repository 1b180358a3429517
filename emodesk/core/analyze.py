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
from emodesk.core.session import SESSION_SUFFIX, SessionRecorder
from emodesk.core.settings import Settings
from emodesk.core.sources import FrameSource, open_source
from emodesk.errors import EmodeskError, OutputError

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]  # (frames done, frames expected or None)


@dataclass(frozen=True)
class AnalysisOutcome:
    """How one input went. ``session_path`` is set whenever anything was written."""

    input: str
    status: str  # complete | truncated | stopped | failed
    session_path: Path | None = None
    frames: int = 0
    faces: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    wall_s: float = 0.0
    mean_ms: dict[str, float] = field(default_factory=dict)

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
) -> AnalysisOutcome:
    """Run one source to a session file. Input problems become a failed outcome, never an exception;
    whatever was analysed before a problem is still written. KeyboardInterrupt writes, then re-raises."""
    label = target.info.path if isinstance(target, FrameSource) else str(target)
    started = time.monotonic()
    try:
        source = target if isinstance(target, FrameSource) else open_source(target, realtime=realtime)
    except EmodeskError as exc:
        return AnalysisOutcome(label, "failed", error=str(exc))
    stop = stop or threading.Event()
    recorder: SessionRecorder | None = None
    status, error = "complete", None
    try:
        recorder = SessionRecorder(
            session_path,
            source=source.info,
            models=pipeline.models,
            settings=pipeline.settings,
            labels=pipeline.labels,
        )
        expected = source.info.frame_count
        if max_frames is not None:
            expected = min(expected, max_frames) if expected else max_frames
        limit_reached = False
        results = pipeline.run(source, live=live, stop=stop)
        for result in results:
            recorder.add(result)
            if progress:
                progress(recorder.frames, expected)
            if (max_frames is not None and recorder.frames >= max_frames) or (
                duration_s is not None and time.monotonic() - started >= duration_s
            ):
                limit_reached = True  # the caller asked for this much: a complete run
                break
        results.close()
        if source.truncated:
            status = "truncated"
        elif stop.is_set() and not limit_reached:
            status = "stopped"
    except KeyboardInterrupt:
        status = "stopped"
        raise
    except EmodeskError as exc:
        status, error = "failed", str(exc)
    finally:
        source.close()
        warnings = tuple(source.warnings)
        path, summary = None, {}
        if recorder is not None:
            if recorder.frames == 0 and status != "complete":
                recorder.abandon()
                recorder.journal_path.unlink(missing_ok=True)
            else:
                try:
                    path = recorder.finish(status=status, warnings=warnings + ((error,) if error else ()))
                    summary = recorder.summary
                except EmodeskError as exc:
                    status, error = "failed", str(exc)
        outcome_frames = recorder.frames if recorder else 0
    return AnalysisOutcome(
        input=label,
        status=status,
        session_path=path,
        frames=outcome_frames,
        faces=len(summary.get("faces", ())),
        error=error,
        warnings=warnings,
        wall_s=time.monotonic() - started,
        mean_ms=dict(summary.get("timings", {})),
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
