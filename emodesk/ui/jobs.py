"""Disk and encoder work of the window on its own thread: exports, loading a saved session, discarding a
journal, closing a recording. The GUI thread never waits on a file.

``JobRunner`` is a QObject on a QThread ("emodesk-jobs"). ``submit(name, fn)`` queues a callable that
takes a :class:`JobContext` (progress and cancel); the outcome comes back as ``finished(Job)``. Every
exception becomes a one-line message (the traceback goes to the log), so a failed export never takes the
window down. Jobs run one after another, in the order they were submitted.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)


@dataclass
class JobContext:
    """Handed to a job: report progress, look at the cancel flag (thread-safe both)."""

    job_id: int
    cancel: threading.Event
    _progress: Callable[[int, int, int], None]

    def progress(self, done: int, total: int | None) -> None:
        self._progress(self.job_id, int(done), int(total or 0))


@dataclass
class Job:
    job_id: int
    name: str
    fn: Callable[[JobContext], Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: str | None = None
    cancelled: bool = False


class JobRunner(QObject):
    _queued = Signal(object)  # Job, into the jobs thread
    progress = Signal(int, int, int)  # job id, done, total
    finished = Signal(object)  # Job (result, error or cancelled set)

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._queued.connect(self._execute)

    def submit(self, name: str, fn: Callable[[JobContext], Any]) -> Job:
        """Queue ``fn(context)``; returns the Job (its id matches ``finished``/``progress``)."""
        job = Job(next(self._ids), name, fn)
        with self._lock:
            self._jobs[job.job_id] = job
        self._queued.emit(job)
        return job

    def cancel(self, job_id: int | None = None) -> None:
        """Ask one job (or every pending one) to stop; a job checks its flag between steps."""
        with self._lock:
            jobs = [self._jobs[job_id]] if job_id in self._jobs else ([] if job_id else list(self._jobs.values()))
        for job in jobs:
            job.cancel.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    @Slot(object)
    def _execute(self, job: Job) -> None:
        context = JobContext(job.job_id, job.cancel, self.progress.emit)
        try:
            job.result = job.fn(context)
        except EmodeskError as exc:
            job.cancelled = job.cancel.is_set() and type(exc).__name__ == "ExportCancelled"
            job.error = None if job.cancelled else str(exc)
        except Exception as exc:
            log.exception("%s failed", job.name)
            job.error = f"{job.name} failed: {type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            with self._lock:
                self._jobs.pop(job.job_id, None)
        self.finished.emit(job)
