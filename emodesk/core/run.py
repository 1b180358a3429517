"""One object owns a run from start to finish: :class:`SessionRun` (no Qt).

``emodesk analyze``, the Python API (``analyze_file``), the window's worker and the cluster workers all
drive a source through a SessionRun, so their sessions are the same. API (for the WINDOW and CLUSTER
code)::

    run = SessionRun(pipeline, "clip.mp4", journal_path,      # opens the source and the journal now
                     live=None, realtime=False,               # live: latest-frame-wins (cameras; --live)
                     max_frames=None, duration_s=None,        # limits the caller asked for (still complete)
                     keep_images=False,                       # result.image for display (never journaled)
                     on_result=callback,                      # callback(FrameResult), on the run's thread
                     stop=None)                               # optional threading.Event that also ends the run
    run.source_info                  # SourceInfo, known before run()
    status = run.run()               # blocks: drive the pipeline on THIS (worker) thread -> RunStatus
    run.stop()                       # any thread: ends the run between two frames (status stopped)
    run.add_event(Event(...))        # any thread, during or after the run: journal + session events[]
    run.rename_event(event, "label") # any thread: journaled edits, replayed by the session writer and by
    run.remove_event(event)          #   recovery with the same rule (core.events.edit_events); an event is
    run.replace_event(old, new)      #   identified by (time_s, label): core.events.event_key
    run.set_baseline(interval|None)  # any thread: journaled; the session gets ``baseline`` (and calibrated
                                     #   valence_mean) exactly as ``emodesk analyze --baseline`` records it
    snap = run.snapshot()            # any thread: frozen RunSnapshot (status, counts, faces, last index, ...)
    run.record_at(index)             # FrameResult as stored for an analysed index, else None (from the
                                     #   journal via an offset index: memory stays bounded)
    run.analysed_indices()           # every analysed index, ascending (a timeline of what is analysed)
    run.save(path)                   # write a session JSON now (during or after the run); journal kept;
                                     #   mid-run: "status": "running" and what was on disk at that moment
    run.finish(session_path)         # after run(): write the session JSON, delete the journal, close
    run.close()                      # after run(): close, keeping the journal (recoverable); discard() deletes it
    run.status, run.error, run.warnings, run.counts, run.frames, run.journal_path, run.journal_failed

Every call but run() is thread-safe. Construction raises EmodeskError (SourceError, OutputError) when the
source or the journal cannot be opened; run() itself never raises for a bad input or a full disk (status
``failed``, ``error`` the one line), except KeyboardInterrupt, re-raised after the status is settled.
The journal file is created exclusively: an existing journal is never overwritten.

Rules it implements once:

- Status (:class:`RunStatus`): ``complete`` only when every frame the settings ask for was analysed
  (all of them; with ``sample_fps`` every sampled one; live: the source ended or the limit asked for was
  reached, drops counted), ``stopped`` (stop(), Ctrl+C, SIGTERM), ``truncated`` (the file ends early),
  ``damaged`` (undecodable stretches skipped, listed in warnings), ``failed`` (an error ended it; what was
  analysed is kept), ``recovered`` (rebuilt from a journal after a crash), ``running`` (saved mid-run).
- Drop accounting: the session's ``counts`` (delivered, processed, dropped, skipped) from the pipeline's
  :class:`~emodesk.core.reader.SourceCounts`; processed + dropped + skipped == delivered at the end.
- Duplicate frames: the first record of a frame index wins (see :mod:`emodesk.core.session`); a later
  result with the same index is not journaled and is counted in ``duplicates``.
- The journal is flushed and fsynced by a timer at least once a second while the run goes, also when no
  frame arrives (paused, stalled source), so a crash loses at most the last second.
- Per-face statistics: :class:`~emodesk.core.session.FaceStats`, fed from the same records as the journal.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event, edit_events, event_key
from emodesk.core.pipeline import STILL_KINDS
from emodesk.core.reader import SourceCounts
from emodesk.core.results import FrameResult, FrozenMap
from emodesk.core.session import (
    FLUSH_INTERVAL_S,
    JournalWriter,
    SessionSummary,
    analysis_json,
    new_header,
    read_record,
    write_session_from_journal,
)
from emodesk.core.sources import FrameSource, SourceInfo, open_source
from emodesk.errors import EmodeskError, OutputError

log = logging.getLogger(__name__)


_STOP_POLL_S = 0.1  # how often the caller's stop event is looked at (the pipeline checks ours as often)


class RunStatus(str, Enum):
    """How a run ended (``running`` while it goes). The value is what the session file says."""

    RUNNING = "running"
    COMPLETE = "complete"
    STOPPED = "stopped"
    TRUNCATED = "truncated"
    DAMAGED = "damaged"
    FAILED = "failed"
    RECOVERED = "recovered"

    def __str__(self) -> str:
        return self.value


class PipelineLike(Protocol):
    """What SessionRun needs of :class:`emodesk.core.pipeline.Pipeline` (tests pass a stand-in)."""

    settings: Any

    @property
    def models(self) -> list[Any]: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    def run(self, source: FrameSource, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class RunCounts:
    """Frames the source delivered and what became of each (see SourceCounts)."""

    delivered: int = 0
    processed: int = 0
    dropped: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, counts: SourceCounts) -> RunCounts:
        return cls(counts.delivered, counts.processed, counts.dropped, counts.skipped)

    @property
    def accounted(self) -> bool:
        return self.processed + self.dropped + self.skipped == self.delivered

    def to_json(self) -> dict[str, int]:
        return {"delivered": self.delivered, "processed": self.processed, "dropped": self.dropped, "skipped": self.skipped}


@dataclass(frozen=True)
class FaceSnapshot:
    """One face track's statistics: what the face and summary panels display, for a running session
    (``SessionRun.snapshot().faces``) and a saved one (``Session.faces``) alike.

    Built from the session file's ``faces[]`` record (:meth:`from_json`), so the panels show exactly the
    numbers the file holds.
    """

    id: int
    first_frame: int
    last_frame: int
    first_time_s: float
    last_time_s: float
    frames_seen: int
    on_screen_s: float | None  # media time continuously visible (None: a session written before it was kept)
    most_common: str | None  # the dominant emotion over the session (so far)
    dominant_counts: FrozenMap  # label -> frames in which it was the face's top emotion
    mean_probs: FrozenMap
    mean_confidence: FrozenMap  # label -> mean confidence over the frames it was the top emotion
    emotion: str | None = None  # a running session: the emotion in the latest frame it was seen in
    confidence: float = 0.0
    valence_mean: float | None = None  # FaceStats' (None: no valence, or a file written before it was kept)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, emotion: str | None = None, confidence: float = 0.0) -> FaceSnapshot:
        return cls(
            id=int(data["id"]),
            first_frame=int(data["first_frame"]),
            last_frame=int(data["last_frame"]),
            first_time_s=float(data["first_time_s"]),
            last_time_s=float(data["last_time_s"]),
            frames_seen=int(data["frames_seen"]),
            on_screen_s=None if data.get("on_screen_s") is None else float(data["on_screen_s"]),
            most_common=data.get("most_common"),
            dominant_counts=FrozenMap(data.get("dominant_counts", {})),
            mean_probs=FrozenMap(data.get("mean_probs", {})),
            mean_confidence=FrozenMap(data.get("mean_confidence", {})),
            emotion=emotion,
            confidence=confidence,
            valence_mean=None if data.get("valence_mean") is None else float(data["valence_mean"]),
        )


@dataclass(frozen=True)
class RunSnapshot:
    """A consistent, frozen view of a run for display; cheap enough for a 30 Hz timer."""

    status: RunStatus
    counts: RunCounts
    faces: tuple[FaceSnapshot, ...]
    last_index: int | None  # the highest analysed frame index
    last_time_s: float | None
    elapsed_s: float  # wall-clock seconds since run() started
    expected_frames: int | None  # frames the source says it has (None: live or unknown)
    analysis: FrozenMap  # {"mode": every_frame | sample_fps | latest_frame, "sample_fps": N or None}
    events: tuple[Event, ...]
    warnings: tuple[str, ...]
    error: str | None
    duplicates: int
    version: int  # bumped on every change: a panel can skip a redraw when it is unchanged
    baseline: BaselineInterval | None = None


class SessionRun:
    """Owns one analysis run: the source, the pipeline pass, the journal, statistics and the session file."""

    def __init__(
        self,
        pipeline: PipelineLike,
        source: FrameSource | str | Path | int,
        journal_path: str | Path,
        *,
        live: bool | None = None,
        realtime: bool = False,
        max_frames: int | None = None,
        duration_s: float | None = None,
        keep_images: bool = False,
        on_result: Callable[[FrameResult], None] | None = None,
        stop: threading.Event | None = None,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.pipeline = pipeline
        self.source = source if isinstance(source, FrameSource) else open_source(source, realtime=realtime)
        self.live = self.source.info.live if live is None else live
        self.max_frames = max_frames
        self.duration_s = duration_s
        self.keep_images = keep_images
        self.on_result = on_result
        self.flush_interval_s = flush_interval_s
        settings = pipeline.settings
        # stills are never sampled (the pipeline analyses every picture of a folder)
        still = self.source.info.kind in STILL_KINDS
        self.analysis = analysis_json(None if still else getattr(settings, "sample_fps", None), self.live)
        self.labels = tuple(pipeline.labels)
        try:
            self._journal = JournalWriter(journal_path)
        except BaseException:
            self.source.close()
            raise
        self._lock = threading.RLock()
        # ours, so that ending this run (stop(), a full disk) never sets an event the caller shares with
        # other runs; the caller's ``stop`` (e.g. SIGTERM in the CLI) is forwarded by the timer thread
        self._stop = threading.Event()
        self._external_stop = stop
        self._counts = SourceCounts()
        self._summary = SessionSummary(self.labels)
        self._indices = array("q")  # analysed frame indices, ascending ...
        self._offsets = array("q")  # ... and the byte offset of each one's journal line
        self._events: list[Event] = []
        self._baseline: BaselineInterval | None = None
        self._warnings: list[str] = []
        self._status = RunStatus.RUNNING
        self._error: str | None = None
        self._duplicates = 0
        self._last_time_s: float | None = None  # media time of the highest analysed index
        self._version = 0
        self._started: float | None = None
        self._ended: float | None = None
        self._last_checkpoint: RunCounts | None = None
        self._timer_done = threading.Event()
        self._ran = False
        self.summary: dict[str, Any] = {}  # the written document without its frames, after finish()
        try:
            self._journal.write(
                new_header(
                    source=self.source.info.to_json(),
                    models=pipeline.models,
                    settings=settings.to_json(),
                    labels=self.labels,
                    analysis=self.analysis,
                )
            )
            self._journal.flush()
        except BaseException:
            self.discard()  # not even the header could be written: nothing to keep
            raise

    # ------------------------------------------------------------------------------------------ facts

    @property
    def source_info(self) -> SourceInfo:
        return self.source.info

    @property
    def journal_path(self) -> Path:
        return self._journal.path

    @property
    def status(self) -> RunStatus:
        return self._status

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def journal_failed(self) -> bool:
        """The journal could not be written (a full disk): what it holds so far is all there is."""
        return self._journal.error is not None

    @property
    def warnings(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._warnings)

    @property
    def counts(self) -> RunCounts:
        return RunCounts.of(self._counts)

    @property
    def frames(self) -> int:
        """Frames analysed and journaled so far."""
        return len(self._indices)

    @property
    def timings(self) -> dict[str, float]:
        with self._lock:
            return self._summary.timings_json()

    # -------------------------------------------------------------------------------------------- run

    def stop(self) -> None:
        """End the run between two frames (thread-safe; the status becomes ``stopped``)."""
        self._stop.set()

    def run(self) -> RunStatus:
        """Analyse the source on the calling thread until it ends, a limit is reached or stop() is called.

        Never raises for a bad input or an output problem (the status says ``failed`` and ``error`` the
        one-line reason, everything analysed before is kept); KeyboardInterrupt ends the run as
        ``stopped`` and is re-raised.
        """
        if self._ran:
            raise RuntimeError("a SessionRun runs once")
        self._ran = True
        self._started = time.monotonic()
        if self._external_stop is not None and self._external_stop.is_set():
            self._stop.set()  # asked to stop before it started: ends at once, as stopped
        timer = threading.Thread(target=self._flush_loop, name="emodesk-journal-flush", daemon=True)
        limit_reached = False
        interrupted = False
        results = None
        # the timer and the pipeline start inside the try: if either raises, the finally still stops the
        # timer, closes the source and settles the status (it once stayed ``running``, the thread leaked)
        try:
            timer.start()
            results = self.pipeline.run(
                self.source, live=self.live, stop=self._stop, keep_images=self.keep_images, counts=self._counts
            )
            for result in results:
                self._add(result)
                if self.on_result is not None:
                    self.on_result(result)
                if (self.max_frames is not None and self.frames >= self.max_frames) or (
                    self.duration_s is not None and time.monotonic() - self._started >= self.duration_s
                ):
                    limit_reached = True  # the caller asked for this much: a complete run
                    break
        except KeyboardInterrupt:
            interrupted = True
            raise
        except EmodeskError as exc:  # a bad input, a full disk: one line, everything analysed is kept
            self._fail(str(exc))
        except Exception as exc:  # a bug must end the run with a message, not kill the worker thread
            log.exception("analysis of %s failed", self.source.info.path)
            self._fail(f"{self.source.info.path}: internal error: {exc}")
        finally:
            try:
                if results is not None:
                    results.close()  # joins the reader: the counts are final after this
            finally:
                if timer.ident is not None:  # started
                    self._timer_stop_and_join(timer)
                self.source.close()
                self._ended = time.monotonic()
                self._settle(limit_reached=limit_reached, interrupted=interrupted)
        return self._status

    def _timer_stop_and_join(self, timer: threading.Thread) -> None:
        self._timer_done.set()
        timer.join()

    def _flush_loop(self) -> None:
        """Flush and fsync the journal at least once a second until the run ends (also when idle), and
        forward the caller's stop event (checked ten times a second)."""
        next_flush = time.monotonic() + self.flush_interval_s
        while not self._timer_done.wait(min(_STOP_POLL_S, max(0.0, next_flush - time.monotonic()))):
            if self._external_stop is not None and self._external_stop.is_set():
                self._stop.set()
            if time.monotonic() < next_flush:
                continue
            next_flush = time.monotonic() + self.flush_interval_s
            try:
                self._checkpoint()
            except OutputError as exc:
                self._fail(str(exc))
                self._stop.set()  # nothing more can be kept: end the run; the journal so far stays
                return

    def _checkpoint(self) -> None:
        counts = self.counts
        if counts != self._last_checkpoint:
            # recovery after a crash takes drops and skips from the last checkpoint
            self._journal.write({"type": "counts", **counts.to_json()})
            self._last_checkpoint = counts
        self._journal.flush()

    def _fail(self, message: str) -> None:
        with self._lock:
            if self._error is None:
                self._error = message
            self._version += 1

    def _add(self, result: FrameResult) -> None:
        record = result.to_json()
        index = result.index
        with self._lock:
            pos = bisect.bisect_left(self._indices, index)
            if pos < len(self._indices) and self._indices[pos] == index:
                # the duplicate-frame rule: the first result of an index wins (see core.session)
                self._duplicates += 1
                log.debug("frame %d analysed twice; the first result is kept", index)
                return
            offset = self._journal.write({**record, "type": "frame"})
            self._indices.insert(pos, index)
            self._offsets.insert(pos, offset)
            if pos == len(self._indices) - 1:
                self._last_time_s = result.time_s
            self._summary.add(record)
            self._version += 1

    def _settle(self, *, limit_reached: bool, interrupted: bool) -> None:
        """Decide the final status from how the run ended and what the source reported."""
        source = self.source
        warnings = list(source.warnings)
        gaps = tuple(source.gaps)
        for gap in gaps:
            warnings.append(f"{source.info.path}: damaged: {gap.describe()} could not be decoded and were skipped")
        counts = self.counts
        if self.live and counts.dropped:
            warnings.append(
                f"live mode: {counts.dropped} of {counts.delivered} frames were dropped (latest frame wins), "
                f"{counts.processed} analysed"
            )
        if self._error is not None:
            status = RunStatus.FAILED
        elif interrupted:
            status = RunStatus.STOPPED
        elif gaps:
            status = RunStatus.DAMAGED
        elif source.truncated:
            status = RunStatus.TRUNCATED
        elif limit_reached:
            status = RunStatus.COMPLETE
        elif self._stop.is_set() or (self._external_stop is not None and self._external_stop.is_set()):
            status = RunStatus.STOPPED
        elif not self.live and counts.processed + counts.skipped != counts.delivered:
            # a file run that left frames unanalysed without being asked to is not complete
            warnings.append(f"{counts.dropped} of {counts.delivered} decoded frames were not analysed")
            status = RunStatus.STOPPED
        else:
            status = RunStatus.COMPLETE
        if self._error is not None:
            warnings.append(self._error)
        with self._lock:
            self._warnings.extend(w for w in warnings if w not in self._warnings)
            self._status = status
            self._version += 1
        try:
            self._journal.write(
                {
                    "type": "end",
                    "status": status.value,
                    "warnings": list(self._warnings),
                    "counts": counts.to_json(),
                    "wall_time_s": self.wall_time_s,
                }
            )
            self._journal.flush()
        except OutputError as exc:
            self._fail(str(exc))  # the journal so far is kept; finish() may still write the session

    @property
    def wall_time_s(self) -> float | None:
        if self._started is None:
            return None
        return round((self._ended or time.monotonic()) - self._started, 3)

    # ----------------------------------------------------------------------------- events and readers

    def add_event(self, event: Event) -> None:
        """Mark an event (thread-safe, during or after the run): journaled now, in the session's events[]."""
        with self._lock:  # journal order == list order, so a replay ends with the same list
            self._journal.write({"type": "event", **event.to_json()})
            self._events.append(event)
            self._version += 1
        self._flush_outside_run()

    def replace_event(self, old: Event, new: Event | None) -> bool:
        """Replace event ``old`` by ``new`` (None: delete it), journaled (an ``event_edit`` record that the
        session writer and recovery replay with the same rule, :func:`emodesk.core.events.edit_events`).

        ``old`` is found by its (time_s, label) (:func:`emodesk.core.events.event_key`); False when no
        event of the run has them (nothing is journaled then)."""
        key = event_key(old)
        with self._lock:
            if not edit_events(self._events, key, new):
                return False
            self._journal.write(
                {"type": "event_edit", "time_s": key[0], "label": key[1], "event": None if new is None else new.to_json()}
            )
            self._version += 1
        self._flush_outside_run()
        return True

    def rename_event(self, event: Event, label: str) -> bool:
        return self.replace_event(event, dataclasses.replace(event, label=label))

    def remove_event(self, event: Event) -> bool:
        return self.replace_event(event, None)

    @property
    def events(self) -> tuple[Event, ...]:
        with self._lock:
            return tuple(self._events)

    def set_baseline(self, interval: BaselineInterval | None) -> None:
        """Set (None: clear) the session's baseline interval, journaled; the session file records it as
        ``emodesk analyze --baseline`` does (interval, each face's resting probabilities, valence_mean)."""
        with self._lock:
            record = interval.to_json() if interval is not None else {"start_s": None, "end_s": None}
            self._journal.write({"type": "baseline", **record})
            self._baseline = interval
            self._version += 1
        self._flush_outside_run()

    @property
    def baseline(self) -> BaselineInterval | None:
        return self._baseline

    def _flush_outside_run(self) -> None:
        if self._ended is not None or self._started is None:
            self._journal.flush()  # no timer runs outside run(): make it durable now

    def record_at(self, index: int) -> FrameResult | None:
        """The stored result of analysed frame ``index`` (as the session file will hold it), else None.

        Read back from the journal through an in-memory offset index (16 bytes per frame), so a long
        session keeps no FrameResult in memory. Valid until finish() or discard().
        """
        with self._lock:
            pos = bisect.bisect_left(self._indices, index)
            if pos == len(self._indices) or self._indices[pos] != index:
                return None
            offset = self._offsets[pos]
        self._journal.make_readable(offset)  # the line may still be in the write buffer
        return FrameResult.from_json(read_record(self._journal.path, offset))

    def analysed_indices(self) -> tuple[int, ...]:
        """Every analysed frame index, ascending (e.g. for a timeline of what is analysed)."""
        with self._lock:
            return tuple(self._indices)

    def snapshot(self) -> RunSnapshot:
        """A frozen view for panels and status bars; safe to call from any thread at any time."""
        with self._lock:
            faces = tuple(
                FaceSnapshot.from_json(stats.to_json(self.labels), emotion=stats.emotion, confidence=stats.confidence)
                for _, stats in sorted(self._summary.faces.items())
            )
            last = self._indices[-1] if self._indices else None
            return RunSnapshot(
                status=self._status,
                counts=self.counts,
                faces=faces,
                last_index=last,
                last_time_s=self._last_time_s,
                elapsed_s=0.0 if self._started is None else (self._ended or time.monotonic()) - self._started,
                expected_frames=self.source.info.frame_count,
                analysis=FrozenMap(self.analysis),
                events=tuple(self._events),
                warnings=tuple(self._warnings),
                error=self._error,
                duplicates=self._duplicates,
                version=self._version,
                baseline=self._baseline,
            )

    # ------------------------------------------------------------------------------------ session file

    def save(self, path: str | Path) -> Path:
        """Write the session JSON of everything analysed so far (during or after the run); keeps the journal.

        Mid-run the file says ``"status": "running"`` (a partial session) and the counts so far.
        """
        running = self._ended is None and self._started is not None
        # mid-run the worker keeps appending: read only what was on disk at this moment, so that the
        # summary and frames[] describe the same frames
        upto = self._journal.flushed_size() if running else None
        # the counts of that same moment (drops and skips); processed is the frames read up to ``upto``
        counts = self.counts.to_json()
        self._journal.flush()
        self._write_session(path, upto=upto, counts=counts)
        return Path(path)

    def finish(self, session_path: str | Path) -> Path:
        """After run(): write the session JSON, then delete the journal and close.

        If the session cannot be written (a full disk) the journal is kept and OutputError says where.
        """
        if self._ran and self._ended is None:
            raise RuntimeError("finish() while the run is still going: stop() and wait for run() first")
        self._journal.close()
        self.summary = self._write_session(session_path)
        self._journal.path.unlink(missing_ok=True)
        return Path(session_path)

    def _write_session(
        self, path: str | Path, upto: int | None = None, counts: dict[str, int] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            status, warnings = self._status, list(self._warnings)
        return write_session_from_journal(
            self._journal.path,
            path,
            status=status.value,
            warnings=warnings,
            counts=counts if counts is not None else self.counts.to_json(),
            wall_time_s=self.wall_time_s,
            upto=upto,
        )

    def close(self) -> None:
        """Close the journal and keep it on disk (recoverable with ``emodesk recover``)."""
        self._journal.close()
        self.source.close()

    def discard(self) -> None:
        """Close and delete the journal (the user chose not to keep this session)."""
        self.close()
        self._journal.path.unlink(missing_ok=True)
