"""Playback: a view over the decoded video and the stored results. It never analyses a frame.

``FramePlayer`` is a QObject on its own QThread ("emodesk-player"): it decodes the frame the window asks
for (reading forward for small steps, seeking for jumps) and pairs it with the stored result of that frame,
looked up through a callable the window gives it (the running analysis' read-back, or a loaded session).
Both the decoding and the look-up may touch the disk, so neither runs on the GUI thread.

Requests coalesce: while a frame is being decoded only the newest request is kept, so dragging the slider
or a fast playback clock never queues a backlog.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from emodesk.core.results import FrameResult

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
        self._cap: cv2.VideoCapture | None = None
        self._next = 0  # the index the capture will decode next
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
        image = self._decode(index) if self._cap is not None else None
        try:
            result = lookup(index) if lookup is not None else None
        except Exception:
            log.exception("looking up the result of frame %d failed", index)
            result = None
        self.frameReady.emit(ShownFrame(request, index, image, result))

    def _open(self, path: Path) -> None:
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            self.failed.emit(f"{path}: cannot be opened for playback; results are shown without the video")
            return
        self._cap, self._next = cap, 0

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _decode(self, index: int) -> np.ndarray | None:
        cap = self._cap
        assert cap is not None
        try:
            if not 0 <= index - self._next < READ_FORWARD_MAX:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                self._next = index
            while self._next < index:  # grab() skips decoding into an image: cheap steps forward
                if not cap.grab():
                    return None
                self._next += 1
            ok, image = cap.read()
        except cv2.error:
            log.exception("decoding frame %d for playback failed", index)
            return None
        if not ok:
            self._next = -1  # unknown position: the next request seeks
            return None
        self._next = index + 1
        return image
