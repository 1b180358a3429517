"""Builds damaged and edge-case media from the shared clips, in a temporary folder."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _atoms(data: bytes, start: int = 0, end: int | None = None):
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
            header = 16
        elif size == 0:
            size = end - offset
        yield kind, offset, size, header
        offset += size


def _shift_chunk_offsets(moov: bytearray, delta: int) -> None:
    def walk(start: int, end: int) -> None:
        for kind, offset, size, header in _atoms(moov, start, end):
            body = offset + header
            if kind in _CONTAINERS:
                walk(body, offset + size)
            elif kind in (b"stco", b"co64"):
                count = struct.unpack(">I", moov[body + 4 : body + 8])[0]
                fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
                for i in range(count):
                    at = body + 8 + i * width
                    (value,) = struct.unpack(fmt, moov[at : at + width])
                    moov[at : at + width] = struct.pack(fmt, value + delta)

    walk(8, len(moov))


def faststart_mp4(src: Path, dst: Path) -> Path:
    """Rewrite an MP4 with its index (moov) before the media data, as streaming encoders do."""
    data = src.read_bytes()
    atoms = {kind: (offset, size) for kind, offset, size, _ in _atoms(data)}
    ftyp = data[: atoms[b"ftyp"][1]]
    moov_off, moov_size = atoms[b"moov"]
    moov = bytearray(data[moov_off : moov_off + moov_size])
    mdat_off, mdat_size = atoms[b"mdat"]
    _shift_chunk_offsets(moov, len(ftyp) + len(moov) - mdat_off)
    dst.write_bytes(ftyp + bytes(moov) + data[mdat_off : mdat_off + mdat_size])
    return dst


def cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def write_avi(src_video: Path, dst: Path, frames: int = 40) -> Path:
    """Re-encode the first frames of a clip as MJPG AVI (a format that survives truncation)."""
    cap = cv2.VideoCapture(str(src_video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, image = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = image.shape[:2]
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        writer.write(image)
    cap.release()
    assert writer is not None
    writer.release()
    return dst


def blank_image(dst: Path, size: tuple[int, int] = (480, 640)) -> Path:
    """A plain grey picture with some texture and no face."""
    rng = np.random.default_rng(0)
    image = np.full((*size, 3), 128, np.uint8)
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    cv2.imwrite(str(dst), image)
    return dst
