"""Playback: a view over the decoded video and the stored results. It never analyses a frame.

``FramePlayer`` is a QObject on its own QThread ("emodesk-player"): it decodes the frame the window asks
for (reading forward for small steps, seeking for jumps) and pairs it with the stored result of that frame,
looked up through a callable the window gives it (the running analysis' read-back, or a loaded session).
Both the decoding and the look-up may touch the disk, so neither runs on the GUI thread.

Requests coalesce: while a frame is being decoded only the newest request is kept, so dragging the slider
or a fast playback clock never queues a backlog.

Frames come from the analysis' own reader, ``VideoFileSource``: a damaged stretch in the middle of a file is
read past the same way (after a failed read, each frame's index comes from its timestamp), so a frame on
screen is the frame the analysis numbered so, and a frame inside the damage is shown as missing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from emodesk.core.results import FrameResult
from emodesk.core.sources import Frame, VideoFileSource
from emodesk.errors import EmodeskError, SourceError

log = logging.getLogger(__name__)

ResultLookup = Callable[[int], "FrameResult | None"]
READ_FORWARD_MAX = 48  # a jump forward shorter than this decodes through instead of seeking


@dataclass(frozen=True)
class ShownFrame:
    """One frame for the screen: the decoded image (None when the video cannot give it) and its result."""

    request: int  # the window's request number, to ignore answers it no longer wants
    index: int
    image: np.ndarray | None
    result: FrameResult | None


class FramePlayer(QObject):
    frameReady = Signal(object)  # ShownFrame
    failed = Signal(str)  # one line: the video cannot be opened for playback
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending: tuple[int, int] | None = None  # (request, index)
        self._path: Path | None = None
        self._lookup: ResultLookup | None = None
        self._reopen = False
        self._source: VideoFileSource | None = None
        self._frames: Iterator[Frame] | None = None  # the source's frames from the last seek on
        self._ahead: Frame | None = None  # read past a frame the damage took: it is the next one shown
        self._next = 0  # any index from here on is reached by reading forward
        self._told_failure = False  # one message per opened video, not one per frame that fails
        self._wake.connect(self._serve)

    # ---- GUI thread -------------------------------------------------------------------------------

    def set_source(self, path: Path | None, lookup: ResultLookup | None) -> None:
        """Play ``path`` (None: nothing) with results from ``lookup``; takes effect with the next request."""
        with self._lock:
            self._path = Path(path) if path is not None else None
            self._lookup = lookup
            self._reopen = True
            self._pending = None

    def set_lookup(self, lookup: ResultLookup | None) -> None:
        with self._lock:
            self._lookup = lookup

    def request(self, request: int, index: int) -> None:
        """Ask for frame ``index`` (thread-safe); answered by ``frameReady`` unless a newer request comes."""
        with self._lock:
            first = self._pending is None
            self._pending = (request, index)
        if first:
            self._wake.emit()

    def release(self) -> None:
        """Close the video (call from the GUI thread before the player's thread quits)."""
        self.set_source(None, None)
        self._wake.emit()

    # ---- player thread ----------------------------------------------------------------------------

    @Slot()
    def _serve(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, None
            path, lookup, reopen = self._path, self._lookup, self._reopen
            self._reopen = False
        if reopen:
            self._close()
            if path is not None:
                self._open(path)
        if pending is None:
            return
        request, index = pending
        image = self._decode(index) if self._source is not None else None
        try:
            result = lookup(index) if lookup is not None else None
        except Exception:
            log.exception("looking up the result of frame %d failed", index)
            result = None
        self.frameReady.emit(ShownFrame(request, index, image, result))

    def _open(self, path: Path) -> None:
        try:
            self._source = VideoFileSource(path)
        except SourceError as exc:
            self.failed.emit(f"{exc}; results are shown without the video")
            return
        self._told_failure = False
        self._seek(0)

    def _close(self) -> None:
        self._end_frames()
        if self._source is not None:
            self._source.close()
            self._source = None

    def _end_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()  # type: ignore[attr-defined]  # a generator: ends where it stands
        self._frames, self._ahead = None, None

    def _seek(self, index: int) -> None:
        assert self._source is not None
        self._end_frames()
        # the source adds its warnings and gaps on every pass; the analysis reports them, the player never
        self._source.warnings.clear()
        self._source.gaps.clear()
        self._source.seek(index)
        self._frames = self._source.frames()
        self._next = index

    def _decode(self, index: int) -> np.ndarray | None:
        """Frame ``index`` as the analysis numbers it; None at the end of the file or inside a damaged stretch."""
        try:
            if self._frames is None or not 0 <= index - self._next < READ_FORWARD_MAX:
                self._seek(index)
            assert self._frames is not None
            while True:
                frame, self._ahead = self._ahead or next(self._frames, None), None
                if frame is None:  # the end of the file: the next request seeks
                    self._end_frames()
                    return None
                if frame.index < index:
                    continue  # reading forward to the frame asked for
                self._next = index + 1
                if frame.index > index:  # the frame asked for is in a damaged stretch
                    self._ahead = frame
                    return None
                return frame.image
        except (cv2.error, EmodeskError, OSError) as exc:
            # a slot must not raise: the frame is shown as missing, one line tells why, the traceback is logged
            log.exception("decoding frame %d for playback failed", index)
            self._end_frames()
            if not self._told_failure:
                self._told_failure = True
                where = self._source.info.path if self._source is not None else "the video"
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self.failed.emit(f"{where}: frame {index} cannot be shown for playback: {text}")
            return None
