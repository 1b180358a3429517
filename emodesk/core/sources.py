"""Frame sources: video files, cameras, stills, folders of images and network streams.

Every source reports what it knows (``SourceInfo``) and yields ``Frame``s with a media timestamp.
Problems with the input raise ``SourceError`` with one line naming the input; a file that stops decoding
early sets ``truncated`` and keeps every frame that did decode. A file with an undecodable stretch in the
middle is read past it: each stretch becomes a ``Gap`` in ``source.gaps`` (the session is then ``damaged``).
"""

from __future__ import annotations

import logging
import math
import os
import re
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# FFmpeg's own decoder chatter ("Invalid NAL unit size", "[mjpeg @ 0x…] bad vlc") would bury our one-line
# report. OpenCV reads this once, when the first capture opens, so emodesk/core/__init__.py sets it too
# (before any core module can open one); what a damaged file lost is logged by us, at debug level.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

# OpenCV's "[ WARN ] can't open camera by index" lines duplicate the one-line SourceError we raise
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

from emodesk.errors import SourceError  # noqa: E402

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg", ".flv", ".ts"})
STREAM_PATTERN = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)
DEFAULT_FPS = 30.0  # the frame rate assumed wherever a source does not say (the one place it is defined)
# consecutive failed reads of a file whose length is unknown before it counts as ended (a damaged stretch
# costs one failed read per lost packet; a read at the true end fails at once, so trying is cheap)
MAX_FAILED_READS = 64


@dataclass(frozen=True)
class SourceInfo:
    """What a source says about itself. ``fps``/``frame_count`` are None when unknown (cameras, stills)."""

    kind: str  # video | camera | image | images | stream
    path: str
    fps: float | None
    frame_count: int | None
    width: int
    height: int
    live: bool  # frames arrive in real time and may be dropped rather than queued

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "fps": self.fps,
            "frame_count": self.frame_count,
            "width": self.width,
            "height": self.height,
            "live": self.live,
        }


@dataclass(frozen=True)
class Gap:
    """Frames ``first_frame``..``last_frame`` (inclusive) of a file could not be decoded and were skipped;
    ``start_s``/``end_s`` is the media time they span."""

    first_frame: int
    last_frame: int
    start_s: float
    end_s: float

    @property
    def frames(self) -> int:
        return self.last_frame - self.first_frame + 1

    def to_json(self) -> dict[str, Any]:
        return {"first_frame": self.first_frame, "last_frame": self.last_frame, "start_s": self.start_s, "end_s": self.end_s}

    def describe(self) -> str:
        """``frames 120-131 (4.00-4.40 s)``: what a session's warning says of it."""
        return f"frames {self.first_frame}-{self.last_frame} ({self.start_s:.2f}-{self.end_s:.2f} s)"


@dataclass(frozen=True)
class Frame:
    index: int
    time_s: float
    image: np.ndarray  # HxWx3 uint8 BGR
    captured_at: float  # time.monotonic() when it was read
    decode_ms: float
    name: str | None = None  # the file name, for folders of images


class FrameSource(ABC):
    """Iterate ``frames()`` once; ``close()`` releases the device or file (also via ``with``)."""

    info: SourceInfo

    def __init__(self) -> None:
        self.truncated = False
        self.warnings: list[str] = []
        self.gaps: list[Gap] = []  # undecodable stretches skipped in the middle of a file

    @abstractmethod
    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None:  # noqa: B027 - most sources hold nothing
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warn(self, message: str) -> None:
        log.info(message)  # the caller reports ``warnings`` to the user once
        self.warnings.append(message)


def _check_readable_file(path: Path) -> None:
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied (not readable)")
    if path.is_file() and path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file (0 bytes)")


def read_image(path: Path) -> np.ndarray:
    """A still as HxWx3 BGR uint8 (grayscale and palette files are expanded, alpha dropped)."""
    _check_readable_file(path)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # cv2.imread cannot open non-ASCII paths on Windows
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: not an image OpenCV can decode")
    return image


def _mp4_index_missing(path: Path) -> bool:
    """True for an MP4/MOV whose top-level atoms stop before any 'moov' (the index): a cut-off file."""
    try:
        with path.open("rb") as fh:
            size_total = path.stat().st_size
            offset = 0
            seen: list[bytes] = []
            while offset + 8 <= size_total:
                fh.seek(offset)
                header = fh.read(16)
                size, kind = struct.unpack(">I4s", header[:8])
                if size == 1 and len(header) >= 16:
                    size = struct.unpack(">Q", header[8:16])[0]
                elif size == 0:
                    size = size_total - offset
                if size < 8:
                    return False
                seen.append(kind)
                offset += size
            return b"ftyp" in seen and b"moov" not in seen
    except OSError:
        return False


