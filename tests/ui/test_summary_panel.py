"""SummaryPanel: dominant-emotion counts per face (from a SessionRun snapshot), row order, painting, reset
and scrolling, with hand-built results."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF

from emodesk.core.results import FaceResult, FrameResult
from emodesk.inference.labels import CANONICAL_LABELS
from emodesk.ui.summary_panel import ALL_FACES, SummaryPanel, scrollable
from tests.ui.snapshots import snapshot_of

LABELS = tuple(label for label in CANONICAL_LABELS if label != "contempt")


def face(track_id: int, emotion: str | None) -> FaceResult:
    smoothed = {label: (0.9 if label == emotion else 0.1 / 7) for label in CANONICAL_LABELS if label != "contempt"}
    return FaceResult(track_id, (0.0, 0.0, 10.0, 10.0), 0.9, None, smoothed, smoothed, emotion, 0.9 if emotion else 0.0)


def frame(index: int, faces: list[FaceResult]) -> FrameResult:
    return FrameResult(index=index, time_s=index / 30.0, faces=tuple(faces))


def show(panel: SummaryPanel, frames: list[FrameResult]) -> None:
    """What the window does: the panel shows the run's snapshot of these frames."""
    panel.set_faces(snapshot_of(frames, LABELS).faces)


@pytest.fixture
def panel(qtbot) -> SummaryPanel:
    widget = SummaryPanel()
    qtbot.addWidget(widget)
    widget.resize(600, 300)
    return widget


def test_counts_dominant_emotions_per_face(panel: SummaryPanel) -> None:
    frames = [frame(i, [face(1, "happiness" if i < 7 else "neutral"), face(2, "anger")]) for i in range(10)]
    frames += [frame(10, [face(2, None)]), frame(11, [])]  # unclassified: not counted
    show(panel, frames)
    assert panel.counts == {1: {"happiness": 7, "neutral": 3}, 2: {"anger": 10}}
    counts = panel.counts
    counts[1]["happiness"] = 0  # a copy: the panel's numbers are not changed through it
    assert panel.counts[1]["happiness"] == 7


def test_refresh_orders_rows_most_seen_first_with_the_total_on_top(panel: SummaryPanel, qtbot) -> None:
    panel.show()
    frames = []
    for i in range(20):
        faces = [face(3, "sadness")]
        if i < 5:
            faces.append(face(1, "fear"))
        if i < 12:
            faces.append(face(7, "surprise"))
        frames.append(frame(i, faces))
    show(panel, frames)
    assert panel.row_names == []  # nothing drawn before refresh
    panel.refresh()
    assert panel.row_names == [ALL_FACES, "Face #3", "Face #7", "Face #1"]
    image = panel.grab().toImage()
    assert not image.isNull() and image.width() > 0


def test_at_most_max_rows_faces_are_drawn(qtbot) -> None:
    panel = SummaryPanel(max_rows=12)
    qtbot.addWidget(panel)
    # face N is seen in frames 0 .. N-1
    show(panel, [frame(i, [face(tid, "neutral") for tid in range(i + 1, 16)]) for i in range(15)])
    panel.refresh()
    assert panel.row_names[0] == ALL_FACES
    assert panel.row_names[1:] == [f"Face #{tid}" for tid in range(15, 3, -1)]
    assert panel.hidden_faces == 3
    panel.resize(500, panel.sizeHint().height())
    panel.grab()  # paints the "+ 3 more faces" line without error


def test_tooltip_names_face_emotion_and_share(panel: SummaryPanel) -> None:
    show(panel, [frame(i, [face(5, "anger" if i == 0 else "neutral")]) for i in range(4)])
    panel.refresh()
    _, bar = panel._bar_rects()[1]
    tip = panel._tooltip_at(QPointF(bar.right() - 2, bar.center().y()))
    assert tip == "Face #5: neutral dominant in 3 of 4 frames (75.0%)"
    assert panel._tooltip_at(QPointF(1, 1)) is None


def test_clear_and_set_labels_reset(panel: SummaryPanel) -> None:
    show(panel, [frame(0, [face(1, "anger")])])
    panel.refresh()
    panel.clear()
    assert panel.counts == {} and panel.row_names == []
    panel.grab()  # the empty state paints
    show(panel, [frame(1, [face(1, "anger")])])
    panel.set_labels(tuple(label for label in CANONICAL_LABELS if label != "contempt"))
    assert panel.counts == {} and "contempt" not in panel.labels


def test_refresh_is_idle_without_new_results(panel: SummaryPanel, monkeypatch) -> None:
    frames = [frame(0, [face(1, "anger")])]
    show(panel, frames)
    panel.refresh()
    calls = []
    monkeypatch.setattr(panel, "update", lambda *a: calls.append(a))
    show(panel, frames)  # the same statistics again (a snapshot every timer tick): nothing to redraw
    panel.refresh()
    assert calls == []


def test_many_faces_scroll_in_a_small_dock(qtbot) -> None:
    panel = SummaryPanel()
    area = scrollable(panel)
    qtbot.addWidget(area)
    area.resize(400, 200)
    area.show()
    show(panel, [frame(0, [face(tid, "neutral") for tid in range(1, 21)])])
    panel.refresh()
    qtbot.waitUntil(lambda: area.verticalScrollBar().maximum() > 0, timeout=2000)
    assert len(panel.row_names) == 21  # every face is drawn: the area scrolls to the last ones
    area.verticalScrollBar().setValue(area.verticalScrollBar().maximum())
