"""EmotionGraph: ring buffers, selection, windowing, gaps, seeks and PNG export, with hand-built results."""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QColor, QPalette

from emodesk.core.results import FaceResult, FrameResult
from emodesk.errors import OutputError
from emodesk.inference.labels import CANONICAL_LABELS
from emodesk.ui.graph_panel import (
    MAX_CAPACITY,
    MEAN_TITLE,
    MIN_CAPACITY,
    EmotionGraph,
    SampleRing,
)

LABELS7 = tuple(label for label in CANONICAL_LABELS if label != "contempt")  # a 7-class model
FPS = 30.0


def probs_for(track_id: int, index: int, labels=LABELS7) -> dict[str, float]:
    """Deterministic, distinct per face and frame, summing to 1."""
    raw = np.array([1.0 + ((track_id * 7 + index * 3 + k * 5) % 11) for k in range(len(labels))])
    return dict(zip(labels, (raw / raw.sum()).tolist()))


def face(track_id: int, smoothed: dict[str, float]) -> FaceResult:
    emotion = max(smoothed, key=smoothed.get) if smoothed else None
    return FaceResult(
        track_id=track_id,
        box=(0.0, 0.0, 10.0, 10.0),
        score=0.9,
        landmarks=None,
        probs=dict(smoothed),
        smoothed=dict(smoothed),
        emotion=emotion,
        confidence=smoothed.get(emotion, 0.0) if emotion else 0.0,
    )


def frame(index: int, faces: list[FaceResult], time_s: float | None = None) -> FrameResult:
    return FrameResult(index=index, time_s=index / FPS if time_s is None else time_s, faces=tuple(faces))


def feed(graph: EmotionGraph, start: int, stop: int, track_ids=(1, 2, 3), fps: float = FPS) -> None:
    for i in range(start, stop):
        graph.add_result(frame(i, [face(t, probs_for(t, i)) for t in track_ids], time_s=i / fps))


@pytest.fixture
def graph(qtbot) -> EmotionGraph:
    widget = EmotionGraph(labels=LABELS7, window_s=30.0)
    qtbot.addWidget(widget)
    widget.resize(800, 400)
    return widget


def curve(graph: EmotionGraph, label: str) -> tuple[np.ndarray, np.ndarray]:
    item = graph.curves[label]
    if item.xData is None:  # pyqtgraph keeps None for an empty curve
        return np.empty(0), np.empty(0)
    return item.xData, item.yData


def test_graph_fills_after_add_and_refresh_with_a_selected_face(graph: EmotionGraph) -> None:
    feed(graph, 0, 90)
    graph.select(2)
    graph.refresh()
    x, y = curve(graph, "happiness")
    assert x is not None and len(x) == 90
    np.testing.assert_allclose(x, np.arange(90) / FPS)
    np.testing.assert_allclose(y, [probs_for(2, i)["happiness"] for i in range(90)])
    for label in LABELS7:  # every label's line holds face 2's values
        np.testing.assert_allclose(curve(graph, label)[1][-1], probs_for(2, 89)[label])
    assert graph.selected == 2
    assert graph.track_ids == [1, 2, 3]


def test_all_faces_mean_is_the_numeric_mean(graph: EmotionGraph) -> None:
    feed(graph, 0, 60)
    graph.select(None)
    graph.refresh()
    for label in LABELS7:
        _, y = curve(graph, label)
        expected = [np.mean([probs_for(t, i)[label] for t in (1, 2, 3)]) for i in range(60)]
        np.testing.assert_allclose(y, expected)
    assert graph.title == MEAN_TITLE


def test_frames_without_faces_leave_a_gap_in_the_mean(graph: EmotionGraph) -> None:
    feed(graph, 0, 10)
    for i in range(10, 15):
        graph.add_result(frame(i, []))
    feed(graph, 15, 20)
    graph.refresh()
    y = curve(graph, "neutral")[1]
    assert len(y) == 20
    assert np.isnan(y[10:15]).all()
    assert np.isfinite(y[:10]).all() and np.isfinite(y[15:]).all()


def test_select_switches_data_and_title(graph: EmotionGraph) -> None:
    feed(graph, 0, 30)
    graph.select(1)
    y1 = curve(graph, "anger")[1].copy()
    assert "Face #1" in graph.plot_item.titleLabel.text
    graph.select(3)
    y3 = curve(graph, "anger")[1]
    assert "Face #3" in graph.plot_item.titleLabel.text
    assert not np.allclose(y1, y3)
    np.testing.assert_allclose(y3, [probs_for(3, i)["anger"] for i in range(30)])
    graph.select(None)
    assert MEAN_TITLE in graph.plot_item.titleLabel.text
    graph.select(99)  # a face with no data: empty lines, no error
    assert len(curve(graph, "anger")[0]) == 0
    assert graph.title == "Face #99"


