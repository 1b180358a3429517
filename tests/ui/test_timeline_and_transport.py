"""The session timeline, the transport bar, the status bar, the export type rule and the frame player."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QThread

from emodesk.core.events import Event
from emodesk.core.results import FaceResult, FrameResult
from emodesk.errors import SourceError
from emodesk.ui.export_actions import kind_of, with_suffix
from emodesk.ui.player import FramePlayer
from emodesk.ui.status_bar import AnalysisStatusBar
from emodesk.ui.timeline import BINS, LIVE_START_FRAMES, SessionTimeline
from emodesk.ui.transport import TransportBar
from tests.conftest import VIDEOS

LABELS = ("anger", "happiness", "neutral")


def result(index: int, emotions: dict[int, str], fps: float = 30.0) -> FrameResult:
    faces = tuple(
        FaceResult(tid, (0.0, 0.0, 10.0, 10.0), 0.9, None, {e: 1.0}, {e: 1.0}, e, 1.0) for tid, e in emotions.items()
    )
    return FrameResult(index, index / fps, faces)


def test_timeline_colours_each_stretch_by_its_dominant_emotion_and_seeks_on_click(qtbot) -> None:
    timeline = SessionTimeline()
    qtbot.addWidget(timeline)
    timeline.resize(BINS + 8, 40)
    timeline.show()
    timeline.reset(LABELS, 600, 30.0)
    for i in range(300):  # the first half analysed: face 1 happy, face 2 angry in the first 100 frames
        timeline.add_result(result(i, {1: "happiness", **({2: "anger"} if i < 100 else {})}))
    assert timeline.dominant_at(450) is None  # not analysed yet
    assert timeline.dominant_at(250) == "happiness"
    timeline.select(2)
    assert timeline.dominant_at(50) == "anger" and timeline.dominant_at(250) is None
    assert timeline.analysed_bins() == BINS // 2
    with qtbot.waitSignal(timeline.seekRequested, timeout=1000) as blocker:
        qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(4 + BINS * 3 // 4, 30))
    assert blocker.args[0] == pytest.approx(450, abs=2)
    timeline.set_events([Event(5.0, "stimulus", frame=150, source="key")])
    timeline.grab()  # paints markers, playhead and bins without error


def test_a_live_timeline_grows_with_the_session_and_keeps_its_bins(qtbot) -> None:
    timeline = SessionTimeline()
    qtbot.addWidget(timeline)
    timeline.reset(LABELS, None, 30.0)
    for i in range(0, 3 * LIVE_START_FRAMES, 7):
        timeline.add_result(result(i, {1: "neutral"}))
    assert timeline.frame_span == 4 * LIVE_START_FRAMES  # doubled twice
    assert timeline.dominant_at(0) == "neutral" and timeline.dominant_at(3 * LIVE_START_FRAMES - 10) == "neutral"
    assert timeline._all.shape == (BINS, len(LABELS))  # memory does not grow with the session


def test_transport_analysis_mode_and_progress(qtbot) -> None:
    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.set_source(30.0, 300, seekable=True)
    with qtbot.waitSignal(bar.sampleFpsChanged, timeout=1000) as blocker:
        bar.mode.setCurrentIndex(1)
    assert blocker.args == [4.0] and bar.sample_fps == 4.0
    with qtbot.assertNotEmitted(bar.sampleFpsChanged):
        bar.set_sample_fps(None)  # showing the open session's mode is not a request to change it
    assert bar.sample_fps is None
    bar.show()
    bar.set_progress(150, 300)
    assert bar.progress.isVisible() and bar.progress.value() == 50
    bar.set_progress(None, None)
    assert not bar.progress.isVisible()
    with qtbot.waitSignal(bar.speedChanged, timeout=1000) as speed:
        bar.speed.setCurrentIndex(bar.speed.count() - 1)
    assert speed.args == [4.0]


def test_status_bar_counts_the_current_run_only_and_shows_no_latency_when_not_running(qtbot) -> None:
    status = AnalysisStatusBar()
    qtbot.addWidget(status)
    status.start_run(live=True)
    for _ in range(5):
        status.count_frame(dropped=2)
    status.note_latency(120.0)
    status.refresh()
    assert "dropped 10" in status.rates.text() and status.latency.text() == "latency 120 ms"
    status.end_run()  # stopped or paused
    status.note_latency(50.0)
    status.refresh()
    assert status.latency.text() == ""
    status.start_run(live=False, expected=100)
    status.count_frame(0)
    status.refresh()
    assert status.rates.text().startswith("analysed 1 of 100")


@pytest.mark.parametrize(
    ("name", "chosen", "expected"),
    [
        ("a.csv", "json", "csv"),  # the name typed names another type: that type
        ("a.session.json", "json", "json"),
        ("a.json", "csv", "json"),
        ("a", "png", "png"),  # no known suffix: the type chosen
        ("report.pdf", "pdf", "pdf"),
        ("clip.mp4", "video", "video"),
    ],
)
def test_the_type_written_is_the_type_chosen(name: str, chosen: str, expected: str) -> None:
    assert kind_of(Path(name), chosen) == expected


def test_a_name_without_the_types_suffix_gets_it() -> None:
    assert with_suffix(Path("out"), "csv") == Path("out.csv")
    assert with_suffix(Path("out.csv"), "csv") == Path("out.csv")
    assert with_suffix(Path("graph"), "png") == Path("graph.png")


def test_player_decodes_the_frame_asked_for_forwards_backwards_and_far(qtbot) -> None:
    clip = VIDEOS / "liveportrait_d19.mp4"
    cap = cv2.VideoCapture(str(clip))
    reference = []
    for _ in range(120):
        _ok, image = cap.read()
        reference.append(image)
    cap.release()
    thread = QThread()
    player = FramePlayer()
    player.moveToThread(thread)
    thread.start()
    try:
        player.set_source(clip, lambda index: result(index, {1: "neutral"}))
        for n, index in enumerate((0, 1, 2, 40, 10, 119, 118), 1):
            with qtbot.waitSignal(player.frameReady, timeout=10000) as blocker:
                player.request(n, index)
            shown = blocker.args[0]
            assert (shown.request, shown.index, shown.result.index) == (n, index, index)
            # the same picture as decoding in order (a seek lands on the frame, not a keyframe near it)
            assert np.abs(shown.image.astype(int) - reference[index].astype(int)).mean() < 2.0
    finally:
        player.release()
        thread.quit()
        thread.wait(5000)
        player._close()


def test_player_reads_past_damage_and_numbers_frames_as_the_analysis_does(qtbot, tmp_path: Path) -> None:
    from emodesk.core.sources import VideoFileSource
    from tests.core.test_damaged_video import frames_before_first_failure, randomise
    from tests.media import faststart_mp4

    damaged = randomise(faststart_mp4(VIDEOS / "liveportrait_d19.mp4", tmp_path / "fast.mp4"), tmp_path / "damaged.mp4")
    with VideoFileSource(damaged) as source:
        analysed = {frame.index: frame.image for frame in source.frames()}
        gaps = list(source.gaps)
        count = source.info.frame_count
    assert gaps and frames_before_first_failure(damaged) < gaps[0].first_frame + 1  # the damage stops cv2.read
    thread = QThread()
    player = FramePlayer()
    player.moveToThread(thread)
    thread.start()
    shown: dict[int, np.ndarray | None] = {}
    try:
        player.set_source(damaged, None)
        for index in range(count):  # stepping forward frame by frame, as playing does
            with qtbot.waitSignal(player.frameReady, timeout=10000) as blocker:
                player.request(index + 1, index)
            shown[index] = blocker.args[0].image
    finally:
        player.release()
        thread.quit()
        thread.wait(5000)
        player._close()
    in_gaps = {i for gap in gaps for i in range(gap.first_frame, gap.last_frame + 1)}
    assert {i for i, image in shown.items() if image is not None} == set(analysed)  # past the damage too
    assert all(shown[i] is None for i in in_gaps)
    after = [i for i in analysed if i > gaps[-1].last_frame]
    assert after and all(np.array_equal(shown[i], analysed[i]) for i in after)  # the same frame at each index


def test_the_baseline_is_a_band_on_the_timeline_and_b_starts_then_ends_it(qtbot) -> None:
    from emodesk.core.baseline import BaselineInterval
    from emodesk.ui.event_markers import EventMarkers

    markers = EventMarkers()
    timeline = SessionTimeline()
    qtbot.addWidget(timeline)
    markers.baselineChanged.connect(timeline.set_baseline)
    timeline.resize(BINS + 8, 40)
    timeline.show()
    timeline.reset(LABELS, 600, 30.0)
    assert [edge for edge, _ in timeline.baseline_actions()] == ["start"]
    assert markers.mark_baseline(6.0) is None and markers.baseline_start == 6.0
    assert [edge for edge, _ in timeline.baseline_actions()] == ["start", "end", "clear"]
    version = markers.version
    assert markers.mark_baseline(2.0) == BaselineInterval(2.0, 6.0) == timeline.baseline  # either order in time
    assert markers.version > version  # an unexported baseline counts as unsaved, like a new marker
    image = timeline.grab().toImage()
    inside, outside = image.pixelColor(4 + BINS * 4 // 20, 25), image.pixelColor(4 + BINS * 12 // 20, 25)
    assert inside.blue() > inside.red() and inside != outside  # the blue band over 2-6 s only
    assert markers.mark_baseline(3.0) is None and markers.baseline == BaselineInterval(2.0, 6.0)  # a new start
    assert markers.end_baseline(3.0) is None  # zero length: nothing changes
    markers.set_baseline(None)
    assert timeline.baseline is None


@pytest.mark.parametrize("error", [SourceError("the file changed under the player"), OSError(5, "Input/output error")])
def test_player_shows_a_frame_that_cannot_be_read_as_missing_with_one_line(qtbot, monkeypatch, error: Exception) -> None:
    from emodesk.core.sources import VideoFileSource

    def broken_frames(self):
        raise error
        yield  # a generator, as the real one is

    monkeypatch.setattr(VideoFileSource, "frames", broken_frames)
    player = FramePlayer()  # on this thread: the slot runs inside request(), so an escaping error fails here
    messages: list[str] = []
    player.failed.connect(messages.append)
    try:
        player.set_source(VIDEOS / "liveportrait_d19.mp4", None)
        for n, index in enumerate((3, 4), 1):
            with qtbot.waitSignal(player.frameReady, timeout=10000) as blocker:
                player.request(n, index)
            assert blocker.args[0].image is None and blocker.args[0].index == index
    finally:
        player._close()
    assert len(messages) == 1 and "\n" not in messages[0]  # one line, not one per frame
    assert "liveportrait_d19.mp4" in messages[0] and "frame 3" in messages[0]
