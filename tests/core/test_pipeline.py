"""The pipeline generator on real clips: file vs live mode, detect-every-N, stop, stills."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict

import numpy as np
import pytest

import emodesk
from emodesk.core.pipeline import Pipeline
from emodesk.core.reader import SourceCounts
from emodesk.core.results import FrameResult
from emodesk.core.settings import Settings
from emodesk.core.sources import VideoFileSource, open_source, read_image
from emodesk.errors import EmodeskError, ProviderError
from emodesk.inference import providers
from emodesk.inference.manifest import load_manifest
from emodesk.inference.store import resolve
from tests.conftest import TEST_IMAGES, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"


def _content(result: FrameResult) -> dict:
    """A result's session record without its timings (the only part that may differ run to run)."""
    record = result.to_json()
    record.pop("timings")
    return record


@pytest.fixture(scope="module")
def pipeline(cpu_pipeline: Pipeline) -> Pipeline:
    return cpu_pipeline  # loaded once per test run (tests/conftest.py)


def test_public_api_is_the_engine(pipeline: Pipeline) -> None:
    assert emodesk.Pipeline is Pipeline and emodesk.Settings is Settings
    assert [m.kind for m in pipeline.models] == ["face_detector", "emotion_classifier"]
    assert all(m.providers == ("CPUExecutionProvider",) for m in pipeline.models)
    assert all(len(m.sha256) == 64 for m in pipeline.models)


def test_results_are_frozen_and_complete(pipeline: Pipeline, analysed_clip) -> None:  # noqa: ANN001
    results = analysed_clip.results  # pipeline.run(VideoFileSource(CLIP)), shared by the tests that only read it
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


def test_smoothing_damps_changes_but_keeps_raw(analysed_clip) -> None:  # noqa: ANN001
    results = analysed_clip.results
    raw = np.array([r.faces[0].probs["happiness"] for r in results if r.faces])
    smooth = np.array([r.faces[0].smoothed["happiness"] for r in results if r.faces])
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(raw)).mean()
    assert not np.allclose(raw, smooth)


def test_detect_every_n_tracks_between_detections(pipeline: Pipeline) -> None:
    pipe = Pipeline(Settings(device="cpu", detect_every=4), detector=pipeline.detector, classifier=pipeline.classifier)
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
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def classify(self, frame, detections):
            time.sleep(0.1)  # 3 frame periods at 30 fps
            return self.inner.classify(frame, detections)

    slow = Pipeline(Settings(device="cpu"), detector=pipeline.detector, classifier=Slow(pipeline.classifier))
    source = VideoFileSource(CLIP, realtime=True)
    latencies, dropped = [], 0
    counts = SourceCounts()
    run = slow.run(source, live=True, counts=counts)
    for result in run:
        latencies.append(time.monotonic() - result.captured_at)
        dropped += result.dropped
        if result.index > 150:
            break
    run.close()
    processed = len(latencies)
    assert dropped > processed  # most frames were skipped, not queued
    # every frame the virtual camera delivered is accounted for, including those after the last one taken
    assert counts.processed == processed and counts.dropped >= dropped and counts.skipped == 0
    assert counts.accounted and counts.delivered > 150
    # the newest frame is always taken: latency stays about one processing time, it does not grow. A queue
    # that lagged would reach ~10 s by frame 150 (0.1 s a frame against 1/30 s); the bounds are generous
    # so that a loaded machine still passes
    assert max(latencies[5:]) < 2.0
    assert np.mean(latencies[-10:]) < 2 * np.mean(latencies[5:15]) + 0.5


def test_file_mode_never_drops(analysed_clip) -> None:  # noqa: ANN001
    counts, results = analysed_clip.counts, analysed_clip.results  # run with live=False and counts
    assert len(results) == 250 and sum(r.dropped for r in results) == 0
    assert (counts.delivered, counts.processed, counts.dropped, counts.skipped) == (250, 250, 0, 0)


@pytest.mark.parametrize("detect_every", [1, 3])
def test_overlapped_stages_give_the_sequential_results(pipeline: Pipeline, detect_every: int) -> None:
    """Decode, detect and classify overlap on consecutive frames, yet frames[] is what a sequential
    run gives (a clip with shot cuts and several faces)."""
    clip = VIDEOS / "short_hamilton_clip.mp4"
    settings = Settings(device="cpu", detect_every=detect_every)
    models = {"detector": pipeline.detector, "classifier": pipeline.classifier}
    sequential = [_content(r) for r in Pipeline(settings, overlap=False, **models).run(clip)]
    threads = set()
    overlapped = []
    for result in Pipeline(settings, **models).run(clip):
        overlapped.append(_content(result))
        threads.update(t.name for t in threading.enumerate())
    assert "emodesk-detect" in threads and "emodesk-reader" in threads
    assert overlapped == sequential
    assert any(r["shot_cut"] for r in sequential) and max(len(r["faces"]) for r in sequential) > 1


def test_a_model_error_mid_run_reaches_the_caller_and_every_frame_is_accounted(pipeline: Pipeline) -> None:
    class Failing:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def detect(self, frame):
            self.calls += 1
            if self.calls == 20:
                raise RuntimeError("detector failed")
            return self.inner.detect(frame)

    failing = Pipeline(Settings(device="cpu"), detector=Failing(pipeline.detector), classifier=pipeline.classifier)
    counts = SourceCounts()
    seen = 0
    with pytest.raises(RuntimeError, match="detector failed"):
        for _ in failing.run(CLIP, counts=counts):
            seen += 1
    assert seen == counts.processed == 19 and counts.dropped >= 1 and counts.accounted


