"""FacePanel (the face list) and bgr_to_qimage, with synthetic results and frames."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QIcon

from emodesk.core.results import FaceResult, FrameResult
from emodesk.ui.face_panel import (
    COL_DOMINANT,
    COL_EMOTION,
    COL_ID,
    COL_THUMB,
    COL_TIME,
    GONE_ROLE,
    THUMB_PX,
    FacePanel,
    _face_crop,
)
from emodesk.ui.qt_image import bgr_to_qimage, bgr_to_qpixmap
from tests.ui.snapshots import snapshot_of

LABELS = ("anger", "happiness", "neutral", "sadness")


def face(track_id: int, emotion: str, box=(10.0, 10.0, 50.0, 60.0), confidence: float = 0.8) -> FaceResult:
    probs = {label: (confidence if label == emotion else (1 - confidence) / (len(LABELS) - 1)) for label in LABELS}
    return FaceResult(
        track_id=track_id,
        box=box,
        score=0.9,
        landmarks=None,
        probs=probs,
        smoothed=probs,
        emotion=emotion,
        confidence=confidence,
    )


def frame_result(index: int, faces: list[FaceResult], fps: float = 10.0) -> FrameResult:
    return FrameResult(index=index, time_s=index / fps, faces=tuple(faces), frame_shape=(120, 160))


def frame_image() -> np.ndarray:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:, :80] = (255, 0, 0)  # blue left half (BGR)
    img[:, 80:] = (0, 0, 255)  # red right half
    return img


@pytest.fixture
def panel(qtbot) -> FacePanel:
    widget = FacePanel()
    qtbot.addWidget(widget)
    widget.resize(500, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def feed(panel: FacePanel) -> list[FrameResult]:
    """Faces 1 and 2 for 10 frames at 10 fps (face 1: 7×happiness then 3×sadness); face 3 only in frames 0-1.

    The statistics come from a SessionRun's snapshot; the frame on screen is the last one."""
    img = frame_image()
    results = []
    for i in range(10):
        faces = [
            face(1, "happiness" if i < 7 else "sadness", box=(10, 10, 50, 60), confidence=0.91),
            face(2, "neutral", box=(100, 20, 140, 70), confidence=0.55),
        ]
        if i < 2:
            faces.append(face(3, "anger", box=(60, 60, 90, 100)))
        results.append(frame_result(i, faces))
    panel.show_frame(results[0], img)  # face 3's thumbnail: it is only in the first frames
    panel.set_faces(snapshot_of(results, LABELS).faces)
    panel.show_frame(results[-1], img)
    panel.refresh()
    return results


def row_texts(panel: FacePanel, row: int) -> dict[int, str]:
    return {col: panel.table.item(row, col).text() for col in (COL_ID, COL_EMOTION, COL_DOMINANT, COL_TIME)}


# -------------------------------------------------------------------------------------------- qt_image


def test_bgr_to_qimage_converts_bgr_to_rgb(qapp):
    img = np.zeros((4, 6, 3), np.uint8)
    img[0, 0] = (255, 0, 0)  # blue in BGR
    img[1, 2] = (0, 255, 0)
    img[3, 5] = (0, 0, 255)  # red
    img[2, 3] = (10, 20, 30)
    qimg = bgr_to_qimage(img)
    assert (qimg.width(), qimg.height()) == (6, 4)
    assert qimg.pixelColor(0, 0) == QColor(0, 0, 255)
    assert qimg.pixelColor(2, 1) == QColor(0, 255, 0)
    assert qimg.pixelColor(5, 3) == QColor(255, 0, 0)
    assert qimg.pixelColor(3, 2) == QColor(30, 20, 10)


