"""Which cameras this machine has, with names where the platform gives them.

Linux names come from sysfs (instant, nothing opened); elsewhere OpenCV has no name API, so the first few
indices are probed and called "Camera N". ``EMODESK_VIRTUAL_CAMERA=clip.mp4`` adds a virtual camera that
replays a file at its real frame rate through the live code path (for demos and for machines without one).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ENV_VIRTUAL_CAMERA = "EMODESK_VIRTUAL_CAMERA"


@dataclass(frozen=True)
class CameraInfo:
    target: int | str  # what open_source() takes: an index, a device path, or a file for a virtual camera
    name: str
    virtual: bool = False


def _linux_cameras() -> list[CameraInfo]:
    found = []
    for node in sorted(Path("/sys/class/video4linux").glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        try:
            name = (node / "name").read_text(encoding="utf-8", errors="replace").strip()
            # a UVC camera exposes a metadata node beside the capture node; index 0 of the pair captures
            if (node / "index").is_file() and (node / "index").read_text().strip() not in ("", "0"):
                continue
        except OSError:
            continue
        found.append(CameraInfo(f"/dev/{node.name}", f"{name} (/dev/{node.name})"))
    return found


def _probed_cameras(limit: int = 4) -> list[CameraInfo]:
    import cv2

    found = []
    for index in range(limit):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                found.append(CameraInfo(index, f"Camera {index}"))
        finally:
            cap.release()
    return found


def list_cameras() -> list[CameraInfo]:
    cameras = _linux_cameras() if sys.platform.startswith("linux") else _probed_cameras()
    virtual = os.environ.get(ENV_VIRTUAL_CAMERA, "").strip()
    if virtual:
        cameras.append(CameraInfo(virtual, f"Virtual camera ({Path(virtual).name})", virtual=True))
    return cameras
