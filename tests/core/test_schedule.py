"""Detect less, track more (Settings.adaptive_detection): the detector runs when tracks are uncertain, at
an input size fitted to the faces, and the held-out-style checks still hold on the shared media."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from emodesk.core.pipeline import Pipeline
from emodesk.core.schedule import DetectionSchedule, detect_scaled
from emodesk.core.settings import Settings
from emodesk.core.sources import Frame, FrameSource, SourceInfo, read_image
from emodesk.core.tracker import iou_matrix
from emodesk.inference.types import Detection
from tests.conftest import PHOTOS, TEST_IMAGES, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"


@pytest.fixture(scope="module")
def pipeline(cpu_pipeline: Pipeline) -> Pipeline:
    return cpu_pipeline  # loaded once per test run (tests/conftest.py)


def _adaptive(pipeline: Pipeline) -> Pipeline:
    return Pipeline(
        Settings(device="cpu", adaptive_detection=True), detector=pipeline.detector, classifier=pipeline.classifier
    )


class Repeated(FrameSource):
    """One photo shown as a still video (30 fps): the schedule, not the still path, decides each frame."""

    def __init__(self, image: np.ndarray, n: int) -> None:
        super().__init__()
        self.image, self.n = image, n
        h, w = image.shape[:2]
        self.info = SourceInfo("video", "repeated", 30.0, n, w, h, live=False)

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame(i, i / 30.0, self.image, time.monotonic(), 0.0)


def test_single_face_clip_keeps_one_id_with_far_fewer_detections(pipeline: Pipeline) -> None:
    results = list(_adaptive(pipeline).run(CLIP))
    assert len(results) == 250 and all(len(r.faces) == 1 for r in results)
    assert {f.track_id for r in results for f in r.faces} == {1}
    detected = sum(r.detected for r in results)
    assert detected < 0.5 * len(results)  # the face is large and moves smoothly: mostly tracked
    # still refreshed at full size at least once a second of media time
    times = [r.time_s for r in results if r.detected]
    assert max(np.diff(times)) <= 1.0 + 1e-6
    assert [f.to_json() for r in _adaptive(pipeline).run(CLIP) for f in r.faces] == [
        f.to_json() for r in results for f in r.faces
    ]  # deterministic


@pytest.mark.parametrize(
    "photo",
    [TEST_IMAGES / "group6_test_image.jpg", TEST_IMAGES / "single_smile.jpg", *sorted(PHOTOS.glob("*.jpg"))],
    ids=lambda p: p.stem,
)
def test_every_face_of_the_shared_photos_is_found_on_every_frame(pipeline: Pipeline, photo) -> None:
    image = read_image(photo)
    expected = len(pipeline.analyze_image(image).faces)
    if photo.stem == "group6_test_image":
        assert expected == 6  # MODELS.md
    results = list(_adaptive(pipeline).run(Repeated(image, 12)))
    assert [len(r.faces) for r in results] == [expected] * 12
    assert len({f.track_id for r in results for f in r.faces}) == expected  # stable IDs


def test_scaled_detection_finds_a_large_face_in_frame_coordinates(pipeline: Pipeline) -> None:
    image = read_image(TEST_IMAGES / "single_smile.jpg")
    full = max(pipeline.detector.detect(image), key=lambda d: d.width)
    small = max(detect_scaled(pipeline.detector, image, 0.4), key=lambda d: d.width)
    # the same face, mapped back to frame pixels (a missing mapping would be off by 4x)
    assert iou_matrix([full.box], [small.box])[0, 0] > 0.75
    assert np.allclose(full.landmarks, small.landmarks, atol=0.12 * full.width)


def _face(x: float, size: float = 200.0) -> Detection:
    return Detection(box=(x, 100.0, x + size, 100.0 + size), score=0.9)


def test_schedule_detects_when_uncertain_and_backs_off_when_predictions_hold() -> None:
    sched = DetectionSchedule(detector_input=(640, 640), can_downscale=True)
    frame = np.full((480, 640, 3), 90, np.uint8)
    assert sched.plan(frame, 0.0, [], force=False).detect  # nothing tracked: search
    plan = sched.plan(frame, 0.0, [_face(100)], force=True)
    sched.observed(frame, 0.0, plan, [], [_face(100)])  # a new face: look again next frame
    assert sched.plan(frame, 1 / 30, [_face(100)], force=False).detect
    decisions = []
    for i in range(2, 30):
        t = i / 30
        plan = sched.plan(frame, t, [_face(100)], force=False)
        decisions.append(plan.detect)
        if plan.detect:
            sched.observed(frame, t, plan, [_face(100)], [_face(101)])  # the prediction held
    assert 0 < sum(decisions) < len(decisions) // 2
    # a large face may be detected on a smaller frame; a refresh at full size comes within a second
    scaled = [sched.plan(frame, i / 30, [_face(100)], force=False) for i in range(30, 60)]
    assert any(p.detect and p.scale == 1.0 for p in scaled)
    # a poor prediction: the next frame is detected again
    plan = sched.plan(frame, 2.0, [_face(100)], force=True)
    sched.observed(frame, 2.0, plan, [_face(100)], [_face(180)])
    assert sched.plan(frame, 2.0 + 1 / 30, [_face(180)], force=False).detect
    # something new outside the tracked face: detect at full size
    plan = sched.plan(frame, 3.0, [_face(100)], force=True)
    sched.observed(frame, 3.0, plan, [_face(100)], [_face(100)])
    moved = frame.copy()
    moved[300:420, 450:600] = 250
    plan = sched.plan(moved, 3.0 + 1 / 30, [_face(100)], force=False)
    assert plan.detect and plan.scale == 1.0 and plan.reason == "motion"


def test_scale_fits_the_smallest_face() -> None:
    sched = DetectionSchedule(detector_input=(640, 640), can_downscale=True, min_face_px=96)
    frame = np.zeros((480, 480, 3), np.uint8)
    assert sched._scale(frame, [_face(10, 240)]) == pytest.approx(0.4)
    assert sched._scale(frame, [_face(10, 240), _face(300, 60)]) == 1.0  # a small face needs the full input
    assert DetectionSchedule(detector_input=(640, 640), can_downscale=False)._scale(frame, [_face(10, 240)]) == 1.0
