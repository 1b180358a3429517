"""Play, pause, seek, step and speed over a video file: a view, never an analysis.

``Playback`` owns the FramePlayer and its thread and a playback clock. Playing advances the frame on
screen by media time (fps × speed), so a slow decoder shows fewer frames rather than falling behind.
While the file is still being analysed, playing never runs past the newest analysed frame: it waits for
the analysis there ("buffering"), since what is shown is the stored result of each frame. Seeking and
stepping go anywhere; a frame that is not analysed yet is shown without overlay and says so. Play at the
end of the file starts again from the first frame.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from emodesk.core.sources import DEFAULT_FPS
from emodesk.ui.player import FramePlayer, ResultLookup, ShownFrame

log = logging.getLogger(__name__)

TICK_MS = 15


class Playback(QObject):
    frameShown = Signal(object)  # ShownFrame (the newest answer to the newest request)
    playingChanged = Signal(bool)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread(self)
        self.thread.setObjectName("emodesk-player")
        self.player = FramePlayer()
        self.player.moveToThread(self.thread)
        self.player.frameReady.connect(self._on_frame)
        self.player.failed.connect(self.failed)
        self.thread.start()
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self.fps = DEFAULT_FPS
        self.frame_count = 0
        self.speed = 1.0
        self.playing = False
        self.position = -1  # the frame on screen (or asked for)
        self.frontier: int | None = None  # newest analysed frame while an analysis runs; None: no limit
        self._request = 0
        self._answered = 0
        self._clock_index = 0  # where the clock started ...
        self._clock_start = 0.0  # ... and when
        self._active = False

    # ---- source -----------------------------------------------------------------------------------

    def open(self, video: Path | None, fps: float | None, frame_count: int | None, lookup: ResultLookup | None) -> None:
        """Play ``video`` with results from ``lookup``; ``video`` None: results only (no picture)."""
        self.pause()
        self.fps = fps or DEFAULT_FPS
        self.frame_count = int(frame_count or 0)
        self.position = -1
        self.frontier = None
        self._active = True
        self._answered = self._request
        self.player.set_source(video, lookup)

    def close(self) -> None:
        self.pause()
        self._active = False
        self.position = -1
        self.player.set_source(None, None)
        self._request += 1  # answers still on their way are for the closed source
        self._answered = self._request

    @property
    def active(self) -> bool:
        return self._active and self.frame_count > 0

    def set_frontier(self, index: int | None) -> None:
        """Newest analysed frame of a running analysis (playing waits there); None once it has ended."""
        self.frontier = index

    # ---- transport --------------------------------------------------------------------------------

    def play(self) -> None:
        if not self.active:
            return
        if self.position >= self.frame_count - 1:
            self.show(0)  # at the end: play again from the start
        self.playing = True
        self._restart_clock()
        self._timer.start()
        self.playingChanged.emit(True)

    def pause(self) -> None:
        was = self.playing
        self.playing = False
        self._timer.stop()
        if was:
            self.playingChanged.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, index: int) -> None:
        if not self.active:
            return
        self.show(max(0, min(int(index), self.frame_count - 1)))
        self._restart_clock()

    def step(self, delta: int) -> None:
        if not self.active:
            return
        self.pause()
        self.seek(max(self.position, 0) + delta)

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self._restart_clock()

    def show(self, index: int) -> None:
        """Ask the player for frame ``index`` (answered by ``frameShown``)."""
        self.position = index
        self._request += 1
        self.player.request(self._request, index)

    def refresh_current(self) -> None:
        """Ask again for the frame on screen (its result has just been analysed)."""
        if self.position >= 0:
            self.show(self.position)

    def shutdown(self) -> bool:
        self._timer.stop()
        self.player.set_source(None, None)
        self.thread.quit()
        finished = self.thread.wait(5000)
        if finished:
            self.player._close()  # the thread has ended: releasing the capture here is safe
        else:
            log.error("the playback thread did not stop within 5 s")
        return finished

    # ---- clock ------------------------------------------------------------------------------------

    def _restart_clock(self) -> None:
        self._clock_index = max(self.position, 0)
        self._clock_start = time.monotonic()

    @Slot()
    def _tick(self) -> None:
        if not self.playing:
            return
        if self._answered < self._request:
            return  # the previous frame is still being decoded: never queue a backlog
        target = self._clock_index + int((time.monotonic() - self._clock_start) * self.fps * self.speed)
        if self.frontier is not None and target > self.frontier:
            # the analysis has not reached this frame: wait there, and keep the clock from running ahead
            target = max(self.frontier, self.position)
            self._restart_clock_at(target)
        if target >= self.frame_count:
            if self.position < self.frame_count - 1:
                self.show(self.frame_count - 1)
            self.pause()
            return
        if target != self.position:
            self.show(target)

    def _restart_clock_at(self, index: int) -> None:
        self._clock_index = index
        self._clock_start = time.monotonic()

    @Slot(object)
    def _on_frame(self, shown: ShownFrame) -> None:
        self._answered = max(self._answered, shown.request)
        if shown.request != self._request:
            return  # superseded by a newer request
        self.frameShown.emit(shown)