def test_only_the_last_window_is_displayed(graph: EmotionGraph) -> None:
    graph.set_window(10.0)
    feed(graph, 0, int(25 * FPS))  # 25 s
    graph.select(1)
    graph.refresh()
    x, _ = curve(graph, "fear")
    latest = (int(25 * FPS) - 1) / FPS
    assert x.min() >= latest - 10.0 - 1e-9
    assert x.max() == pytest.approx(latest)
    assert len(x) == pytest.approx(10 * FPS, abs=1)
    lo, hi = graph.plot_item.viewRange()[0]
    assert (lo, hi) == pytest.approx((latest - 10.0, latest))


def test_time_axis_spans_the_data_before_a_full_window(graph: EmotionGraph) -> None:
    # not 30 empty seconds: the axis starts at the first sample and ends at the newest one
    feed(graph, 10 * int(FPS), 10 * int(FPS) + 90)
    graph.refresh()
    first, last = 10.0, (10 * int(FPS) + 89) / FPS
    assert graph.plot_item.viewRange()[0] == pytest.approx([first, last])
    assert graph.time_range() == pytest.approx((first, last))


def test_labels_the_model_lacks_are_nan_not_zero(qtbot) -> None:
    graph = EmotionGraph(labels=CANONICAL_LABELS)
    qtbot.addWidget(graph)
    feed(graph, 0, 20)  # 7-class results: no contempt
    graph.select(1)
    graph.refresh()
    assert np.isnan(curve(graph, "contempt")[1]).all()
    assert np.isfinite(curve(graph, "neutral")[1]).all()
    graph.select(None)  # the mean of absent values is absent too
    assert np.isnan(curve(graph, "contempt")[1]).all()


def test_a_face_missing_for_some_frames_gets_a_gap(graph: EmotionGraph) -> None:
    for i in range(30):
        ids = (1, 2) if not 10 <= i < 20 else (1,)
        graph.add_result(frame(i, [face(t, probs_for(t, i)) for t in ids]))
    graph.select(2)
    graph.refresh()
    x, y = curve(graph, "sadness")
    assert np.all(np.diff(x) >= 0)
    finite = np.isfinite(y)
    assert finite.sum() == 20  # its real samples
    assert (~finite).sum() == 1  # one break between frame 9 and frame 20
    gap = np.flatnonzero(~finite)[0]
    assert x[gap - 1] == pytest.approx(9 / FPS) and x[gap + 1] == pytest.approx(20 / FPS)


def test_time_going_backwards_drops_the_later_history(graph: EmotionGraph) -> None:
    feed(graph, 0, 300)  # 0..~10 s
    graph.add_result(frame(150, [face(1, probs_for(1, 150))], time_s=5.0))  # seek back to 5 s
    feed(graph, 151, 180, track_ids=(1,))  # and play on to 6 s
    graph.select(1)
    graph.refresh()
    x, y = curve(graph, "anger")
    assert np.all(np.diff(x) >= 0), "x must stay ordered after a seek"
    assert x.max() == pytest.approx(179 / FPS)
    # before the seek point: the original history; after it: only the new samples
    assert np.sum(np.isfinite(y) & (x < 5.0)) == 150
    assert np.sum(np.isfinite(y) & (x >= 5.0)) == 30
    assert np.isnan(y).sum() == 1  # a break at the seek, so no line joins old and new
    # the other faces were not seen after the seek; their later samples are gone too
    graph.select(2)
    assert curve(graph, "anger")[0].max() < 5.0 + 1e-9


def test_seek_back_to_before_everything_starts_over(graph: EmotionGraph) -> None:
    feed(graph, 300, 400)
    feed(graph, 0, 10)  # a restart from 0
    graph.refresh()
    x, _ = curve(graph, "anger")
    assert len(x) == 10 and x.max() < 0.5
    # the axis starts over with the data (at least MIN_SPAN_S wide), not 30 empty seconds
    assert graph.plot_item.viewRange()[0] == pytest.approx([0.0, 1.0])


def test_refresh_is_a_no_op_without_new_data(graph: EmotionGraph, monkeypatch) -> None:
    feed(graph, 0, 10)
    graph.refresh()
    calls = []
    monkeypatch.setattr(graph.curves["anger"], "setData", lambda *a, **k: calls.append(a))
    graph.refresh()
    assert calls == []
    feed(graph, 10, 11)
    graph.refresh()
    assert len(calls) == 1


