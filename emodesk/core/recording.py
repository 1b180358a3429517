"""Writing annotated frames to a video file (the GUI's "record" and later annotated-video export)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from emodesk.core.sources import DEFAULT_FPS
from emodesk.errors import OutputError

log = logging.getLogger(__name__)

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


def check_video_path(path: str | Path) -> Path:
    """``path`` if its suffix names a container we can write; else OutputError naming it (one line)."""
    path = Path(path)
    if path.suffix.lower() not in _FOURCC:
        raise OutputError(f"{path}: choose a .mp4, .mov, .mkv or .avi file name for the recording")
    return path


class VideoRecorder:
    """Frames of one size into ``path``; the size is taken from the first frame, later ones are resized."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = check_video_path(path)
        self.fps = float(fps) if fps and fps > 0 else DEFAULT_FPS
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame.shape[:2]
            self._size = (w - w % 2, h - h % 2)  # most codecs want even dimensions
            fourcc = cv2.VideoWriter_fourcc(*_FOURCC[self.path.suffix.lower()])
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, self._size)
            if not self._writer.isOpened():
                self._writer = None
                raise OutputError(f"{self.path}: cannot write a video here (folder not writable, or no encoder)")
        assert self._size is not None
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> Path:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        log.info("recorded %d frames to %s", self.frames, self.path)
        return self.path
