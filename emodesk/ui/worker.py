"""The analysis worker: one long-lived QObject on its own QThread, driving a core SessionRun.

Model loading, opening the source, decoding, inference, journal writing and recording (annotate + encode)
all happen on this thread, never on the GUI thread. The GUI asks for a run with ``submit`` (a queued
signal into this thread) and ends the current one with ``stop()``, which is safe from any thread. The
SessionRun owns the run's stop event, so nothing is left behind when a run ends.

Every exception while loading models or opening a source (not only EmodeskError) ends the request with
``runEnded`` carrying a one-line message; the traceback goes to the log. Results carry the id of the run
that produced them, so the window can ignore stragglers of a run it has already replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from emodesk.core.annotate import annotate
from emodesk.core.pipeline import Pipeline
from emodesk.core.recording import VideoRecorder
from emodesk.core.results import FrameResult
from emodesk.core.run import RunStatus, SessionRun
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo, open_source
from emodesk.errors import EmodeskError
from emodesk.inference.base import ModelInfo

log = logging.getLogger(__name__)

# settings that change the loaded models; the others only change how a run uses them
MODEL_KEYS = ("detector", "emotion", "device", "threshold", "max_faces", "det_size", "threads")


@dataclass(frozen=True)
class RunRequest:
    """One analysis run over a source.

    ``live``: latest-frame-wins (cameras, streams, the virtual camera); ``realtime`` paces a file at its
    frame rate (the virtual camera). ``keep_images`` sends each analysed frame's picture to the window
    (live sources and stills, whose display follows the analysis; video files are shown by the player).
    """

    run_id: int
    target: str | int
    settings: Settings
    journal_path: Path
    live: bool = False
    realtime: bool = False
    keep_images: bool = False
    camera_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Models:
    """What the window needs to know of the loaded models (never the Pipeline itself)."""

    models: tuple[ModelInfo, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RunEnd:
    run_id: int
    status: str  # a RunStatus value, or "failed" when the run could not even start
    frames: int
    warnings: tuple[str, ...] = ()
    error: str | None = None


class AnalysisWorker(QObject):
    """Lives on a worker QThread; its slots run there."""

    requestRun = Signal(object)  # RunRequest, from the GUI; queued into the worker thread
    status = Signal(str)  # model loading and other progress messages
    modelsReady = Signal(object)  # Models
    runStarted = Signal(int, object, object)  # run id, SessionRun, SourceInfo
    frameAnalysed = Signal(int, object)  # run id, FrameResult (.image only when keep_images)
    recordingFailed = Signal(str)
    recordingClosed = Signal(str, int)  # path, frames written
    _recorderChanged = Signal()
    runEnded = Signal(object)  # RunEnd

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._latest_request = 0  # requests older than this were superseded before they started
        # the newest run id the user stopped: a run stopped while its models load or its source opens
        # (no ``_current`` yet) is stopped as soon as it is built instead of running anyway
        self._stopped_request = 0
        # every run built here, in order: shutdown discards their journals even when a runStarted signal
        # has not reached the GUI thread yet (read only after the worker thread has ended)
        self._built: list[SessionRun] = []
        self._current: SessionRun | None = None
        self._pipeline: Pipeline | None = None
        self._recorder: VideoRecorder | None = None  # touched on the worker thread only
        self._wanted_recorder: VideoRecorder | None = None
        self._recorder_change = False
        self.selected: int | None = None  # the face highlighted in recordings (set from the GUI)
        self.requestRun.connect(self._run)
        self._recorderChanged.connect(self._apply_recorder)

    # ---- any thread -------------------------------------------------------------------------------

    def submit(self, request: RunRequest) -> None:
        """Queue a run (GUI thread). It supersedes any queued one; call ``stop()`` to end a running one."""
        with self._lock:
            self._latest_request = request.run_id
        self.requestRun.emit(request)

    def stop(self, run_id: int | None = None) -> None:
        """End the current run between two frames (thread-safe). With ``run_id``, that run (and any older
        one) is also stopped as soon as it is built if it is still loading models or opening its source.
        Other queued runs still start unless superseded."""
        with self._lock:
            if run_id is not None:
                self._stopped_request = max(self._stopped_request, run_id)
            run = self._current
        if run is not None:
            run.stop()

    def supersede(self, run_id: int) -> None:
        """Skip every queued run with an id below ``run_id`` (the source was closed or replaced)."""
        with self._lock:
            self._latest_request = max(self._latest_request, run_id)

    def set_recorder(self, recorder: VideoRecorder | None) -> None:
        """Record every analysed frame of the running live source into ``recorder`` (annotated and encoded
        on the worker thread); None stops and closes the current recording there (``recordingClosed``)."""
        with self._lock:
            self._wanted_recorder = recorder
            self._recorder_change = True
        self._recorderChanged.emit()  # applied at once when idle, else before the next frame is written

    @property
    def recording(self) -> bool:
        with self._lock:
            return self._wanted_recorder is not None

    def built_runs(self) -> list[SessionRun]:
        """Every run this worker has built (call only after the worker thread has ended)."""
        with self._lock:
            return list(self._built)

    def close_recorder_now(self) -> None:
        """After the worker thread has ended: close a recording still open (safe only then)."""
        self.set_recorder(None)
        self._apply_recorder()

    # ---- worker thread ----------------------------------------------------------------------------

    def _ensure_pipeline(self, settings: Settings) -> Pipeline:
        current = self._pipeline
        if current is not None and current.settings == settings:
            return current
        if current is not None and all(getattr(current.settings, k) == getattr(settings, k) for k in MODEL_KEYS):
            # only tracking, smoothing or sampling changed: keep the loaded models
            self._pipeline = Pipeline(settings, detector=current.detector, classifier=current.classifier)
        else:
            self._pipeline = None  # a failed load must not leave the old models looking current
            self.status.emit("Loading models…")
            started = time.monotonic()
            self._pipeline = Pipeline(settings)
            names = ", ".join(
                f"{m.id} ({m.providers[0].removesuffix('ExecutionProvider') if m.providers else '?'})"
                for m in self._pipeline.models
            )
            self.status.emit(f"Models ready in {time.monotonic() - started:.1f} s: {names}")
        self.modelsReady.emit(Models(tuple(self._pipeline.models), tuple(self._pipeline.labels)))
        return self._pipeline

    @Slot(object)
    def _run(self, request: RunRequest) -> None:
        with self._lock:
            superseded = request.run_id < self._latest_request
        if superseded:
            self.runEnded.emit(RunEnd(request.run_id, RunStatus.STOPPED.value, 0))
            return
        try:
            pipeline = self._ensure_pipeline(request.settings)
            width, height = request.camera_size or (None, None)
            request.journal_path.parent.mkdir(parents=True, exist_ok=True)
            source = open_source(request.target, realtime=request.realtime, width=width, height=height)
            try:
                run = SessionRun(
                    pipeline,
                    source,
                    request.journal_path,
                    live=request.live,
                    keep_images=request.keep_images,
                    on_result=lambda result: self._on_result(request.run_id, result),
                )
            except BaseException:
                source.close()
                raise
        except EmodeskError as exc:
            log.info("run %d did not start: %s", request.run_id, exc)
            self.runEnded.emit(RunEnd(request.run_id, RunStatus.FAILED.value, 0, error=str(exc)))
            return
        except Exception as exc:
            log.exception("run %d could not start", request.run_id)
            message = f"{request.target}: could not start the analysis: {type(exc).__name__}: {exc}".splitlines()[0]
            self.runEnded.emit(RunEnd(request.run_id, RunStatus.FAILED.value, 0, error=message))
            return
        with self._lock:
            self._current = run
            self._built.append(run)
            superseded = request.run_id < self._latest_request or request.run_id <= self._stopped_request
        if superseded:
            run.stop()  # cancelled or stopped while the models loaded: the run ends at once (status stopped)
        self.runStarted.emit(request.run_id, run, run.source_info)
        try:
            status = run.run()
        except Exception as exc:
            log.exception("run %d raised", request.run_id)
            status = RunStatus.FAILED
            self.runEnded.emit(RunEnd(request.run_id, status.value, run.frames, run.warnings, f"internal error: {exc}"))
            return
        finally:
            with self._lock:
                self._current = None
                if self._wanted_recorder is not None:  # the source ended: so does its recording
                    self._wanted_recorder, self._recorder_change = None, True
            self._apply_recorder()
        self.runEnded.emit(RunEnd(request.run_id, status.value, run.frames, run.warnings, run.error))

    @Slot()
    def _apply_recorder(self) -> None:
        with self._lock:
            if not self._recorder_change:
                return
            new, self._recorder_change = self._wanted_recorder, False
        old, self._recorder = self._recorder, new
        if old is not None and old is not new:
            path = old.close()
            self.recordingClosed.emit(str(path), old.frames)

    def _on_result(self, run_id: int, result: FrameResult) -> None:
        self._apply_recorder()
        recorder = self._recorder
        if recorder is not None and result.image is not None:
            try:
                recorder.write(annotate(result.image, result, selected=self.selected))
            except EmodeskError as exc:
                with self._lock:
                    if self._wanted_recorder is recorder:
                        self._wanted_recorder, self._recorder_change = None, True
                self._apply_recorder()
                self.recordingFailed.emit(str(exc))
        self.frameAnalysed.emit(run_id, result)


def source_label(info: SourceInfo) -> str:
    """Short text for the status bar."""
    name = Path(info.path).name if info.kind in ("video", "image", "images") else info.path
    return f"{info.kind}: {name}"