def test_ring_buffer_wraps_in_order() -> None:
    ring = SampleRing(n_labels=2, capacity=8)
    for i in range(21):
        ring.append(float(i), np.array([i, -i], dtype=float))
    times, values = ring.since(-math.inf)
    np.testing.assert_array_equal(times, np.arange(13, 21, dtype=float))
    np.testing.assert_array_equal(values[0], np.arange(13, 21))
    np.testing.assert_array_equal(values[1], -np.arange(13, 21))
    t, v = ring.since(15.5)  # a window that starts inside the wrapped part
    np.testing.assert_array_equal(t, [16, 17, 18, 19, 20])
    np.testing.assert_array_equal(v, [[16, 17, 18, 19, 20], [-16, -17, -18, -19, -20]])
    ring.truncate_from(18.0)
    np.testing.assert_array_equal(ring.since(-math.inf)[0], [13, 14, 15, 16, 17])
    ring.append(18.5, np.zeros(2))
    np.testing.assert_array_equal(ring.since(-math.inf)[0], [13, 14, 15, 16, 17, 18.5])
    bigger = ring.resized(32)
    np.testing.assert_array_equal(bigger.since(-math.inf)[0], [13, 14, 15, 16, 17, 18.5])
    smaller = ring.resized(3)
    np.testing.assert_array_equal(smaller.since(-math.inf)[0], [16, 17, 18.5])


def test_graph_ring_wraps_after_more_than_capacity_samples(graph: EmotionGraph) -> None:
    # 1000 samples per second of media time for 6 s: more samples than a ring holds, all inside the window
    n = graph.capacity + 1904
    assert graph.capacity == MIN_CAPACITY
    for i in range(n):
        graph.add_result(frame(i, [face(1, probs_for(1, i))], time_s=i / 1000.0))
    graph.select(1)
    graph.refresh()
    x, y = curve(graph, "happiness")
    assert len(x) == graph.capacity
    np.testing.assert_allclose(x, np.arange(n - graph.capacity, n) / 1000.0)
    np.testing.assert_allclose(y, [probs_for(1, i)["happiness"] for i in range(n - graph.capacity, n)])


def test_memory_stays_bounded_for_8_faces_at_30_fps_for_10_minutes(qtbot) -> None:
    graph = EmotionGraph(labels=LABELS7, window_s=30.0)
    qtbot.addWidget(graph)
    capacity = graph.capacity
    ids = tuple(range(1, 9))
    rows = {t: probs_for(t, 0) for t in ids}
    sizes = []
    for i in range(int(10 * 60 * FPS)):
        # Every 2 minutes the tracker hands out new IDs (a shot cut): old tracks must be dropped.
        epoch = i // int(120 * FPS)
        graph.add_result(frame(i, [face(t + 100 * epoch, rows[t]) for t in ids]))
        if i % 3000 == 2999:
            sizes.append(graph.memory_bytes())
    ring_bytes = 8 * capacity * (len(LABELS7) + 1)  # float64 times + one row per label
    assert graph.capacity == capacity
    assert len(graph.track_ids) == 8  # the old IDs were dropped a window after their last frame
    # At most the tracks seen within one window (8 old + 8 new right after a cut) plus the mean.
    assert max(sizes) <= (2 * 8 + 1) * ring_bytes, sizes
    assert sizes[-1] == sizes[0] == 9 * ring_bytes, f"ring memory grew: {sizes}"


def test_refresh_of_8_lines_of_900_points_is_fast(graph: EmotionGraph) -> None:
    feed(graph, 0, 900, track_ids=tuple(range(1, 9)))
    graph.select(4)
    graph.show()
    timings = []
    for i in range(900, 920):
        feed(graph, i, i + 1, track_ids=tuple(range(1, 9)))
        start = time.perf_counter()
        graph.refresh()
        timings.append(time.perf_counter() - start)
    assert 900 <= len(curve(graph, "anger")[0]) <= 901  # both ends of the window are included
    assert float(np.median(timings)) < 0.05, f"refresh took {np.median(timings) * 1000:.1f} ms"


def test_set_window_keeps_working_when_it_grows_and_shrinks(graph: EmotionGraph) -> None:
    feed(graph, 0, int(40 * FPS))
    graph.set_window(120.0)
    assert graph.capacity == 120 * 120
    graph.select(1)
    graph.refresh()
    # the rings still held the older samples, so a wider window shows them at once
    assert curve(graph, "anger")[0].min() == 0.0
    feed(graph, int(40 * FPS), int(50 * FPS))
    graph.set_window(5.0)
    assert graph.capacity == MIN_CAPACITY
    graph.refresh()
    x = curve(graph, "anger")[0]
    assert x.min() >= x.max() - 5.0 - 1e-9
    graph.set_window(4 * 3600.0)  # a silly window does not allocate without bound
    assert graph.capacity == MAX_CAPACITY
    with pytest.raises(ValueError):
        graph.set_window(0)