def test_bgr_to_qimage_copies_and_accepts_non_contiguous(qapp):
    big = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    view = big[5:45:2, 60:10:-3]  # strided and reversed: not C-contiguous
    assert not view.flags.c_contiguous
    qimg = bgr_to_qimage(view)
    expected = view.copy()
    big[:] = 0  # the QImage must not share the numpy buffer
    assert (qimg.width(), qimg.height()) == (view.shape[1], view.shape[0])
    for y, x in [(0, 0), (3, 7), (view.shape[0] - 1, view.shape[1] - 1)]:
        b, g, r = expected[y, x]
        assert qimg.pixelColor(x, y) == QColor(int(r), int(g), int(b))


def test_bgr_to_qimage_grayscale_and_pixmap(qapp):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    qimg = bgr_to_qimage(gray)
    assert qimg.pixelColor(3, 2) == QColor(220, 220, 220)
    pixmap = bgr_to_qpixmap(frame_image())
    assert not pixmap.isNull() and pixmap.width() == 160


def test_face_crop_is_square_and_padded_at_edges():
    img = frame_image()
    crop = _face_crop(img, (-20.0, -20.0, 20.0, 30.0), size=32)
    assert crop.shape == (32, 32, 3)
    assert (crop[0, 0] == 0).all()  # padding outside the frame is black
    assert _face_crop(img, (500.0, 500.0, 600.0, 600.0)) is None
    assert _face_crop(img, (10.0, 10.0, 10.0, 40.0)) is None


# ------------------------------------------------------------------------------------------ FacePanel


def test_rows_show_id_emotion_dominant_and_time(panel):
    feed(panel)
    table = panel.table
    assert table.rowCount() == 4  # "All faces" + 3 faces
    assert table.item(0, COL_ID).text() == "All"
    # visible faces first, then by id: 1, 2, then the gone face 3
    assert panel.track_ids() == [1, 2, 3]
    r1, r2, r3 = (row_texts(panel, r) for r in (1, 2, 3))
    assert r1[COL_ID] == "1" and r1[COL_EMOTION] == "sadness 91%" and r1[COL_DOMINANT] == "happiness"
    assert r2[COL_ID] == "2" and r2[COL_EMOTION] == "neutral 55%" and r2[COL_DOMINANT] == "neutral"
    assert r3[COL_ID] == "3" and r3[COL_DOMINANT] == "anger"
    # 10 sightings 0.1 s apart = 0.9 s of continuous presence; face 3: 2 sightings = 0.1 s
    assert r1[COL_TIME] == "0.9 s"
    assert r3[COL_TIME] == "0.1 s"