def test_live_true_paces_a_file_path_like_a_camera(pipeline: Pipeline) -> None:
    """``run("clip.mp4", live=True)`` delivers frames no faster than the clip's frame rate."""
    counts = SourceCounts()
    start = time.monotonic()
    seen = []
    for result in pipeline.run(str(CLIP), live=True, counts=counts):
        seen.append(result)
        if time.monotonic() - start > 1.5:
            break
    elapsed = time.monotonic() - start
    fps = open_source(CLIP).info.fps
    # paced: the newest frame's media time cannot run ahead of the wall clock (plus a frame of slack)
    assert seen[-1].time_s <= elapsed + 1.0 / fps
    assert counts.delivered <= elapsed * fps + 2
    assert counts.accounted


def test_sample_fps_analyses_the_same_sampled_frames_and_counts_the_rest(pipeline: Pipeline) -> None:
    sampled = Pipeline(Settings(device="cpu", sample_fps=4.0), detector=pipeline.detector, classifier=pipeline.classifier)
    fps = open_source(CLIP).info.fps
    counts = SourceCounts()
    first = [_content(r) for r in sampled.run(CLIP, counts=counts)]
    indices = [f["index"] for f in first]
    # frame i is analysed iff it is the first at or after some k / 4 s
    expected = [next(i for i in range(250) if i / fps >= k / 4.0 - 1e-9) for k in range(int(250 / fps * 4) + 1)]
    assert indices == sorted(set(expected))
    assert (counts.delivered, counts.processed, counts.dropped) == (250, len(indices), 0)
    assert counts.skipped == 250 - len(indices) and counts.accounted
    assert [_content(r) for r in sampled.run(CLIP)] == first  # deterministic
    # media time drives tracking: the one face keeps one ID across the sampled frames
    assert {f["id"] for r in first for f in r["faces"]} == {1}


def test_stop_event_ends_the_run_and_its_thread(pipeline: Pipeline) -> None:
    stop = threading.Event()
    seen = []
    for result in pipeline.run(CLIP, stop=stop):
        seen.append(result.index)
        if len(seen) == 5:
            stop.set()
    assert seen == [0, 1, 2, 3, 4]
    assert not [t for t in threading.enumerate() if t.name == "emodesk-reader"]


def test_stopped_and_abandoned_runs_account_for_every_frame(pipeline: Pipeline) -> None:
    counts = SourceCounts()
    stop = threading.Event()
    for result in pipeline.run(CLIP, stop=stop, counts=counts):
        if result.index == 9:
            stop.set()
    assert counts.processed == 10 and counts.accounted and counts.delivered >= 10
    # a file run stopped on purpose: what was decoded ahead was unwanted, not dropped
    assert counts.dropped == 0 and counts.delivered == counts.processed + counts.skipped

    counts = SourceCounts()
    run = pipeline.run(CLIP, counts=counts)
    for _ in range(3):
        next(run)
    time.sleep(0.2)  # let the reader and detect stage fill their queues ahead
    run.close()
    assert counts.processed == 3 and counts.accounted
    assert (counts.delivered, counts.dropped) == (3, 0)  # a limit's break is no drop (was 3 of 9, 6 dropped)


def test_breaking_out_closes_the_reader(pipeline: Pipeline) -> None:
    run = pipeline.run(CLIP)
    next(run)
    run.close()
    assert not [t for t in threading.enumerate() if t.name == "emodesk-reader"]


def test_still_image_api(pipeline: Pipeline) -> None:
    result = pipeline.analyze_image(read_image(TEST_IMAGES / "single_smile.jpg"))
    assert len(result.faces) == 1
    assert result.faces[0].emotion == "happiness" and result.faces[0].confidence > 0.6  # a clear top label


def test_source_errors_surface_as_emodesk_errors(pipeline: Pipeline, tmp_path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_text("not a video")
    with pytest.raises(EmodeskError, match="x.mp4: not a video"):
        list(pipeline.run(bad))


def test_models_record_their_onnxruntime_threading(pipeline: Pipeline) -> None:
    cores = len(os.sched_getaffinity(0))
    for info in pipeline.models:
        runtime = info.runtime
        assert runtime is not None and runtime.cores == cores and not runtime.spinning
        # one core is left to the decoding thread when there is more than one
        assert runtime.intra_op_threads == max(1, min(cores - 1, providers.MAX_INTRA_OP_THREADS))
        assert asdict(info)["runtime"] == runtime.to_json()
    assert providers.plan_runtime(3).intra_op_threads == 3  # an explicit Settings.threads wins


def test_a_missing_tensorrt_is_one_line_on_stderr_not_an_ep_error_on_stdout(capfd: pytest.CaptureFixture) -> None:
    path = resolve(load_manifest().get("yunet_n"))
    try:
        got = providers.create_session(path, "tensorrt")
    except ProviderError as exc:
        message = str(exc)
        assert "\n" not in message and "TensorRT" in message and "yunet_n_dynamic.onnx" in message
    else:  # a machine with TensorRT
        assert got.providers[0] == providers.TENSORRT
    out, _ = capfd.readouterr()
    assert "EP Error" not in out and out == ""