def test_set_labels_and_clear_reset_the_data(graph: EmotionGraph) -> None:
    feed(graph, 0, 30)
    graph.select(2)
    graph.set_labels(CANONICAL_LABELS)
    assert set(graph.curves) == set(CANONICAL_LABELS)
    assert len(graph.legend.items) == len(CANONICAL_LABELS)
    assert graph.track_ids == [] and graph.selected is None
    assert all(len(curve(graph, label)[0]) == 0 for label in graph.curves)
    feed(graph, 0, 30)
    graph.clear()
    graph.refresh()
    assert graph.track_ids == []
    assert all(len(curve(graph, label)[0]) == 0 for label in graph.curves)


def test_follows_a_dark_palette(graph: EmotionGraph) -> None:
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Window, QColor(40, 40, 40))
    dark.setColor(QPalette.ColorRole.WindowText, QColor(230, 230, 230))
    graph.setPalette(dark)
    assert graph.plot_widget.backgroundBrush().color() == QColor(40, 40, 40)
    assert graph.plot_item.getAxis("left").textPen().color() == QColor(230, 230, 230)
    assert "#e6e6e6" in graph.plot_item.titleLabel.text or graph.plot_item.titleLabel.opts["color"] == "#e6e6e6"


def test_export_png_writes_a_real_image(graph: EmotionGraph, tmp_path: Path) -> None:
    feed(graph, 0, 300)
    graph.select(1)
    out = graph.export_png(tmp_path / "graph.png")
    assert out == tmp_path / "graph.png"
    image = cv2.imread(str(out))
    assert image is not None
    h, w = image.shape[:2]
    assert w >= 1200 and h >= 300
    # not a blank canvas: the emotion colours of the lines are in it
    pixels = image.reshape(-1, 3)
    anger_bgr = np.array([70, 57, 230])
    assert np.any(np.abs(pixels.astype(int) - anger_bgr).sum(axis=1) < 30)
    assert len(np.unique(pixels, axis=0)) > 50


def test_export_png_of_a_never_shown_widget(qtbot, tmp_path: Path) -> None:
    graph = EmotionGraph(labels=LABELS7)
    qtbot.addWidget(graph)
    feed(graph, 0, 60)
    image = cv2.imread(str(graph.export_png(tmp_path / "hidden.png")))
    assert image is not None and image.shape[1] >= 1200


def test_export_png_failure_is_one_line_output_error(graph: EmotionGraph, tmp_path: Path) -> None:
    with pytest.raises(OutputError) as info:
        graph.export_png(tmp_path / "no such folder" / "graph.png")
    assert "\n" not in str(info.value) and "graph.png" in str(info.value)


def test_valence_line_follows_faceReaders_definition(graph: EmotionGraph) -> None:
    import warnings

    feed(graph, 0, 30)
    graph.select(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gaps (all-NaN samples) must not warn
        graph.set_valence_visible(True)
    _, y = graph._valence_curve.getData()
    probs = probs_for(1, 10)
    negatives = [probs[k] for k in ("anger", "disgust", "fear", "sadness") if k in probs]
    assert y[10] == pytest.approx(probs["happiness"] - max(negatives), abs=1e-9)
    assert graph.plot_item.viewRange()[1][0] < -0.9  # the scale now reaches -1
    graph.set_valence_visible(False)
    assert graph._valence_curve is None and graph.plot_item.viewRange()[1][0] > -0.1


def test_event_markers_and_png_title(graph: EmotionGraph, tmp_path: Path) -> None:
    from emodesk.core.events import Event

    feed(graph, 0, 60)
    graph.set_events([Event(0.5, "stimulus", source="key"), Event(1.5, "question", source="key")])
    assert graph.event_times == pytest.approx([0.5, 1.5])
    graph.set_context("yunet_n + emodesk_fer_v2")
    graph.select(2)
    assert graph.export_title() == "Face #2 · yunet_n + emodesk_fer_v2 · 0.0–2.0 s"
    assert cv2.imread(str(graph.export_png(tmp_path / "g.png"))) is not None
    assert graph.plot_item.titleLabel.text == "Face #2"  # the on-screen title is restored after export


def test_centred_on_the_cursor_the_view_stays_within_the_data(graph: EmotionGraph) -> None:
    feed(graph, 0, int(9 * FPS))  # 9 s of data, a 30 s window
    graph.set_cursor(4.0, centre=True)
    graph.refresh()
    lo, hi = graph.plot_item.viewRange()[0]
    assert lo == pytest.approx(0.0) and hi == pytest.approx((9 * FPS - 1) / FPS)  # no empty seconds
    graph.set_window(2.0)
    graph.set_cursor(4.0, centre=True)
    graph._dirty = True
    graph.refresh()
    assert graph.plot_item.viewRange()[0] == pytest.approx([3.0, 5.0])