class VideoFileSource(FrameSource):
    """A video file. Timestamps come from the frame index (index / fps), so reruns are identical.

    With ``realtime=True`` frames are paced at the file's frame rate and the source behaves like a live
    camera (a virtual camera for tests and demos).
    """

    def __init__(self, path: Path, *, realtime: bool = False, start_frame: int = 0) -> None:
        super().__init__()
        _check_readable_file(path)
        if path.is_dir():
            raise SourceError(f"{path}: is a folder, not a video")
        self.path = path
        self.realtime = realtime
        self.start_frame = max(0, int(start_frame))
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            self._cap.release()
            if _mp4_index_missing(path):
                raise SourceError(
                    f"{path}: truncated MP4: the file ends before its index (moov atom), so no frame can be "
                    "decoded; re-export it or repair it against an intact file from the same camera"
                )
            raise SourceError(f"{path}: not a video OpenCV can open (unknown format or damaged file)")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            self.warn(f"{path}: no usable frame rate in the file; assuming {DEFAULT_FPS:g} fps")
            fps = DEFAULT_FPS
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self.info = SourceInfo(
            kind="video",
            path=str(path),
            fps=fps,
            frame_count=count if count > 0 else None,
            width=width,
            height=height,
            live=realtime,
        )
        if self.start_frame:
            # seeking: the GUI's slider and frame step restart the run here
            self.seek(self.start_frame)

    def seek(self, start_frame: int) -> None:
        """Make the next ``frames()`` start at ``start_frame`` (the window's player seeks one open file)."""
        self.start_frame = max(0, int(start_frame))
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, self.start_frame)

    def frames(self) -> Iterator[Frame]:
        fps = self.info.fps or DEFAULT_FPS
        start = time.monotonic() - self.start_frame / fps
        index = self.start_frame  # the index the next frame gets
        # Until a read fails, frames are numbered in order (reruns identical, whatever the timestamps say).
        # After a failure the file is damaged: FFmpeg skips the bad packets and decodes on, so from then on
        # each frame's index comes from its timestamp, and a jump forward is a gap.
        damaged = False
        failed = decoded = 0
        while True:
            t0 = time.perf_counter()
            ok, image = self._cap.read()
            decode_ms = (time.perf_counter() - t0) * 1000.0
            if not ok or image is None:
                failed += 1
                if failed > self._failed_reads_allowed(index):
                    break
                continue
            if failed:
                log.debug("%s: %d read(s) failed after frame %d; decoding resumed", self.path, failed, index - 1)
                damaged, failed = True, 0
            if damaged:
                stamped = self._stamped_index(fps, index)
                if stamped < index:  # a straggler from the damaged stretch, out of order: not shown twice
                    log.debug("%s: dropped a frame stamped %d after frame %d", self.path, stamped, index - 1)
                    continue
                if stamped > index:
                    self._add_gap(index, stamped - 1, fps)
                    index = stamped
            if self.realtime:
                delay = start + index / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            yield Frame(index, index / fps, image, time.monotonic(), decode_ms)
            index += 1
            decoded += 1
        expected = self.info.frame_count
        # container frame counts are estimates that can be off by one at the end
        if expected is not None and index < expected - 1:
            self.truncated = True
            if self.gaps:  # an AVI resyncs after damage as if no frame was lost: the count is all that tells
                missing = expected - index
                self.warn(
                    f"{self.path}: decoding ended at frame {index - 1} of {expected}: the file ends early or "
                    f"{missing} more frames were lost in the damaged stretch, in which case the times after "
                    f"frame {self.gaps[-1].last_frame} are up to {missing / fps:.2f} s early"
                )
            else:
                self.warn(f"{self.path}: truncated: decoded {decoded} of {expected} frames; results cover those")
        elif decoded == 0:
            self.truncated = True
            self.warn(f"{self.path}: no frame could be decoded")

    def _failed_reads_allowed(self, index: int) -> int:
        """Failed reads in a row before the file counts as ended: enough to cross any damaged stretch
        (one failed read per lost packet, at most the frames still expected)."""
        expected = self.info.frame_count
        return max(expected - index, 0) + 8 if expected is not None else MAX_FAILED_READS

    def _stamped_index(self, fps: float, index: int) -> int:
        """The index of the frame just read, from its timestamp (``index`` when the file gives none)."""
        ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
        if not math.isfinite(ms) or ms <= 0:
            return index
        return int(round(ms * fps / 1000.0))

    def _add_gap(self, first: int, last: int, fps: float) -> None:
        gap = Gap(first, last, round(first / fps, 3), round((last + 1) / fps, 3))
        self.gaps.append(gap)
        # the session reports gaps in its warnings (SessionRun); here only the log hears of it
        log.info("%s: damaged: frames %d-%d (%.2f-%.2f s) could not be decoded and were skipped",
                 self.path, first, last, gap.start_s, gap.end_s)

    def close(self) -> None:
        self._cap.release()


