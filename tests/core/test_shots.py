"""Shot-cut detection on the real clips (one with three cuts, two without)."""

from __future__ import annotations

import cv2
import numpy as np

from emodesk.core.shots import ShotCutDetector
from tests.conftest import VIDEOS


def cuts_in(video: str) -> list[int]:
    detector = ShotCutDetector()
    cap = cv2.VideoCapture(str(VIDEOS / video))
    found, index = [], 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if detector.is_cut(image):
            found.append(index)
        index += 1
    cap.release()
    return found


def test_the_three_cuts_of_the_hamilton_clip() -> None:
    assert cuts_in("short_hamilton_clip.mp4") == [20, 82, 211]


def test_no_cuts_in_continuous_shots() -> None:
    assert cuts_in("facenet-pytorch_video.mp4") == []  # people walking toward the camera
    assert cuts_in("liveportrait_d19.mp4") == []


def test_lighting_change_alone_is_not_a_cut() -> None:
    cap = cv2.VideoCapture(str(VIDEOS / "liveportrait_d19.mp4"))
    _, image = cap.read()
    cap.release()
    detector = ShotCutDetector()
    assert not detector.is_cut(image)
    assert not detector.is_cut(np.clip(image.astype(np.int16) + 12, 0, 255).astype(np.uint8))
    assert detector.is_cut(np.ascontiguousarray(image[::-1, ::-1, ::-1]))  # a different picture
