"""The pipeline generator on real clips: file vs live mode, detect-every-N, stop, stills."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import emodesk
from emodesk.core.pipeline import Pipeline
from emodesk.core.settings import Settings
from emodesk.core.sources import VideoFileSource, open_source, read_image
from emodesk.errors import EmodeskError
from tests.conftest import TEST_IMAGES, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(Settings(device="cpu"))


def test_public_api_is_the_engine(pipeline: Pipeline) -> None:
    assert emodesk.Pipeline is Pipeline and emodesk.Settings is Settings
    assert [m.kind for m in pipeline.models] == ["face_detector", "emotion_classifier"]
    assert all(m.providers == ("CPUExecutionProvider",) for m in pipeline.models)
    assert all(len(m.sha256) == 64 for m in pipeline.models)


def test_results_are_frozen_and_complete(pipeline: Pipeline) -> None:
    results = list(pipeline.run(open_source(CLIP), stop=None))
    assert [r.index for r in results] == list(range(250))
    r = results[10]
    with pytest.raises(AttributeError):
        r.index = 3  # type: ignore[misc]
    face = r.faces[0]
    assert face.track_id == 1 and not face.tracked
    assert len(face.landmarks) == 5
    assert set(face.probs) == set(pipeline.labels) == set(face.smoothed)
    assert face.emotion == max(face.smoothed, key=face.smoothed.get)
    t = r.timings
    assert t.total_ms >= t.detect_ms + t.classify_ms > 0


def test_smoothing_damps_changes_but_keeps_raw(pipeline: Pipeline) -> None:
    results = list(pipeline.run(CLIP))
    raw = np.array([r.faces[0].probs["happiness"] for r in results if r.faces])
    smooth = np.array([r.faces[0].smoothed["happiness"] for r in results if r.faces])
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(raw)).mean()
    assert not np.allclose(raw, smooth)


def test_detect_every_n_tracks_between_detections() -> None:
    pipe = Pipeline(Settings(device="cpu", detect_every=4))
    results = list(pipe.run(CLIP))
    assert [r.detected for r in results[:8]] == [True, False, False, False] * 2
    assert {f.track_id for r in results for f in r.faces} == {1}
    tracked = [r for r in results if not r.detected]
    assert tracked and all(r.faces and r.faces[0].tracked for r in tracked[5:])
    # predicted boxes stay on the face: compare with the next real detection
    for r in results[4:200:4]:
        prev = results[r.index - 1].faces[0].box
        box = r.faces[0].box
        assert abs(prev[0] - box[0]) < 0.1 * (box[2] - box[0])


def test_live_mode_drops_frames_instead_of_lagging(pipeline: Pipeline) -> None:
    """A virtual camera: the clip replayed at its real rate, through a deliberately slow model."""

    class Slow:
        def __init__(self, inner):  # noqa: ANN001
            self.inner = inner

        def __getattr__(self, name):  # noqa: ANN001
            return getattr(self.inner, name)

        def classify(self, frame, detections):  # noqa: ANN001
            time.sleep(0.1)  # 3 frame periods at 30 fps
            return self.inner.classify(frame, detections)

    slow = Pipeline(Settings(device="cpu"), detector=pipeline.detector, classifier=Slow(pipeline.classifier))
    source = VideoFileSource(CLIP, realtime=True)
    latencies, dropped = [], 0
    for result in slow.run(source, live=True):
        latencies.append(time.monotonic() - result.captured_at)
        dropped += result.dropped
        if result.index > 150:
            break
    processed = len(latencies)
    assert dropped > processed  # most frames were skipped, not queued
    # the newest frame is always taken: latency stays about one processing time, it does not grow
    assert max(latencies[5:]) < 0.5
    assert np.mean(latencies[-10:]) < 2 * np.mean(latencies[5:15]) + 0.05


def test_file_mode_never_drops(pipeline: Pipeline) -> None:
    results = list(pipeline.run(VideoFileSource(CLIP), live=False))
    assert len(results) == 250 and sum(r.dropped for r in results) == 0


def test_stop_event_ends_the_run_and_its_thread(pipeline: Pipeline) -> None:
    stop = threading.Event()
    seen = []
    for result in pipeline.run(CLIP, stop=stop):
        seen.append(result.index)
        if len(seen) == 5:
            stop.set()
    assert seen == [0, 1, 2, 3, 4]
    assert not [t for t in threading.enumerate() if t.name == "emodesk-reader"]


def test_breaking_out_closes_the_reader(pipeline: Pipeline) -> None:
    run = pipeline.run(CLIP)
    next(run)
    run.close()
    assert not [t for t in threading.enumerate() if t.name == "emodesk-reader"]


def test_still_image_api(pipeline: Pipeline) -> None:
    result = pipeline.analyze_image(read_image(TEST_IMAGES / "single_smile.jpg"))
    assert len(result.faces) == 1
    assert result.faces[0].emotion == "happiness" and result.faces[0].confidence > 0.6  # a clear top label


def test_source_errors_surface_as_emodesk_errors(pipeline: Pipeline, tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "x.mp4"
    bad.write_text("not a video")
    with pytest.raises(EmodeskError, match="x.mp4: not a video"):
        list(pipeline.run(bad))