class ImageSource(FrameSource):
    """One still image: a single frame at time 0."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._image = read_image(path)
        h, w = self._image.shape[:2]
        self.info = SourceInfo("image", str(path), None, 1, w, h, live=False)

    def frames(self) -> Iterator[Frame]:
        yield Frame(0, 0.0, self._image, time.monotonic(), 0.0, name=self.path.name)


class ImageFolderSource(FrameSource):
    """Every image in a folder, sorted by name; each is an independent frame (time = its position)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        _check_readable_file(path)
        self.path = path
        try:
            entries = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        except OSError as exc:
            raise SourceError(f"{path}: cannot list the folder ({exc.strerror})") from exc
        if not entries:
            raise SourceError(f"{path}: folder has no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        self.files = entries
        subfolders = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        if subfolders:  # not searched: say so rather than silently analysing less than the user expects
            shown = ", ".join(subfolders[:3]) + (", …" if len(subfolders) > 3 else "")
            self.warn(f"{path}: {len(subfolders)} subfolder(s) skipped ({shown}); only the folder's own images are analysed")
        first = next((self._try_read(p) for p in entries), None)
        h, w = first.shape[:2] if first is not None else (0, 0)
        self.info = SourceInfo("images", str(path), None, len(entries), w, h, live=False)

    def _try_read(self, path: Path) -> np.ndarray | None:
        try:
            return read_image(path)
        except SourceError:
            return None

    def frames(self) -> Iterator[Frame]:
        index = 0
        for file in self.files:
            t0 = time.perf_counter()
            try:
                image = read_image(file)
            except SourceError as exc:
                self.warn(str(exc))  # one bad image does not lose the others
                continue
            yield Frame(index, float(index), image, time.monotonic(), (time.perf_counter() - t0) * 1000.0, file.name)
            index += 1
        if index == 0:
            raise SourceError(f"{self.path}: none of the {len(self.files)} images could be decoded")


class CaptureSource(FrameSource):
    """A camera (index or device path) or a network stream: live, timestamps from the wall clock."""

    def __init__(self, target: int | str, *, kind: str, width: int | None = None, height: int | None = None) -> None:
        super().__init__()
        self.target = target
        backend = cv2.CAP_ANY
        self._cap = cv2.VideoCapture(target, backend)
        if not self._cap.isOpened():
            self._cap.release()
            why = (
                "cannot open the camera (not connected, in use by another program, or no permission)"
                if kind == "camera"
                else "cannot open the stream (unreachable, wrong address, or a protocol OpenCV cannot read)"
            )
            raise SourceError(f"{target}: {why}")
        if width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.info = SourceInfo(
            kind=kind,
            path=str(target),
            fps=fps if math.isfinite(fps) and 0 < fps <= 1000 else None,
            frame_count=None,
            width=int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            height=int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
            live=True,
        )

    def frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        failures = 0
        while True:
            t0 = time.perf_counter()
            ok, image = self._cap.read()
            decode_ms = (time.perf_counter() - t0) * 1000.0
            if not ok or image is None:
                failures += 1
                # a camera can hiccup; several failures in a row mean it is gone
                if failures >= 10:
                    if index == 0:
                        raise SourceError(f"{self.target}: opened but delivered no frames")
                    self.warn(f"{self.target}: stopped delivering frames after {index} frames (unplugged?)")
                    return
                time.sleep(0.01)
                continue
            failures = 0
            now = time.monotonic()
            yield Frame(index, now - start, image, now, decode_ms)
            index += 1

    def close(self) -> None:
        self._cap.release()


def open_source(
    target: str | Path | int,
    *,
    realtime: bool = False,
    width: int | None = None,
    height: int | None = None,
    start_frame: int = 0,
) -> FrameSource:
    """Open a video file, image, folder of images, camera (``0``, ``/dev/video0``) or stream URL.

    ``start_frame`` (video files only) starts reading there; ``width``/``height`` ask a camera for a
    resolution (it may pick the nearest it supports; ``info`` says what it gave).
    """
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return CaptureSource(int(target), kind="camera", width=width, height=height)
    text = str(target)
    if isinstance(target, str) and STREAM_PATTERN.match(text):
        return CaptureSource(text, kind="stream")
    path = Path(text).expanduser()
    if text.startswith("/dev/video"):
        return CaptureSource(text, kind="camera", width=width, height=height)
    _check_readable_file(path)
    if path.is_dir():
        return ImageFolderSource(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource(path)
    return VideoFileSource(path, realtime=realtime, start_frame=start_frame)

