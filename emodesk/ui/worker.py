"""The analysis worker: one long-lived QObject on its own QThread, driving the core pipeline.

Model loading, decoding and inference all happen here, never on the GUI thread. The GUI asks for a run
with ``requestRun`` (a queued signal into this thread) and ends one with ``stop()``, which only sets an
event and is safe to call from any thread. Results carry the id of the run that produced them, so the
window can ignore stragglers from a run it has already replaced (a seek, a new file).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from emodesk.core.pipeline import Pipeline
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo, open_source
from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRequest:
    """One run of the pipeline over a source.

    ``live``: latest-frame-wins (cameras, streams, real-time playback of a file); ``realtime`` paces a
    file at its frame rate. ``start_frame``/``max_frames`` serve seeking, pausing and frame stepping.
    """

    run_id: int
    target: str | int
    settings: Settings
    live: bool = False
    realtime: bool = False
    start_frame: int = 0
    max_frames: int | None = None
    camera_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class RunEnd:
    run_id: int
    status: str  # complete | stopped | truncated | failed
    frames: int
    last_index: int | None
    warnings: tuple[str, ...] = ()
    error: str | None = None


class AnalysisWorker(QObject):
    """Lives on a worker QThread; its slots run there."""

    requestRun = Signal(object)  # RunRequest, from the GUI; queued into the worker thread
    status = Signal(str)  # model loading and other progress messages
    modelsReady = Signal(object)  # Pipeline (read-only use on the GUI side: models, labels)
    sourceOpened = Signal(int, object)  # run id, SourceInfo
    resultReady = Signal(int, object)  # run id, FrameResult with .image
    runEnded = Signal(object)  # RunEnd

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._stops: dict[int, threading.Event] = {}  # one per submitted run, so no stop is ever lost
        self._pipeline: Pipeline | None = None
        self.requestRun.connect(self._run)

    def submit(self, request: RunRequest) -> None:
        """Queue a run (GUI thread). Call ``stop()`` first to end the one in progress."""
        with self._lock:
            self._stops[request.run_id] = threading.Event()
        self.requestRun.emit(request)

    def stop(self) -> None:
        """End the current run between two frames, and skip any queued one. Thread-safe."""
        with self._lock:
            for event in self._stops.values():
                event.set()

    def _ensure_pipeline(self, settings: Settings) -> Pipeline:
        current = self._pipeline
        if current is not None and current.settings == settings:
            return current
        model_keys = ("detector", "emotion", "device", "threshold", "max_faces", "det_size", "threads")
        if current is not None and all(getattr(current.settings, k) == getattr(settings, k) for k in model_keys):
            # only tracking/smoothing options changed: keep the loaded models
            self._pipeline = Pipeline(settings, detector=current.detector, classifier=current.classifier)
        else:
            self.status.emit("Loading models…")
            started = time.monotonic()
            self._pipeline = Pipeline(settings)
            names = ", ".join(f"{m.id} ({m.providers[0].removesuffix('ExecutionProvider')})" for m in self._pipeline.models)
            self.status.emit(f"Models ready in {time.monotonic() - started:.1f} s: {names}")
        self.modelsReady.emit(self._pipeline)
        return self._pipeline

    @Slot(object)
    def _run(self, request: RunRequest) -> None:
        with self._lock:
            stop = self._stops.get(request.run_id)
        if stop is None or stop.is_set():
            self._finish(request, RunEnd(request.run_id, "stopped", 0, None))
            return
        frames, last_index, warnings = 0, None, ()
        try:
            pipeline = self._ensure_pipeline(request.settings)
            width, height = request.camera_size or (None, None)
            source = open_source(
                request.target,
                realtime=request.realtime,
                width=width,
                height=height,
                start_frame=request.start_frame,
            )
        except EmodeskError as exc:
            self._finish(request, RunEnd(request.run_id, "failed", 0, None, error=str(exc)))
            return
        status, error = "complete", None
        self.sourceOpened.emit(request.run_id, source.info)
        try:
            for result in pipeline.run(source, live=request.live, stop=stop, keep_images=True):
                self.resultReady.emit(request.run_id, result)
                frames += 1
                last_index = result.index
                if request.max_frames is not None and frames >= request.max_frames:
                    break
            if source.truncated:
                status = "truncated"
            elif stop.is_set():
                status = "stopped"
        except EmodeskError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker thread silently
            log.exception("analysis failed")
            status, error = "failed", f"{request.target}: internal error: {exc}"
        finally:
            source.close()
            warnings = tuple(source.warnings)
        self._finish(request, RunEnd(request.run_id, status, frames, last_index, warnings, error))

    def _finish(self, request: RunRequest, end: RunEnd) -> None:
        with self._lock:
            self._stops.pop(request.run_id, None)
        self.runEnded.emit(end)


def source_label(info: SourceInfo) -> str:
    """Short text for the status bar."""
    name = Path(info.path).name if info.kind in ("video", "image", "images") else info.path
    return f"{info.kind}: {name}"