def test_thumbnails_are_set(panel):
    feed(panel)
    for row in (1, 2, 3):
        icon = panel.table.item(row, COL_THUMB).data(Qt.ItemDataRole.DecorationRole)
        assert isinstance(icon, QIcon) and not icon.isNull()
        assert not icon.pixmap(THUMB_PX, THUMB_PX).isNull()
    # face 1's box is in the blue (BGR 255,0,0) half: the thumbnail's centre is blue
    pixmap = panel.table.item(1, COL_THUMB).data(Qt.ItemDataRole.DecorationRole).pixmap(THUMB_PX, THUMB_PX)
    centre = pixmap.toImage().pixelColor(pixmap.width() // 2, pixmap.height() // 2)
    assert centre.blue() > 200 and centre.red() < 50


def test_thumbnail_taken_at_most_every_half_second(panel):
    img = frame_image()
    for i in range(10):  # 1 s at 10 fps
        panel.show_frame(frame_result(i, [face(1, "neutral")]), img)
    stats = panel._faces[1]
    assert stats.thumb_version == 2  # at 0.0 s and 0.5 s
    panel.show_frame(frame_result(10, [face(1, "neutral")]), None)  # no frame: keep the old crop
    assert stats.thumb_version == 2 and stats.thumb is not None


def test_clicking_a_row_emits_its_id(panel, qtbot):
    feed(panel)
    table = panel.table
    rect = table.visualItemRect(table.item(2, COL_EMOTION))
    with qtbot.waitSignal(panel.faceSelected, timeout=1000) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [2]
    assert panel.selected() == 2

    rect = table.visualItemRect(table.item(0, COL_ID))
    with qtbot.waitSignal(panel.faceSelected, timeout=1000) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [None]


def test_clicking_empty_space_means_all_faces(panel, qtbot):
    feed(panel)
    panel.select(1)
    viewport = panel.table.viewport()
    below = QPoint(viewport.width() // 2, viewport.height() - 5)
    assert panel.table.indexAt(below).row() == -1
    with qtbot.waitSignal(panel.faceSelected, timeout=1000) as blocker:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=below)
    assert blocker.args == [None]
    assert [i.row() for i in panel.table.selectionModel().selectedRows()] == [0]


def test_select_highlights_without_emitting(panel, qtbot):
    feed(panel)
    with qtbot.assertNotEmitted(panel.faceSelected):
        panel.select(3)
        panel.refresh()
        panel.show_frame(frame_result(20, [face(3, "anger")]))  # face 3 on screen again: it moves up
        panel.refresh()
        panel.select(None)
        panel.select(2)
    selected_rows = [i.row() for i in panel.table.selectionModel().selectedRows()]
    assert selected_rows == [panel.row_of(2)]
    assert panel.selected() == 2


def test_selection_follows_the_face_when_rows_reorder(panel, qtbot):
    feed(panel)
    panel.select(3)
    assert panel.row_of(3) == 3
    panel.show_frame(frame_result(20, [face(3, "anger")]))
    panel.refresh()
    assert panel.track_ids() == [3, 1, 2]
    assert [i.row() for i in panel.table.selectionModel().selectedRows()] == [1]


def test_gone_faces_are_greyed(panel):
    feed(panel)
    table = panel.table
    gone_row, seen_row = panel.row_of(3), panel.row_of(1)
    assert table.item(gone_row, COL_ID).data(GONE_ROLE) is True
    assert table.item(seen_row, COL_ID).data(GONE_ROLE) is False
    grey = table.item(gone_row, COL_EMOTION).foreground().color()
    normal = table.item(seen_row, COL_EMOTION).foreground()
    assert normal.style() == Qt.BrushStyle.NoBrush  # the theme's text colour
    assert grey == panel.palette().color(panel.palette().ColorGroup.Disabled, panel.palette().ColorRole.Text)
    assert table.item(gone_row, COL_EMOTION).font().italic()


def test_clear_empties(panel, qtbot):
    feed(panel)
    panel.select(1)
    with qtbot.assertNotEmitted(panel.faceSelected):
        panel.clear()
    assert panel.table.rowCount() == 1  # only "All faces"
    assert panel.track_ids() == []
    assert panel.selected() is None
    feed(panel)  # usable again after clear
    assert panel.table.rowCount() == 4


def test_statistics_are_the_sessions_not_counted_by_the_panel(panel):
    # time on screen and counts come from the core's one FaceStats: a long absence is not time on screen
    results = [FrameResult(i, t, (face(1, "neutral"),)) for i, t in enumerate((0.0, 0.5, 10.0, 10.25))]
    snap = snapshot_of(results, LABELS)
    panel.set_faces(snap.faces)
    assert panel._faces[1].seen_s == pytest.approx(snap.faces[0].on_screen_s) == pytest.approx(0.75)
    # showing frames (playback, seeking back and forth) changes no statistic
    for result in results + results:
        panel.show_frame(result, frame_image())
    assert panel._faces[1].frames_seen == 4 and panel._faces[1].counts == {"neutral": 4}


def test_a_face_not_on_the_frame_shown_has_no_current_emotion(panel):
    feed(panel)
    panel.show_frame(frame_result(0, [face(2, "neutral")]))
    panel.refresh()
    assert row_texts(panel, panel.row_of(1))[COL_EMOTION] == "—"
    assert row_texts(panel, panel.row_of(1))[COL_DOMINANT] == "happiness"


def test_refresh_without_changes_is_cheap_and_keeps_items(panel):
    feed(panel)
    item = panel.table.item(1, COL_EMOTION)
    panel.refresh()
    assert panel.table.item(1, COL_EMOTION) is item
