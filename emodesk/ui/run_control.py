"""Run control: the analysis worker and its thread, the run of the open source, and its journal's life.

``RunControl`` starts one SessionRun per opened source (or per change of analysis settings), forwards
the signals of the *current* run only (stragglers of replaced runs are dropped here), and deletes each
replaced run's journal on the jobs thread once that run has really ended. A clean quit therefore leaves
no journal behind, and the next launch offers no recovery; only a crash does.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QThread, Signal, Slot

from emodesk.core import live_session
from emodesk.core.recording import VideoRecorder
from emodesk.core.run import SessionRun
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo
from emodesk.ui.jobs import JobContext, JobRunner
from emodesk.ui.worker import AnalysisWorker, RunEnd, RunRequest

log = logging.getLogger(__name__)


def discard(run: SessionRun, context: JobContext | None = None) -> None:
    """Delete an ended run's journal (jobs thread)."""
    run.discard()


class RunControl(QObject):
    status = Signal(str)
    modelsReady = Signal(object)  # Models
    started = Signal(object, object)  # SessionRun, SourceInfo of the current run
    frameAnalysed = Signal(object)  # FrameResult of the current run
    ended = Signal(object)  # RunEnd of the current run
    recordingClosed = Signal(str, int)
    recordingFailed = Signal(str)

    def __init__(self, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.thread = QThread(self)
        self.thread.setObjectName("emodesk-worker")
        self.worker = AnalysisWorker()
        self.worker.moveToThread(self.thread)
        self.worker.status.connect(self.status)
        self.worker.modelsReady.connect(self.modelsReady)
        self.worker.runStarted.connect(self._on_started)
        self.worker.frameAnalysed.connect(self._on_frame)
        self.worker.runEnded.connect(self._on_ended)
        self.worker.recordingClosed.connect(self.recordingClosed)
        self.worker.recordingFailed.connect(self.recordingFailed)
        self.thread.start()
        self.run_id = 0
        self.run: SessionRun | None = None  # the current source's run, kept after it ends (review, export)
        self.running = False  # a run is requested or going
        self.live = False
        self._run_of: dict[int, SessionRun] = {}  # run id -> run, while its run() may still be going
        self._discard_when_ended: set[int] = set()  # ids of replaced runs: journal deleted once ended
        self._run_of_running: set[int] = set()  # ids whose run() has not returned yet

    def start(
        self,
        target: str | int,
        settings: Settings,
        *,
        live: bool,
        realtime: bool = False,
        keep_images: bool = False,
        camera_size: tuple[int, int] | None = None,
    ) -> int:
        """Replace the current run (if any) with a new one over ``target``; returns its id."""
        self.close()
        self.run_id += 1
        self.running = True
        self.live = live
        journal = live_session.recovery_journal_path(live_session.recovery_dir(), target)
        self.worker.submit(
            RunRequest(
                run_id=self.run_id,
                target=target,
                settings=settings,
                journal_path=journal,
                live=live,
                realtime=realtime,
                keep_images=keep_images,
                camera_size=camera_size,
            )
        )
        return self.run_id

    def stop(self) -> None:
        """End the current run between two frames; its results stay (status stopped). A run still loading
        its models or opening its source is stopped as soon as it is built."""
        self.worker.stop(self.run_id)

    def close(self) -> None:
        """Stop the current run, forget it and delete its journal once it has ended (jobs thread)."""
        old = self.run_id
        self.run_id += 1  # anything still coming from the old run is a straggler now
        self.worker.supersede(self.run_id)
        self.worker.stop()
        self.running = False
        self.run = None
        self._retire(old)

    def _retire(self, run_id: int) -> None:
        run = self._run_of.get(run_id)
        if run is None:
            # not started yet (or never will): its journal is deleted when it reports started/ended
            self._discard_when_ended.add(run_id)
            return
        if run_id not in self._run_of_running:  # its run() has returned: nothing writes the journal now
            self._run_of.pop(run_id, None)
            self.jobs.submit("discard journal", lambda ctx: discard(run, ctx))
        else:
            self._discard_when_ended.add(run_id)

    def set_recorder(self, recorder: VideoRecorder | None) -> None:
        self.worker.set_recorder(recorder)

    def shutdown(self) -> list[SessionRun]:
        """Stop the worker thread and return every run whose journal is to be deleted now that all runs
        have ended (the current one included); the caller discards them on the jobs thread."""
        self.worker.supersede(self.run_id + 1)
        self.worker.stop()
        self.thread.quit()
        if self.thread.wait(10000):
            self.worker.close_recorder_now()
            # the worker's own list: a run whose queued runStarted never reached this thread is not in
            # _run_of, and its journal must not be offered for recovery at the next launch
            runs = list({id(run): run for run in [*self._run_of.values(), *self.worker.built_runs()]}.values())
        else:
            log.error("the analysis thread did not stop within 10 s; journals are kept for recovery")
            runs = []
        self.running = False
        self.run = None
        self._run_of.clear()
        return runs

    # ---- worker signals (GUI thread) --------------------------------------------------------------

    @Slot(int, object, object)
    def _on_started(self, run_id: int, run: SessionRun, info: SourceInfo) -> None:
        self._run_of[run_id] = run
        self._run_of_running.add(run_id)
        if run_id != self.run_id:
            self._discard_when_ended.add(run_id)  # replaced before it started: it was stopped at once
            return
        self.run = run
        self.started.emit(run, info)

    @Slot(int, object)
    def _on_frame(self, run_id: int, result: object) -> None:
        if run_id == self.run_id:
            self.frameAnalysed.emit(result)

    @Slot(object)
    def _on_ended(self, end: RunEnd) -> None:
        self._run_of_running.discard(end.run_id)
        if end.run_id in self._discard_when_ended:
            self._discard_when_ended.discard(end.run_id)
            run = self._run_of.pop(end.run_id, None)
            if run is not None:
                self.jobs.submit("discard journal", lambda ctx: discard(run, ctx))
        if end.run_id != self.run_id:
            return
        self.running = False
        self.ended.emit(end)
