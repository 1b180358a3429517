"""The desktop window end to end, offscreen, with the real models and clips."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

from emodesk.core import live_session
from emodesk.core.session import load_session
from emodesk.core.settings import Settings
from emodesk.ui.main_window import MainWindow
from tests.conftest import REPO, TEST_IMAGES, VIDEOS

SCHEMA = json.loads((REPO / "resources" / "session.schema.json").read_text())
CLIP = VIDEOS / "liveportrait_d19.mp4"
CROWD = VIDEOS / "facenet-pytorch_video.mp4"


@pytest.fixture()
def recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "recovery"
    monkeypatch.setattr(live_session, "recovery_dir", lambda: folder)
    return folder


@pytest.fixture()
def ini(tmp_path: Path) -> Path:
    return tmp_path / "emodesk.ini"


@pytest.fixture()
def make_window(qtbot, ini: Path, recovery: Path):  # noqa: ANN001, ANN201
    windows: list[MainWindow] = []

    def make(**settings) -> MainWindow:  # noqa: ANN003
        qs = QSettings(str(ini), QSettings.Format.IniFormat)
        window = MainWindow(qs, offer_recovery=False)
        window.settings = Settings(device="cpu", **settings)
        # a real modal dialog would block the test run; tests that care answer it themselves
        window.ask_unsaved = lambda: "discard"  # type: ignore[method-assign]
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.ask_unsaved = lambda: "discard"  # type: ignore[method-assign]
        window.close()  # pytest-qt may have closed it already; closing twice is harmless
        assert window.thread.isFinished(), "the analysis thread is still running"
    assert not [t for t in threading.enumerate() if t.name == "emodesk-reader" and t.is_alive()]


def drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def wait_frames(qtbot, window: MainWindow, n: int, timeout: int = 60000) -> None:  # noqa: ANN001
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) >= n, timeout=timeout)


def test_window_starts_empty(make_window) -> None:  # noqa: ANN001
    window = make_window()
    assert window.windowTitle().startswith("emodesk")
    assert window.video.image is None
    assert window.thread.isRunning()
    assert window.acceptDrops()


def test_dropping_a_video_fills_video_graph_faces_and_summary(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.transport.mode.setCurrentIndex(1)  # as fast as possible: lossless
    drop(window, CLIP)
    wait_frames(qtbot, window, 60)
    qtbot.waitUntil(lambda: window.video.image is not None, timeout=5000)
    qtbot.waitUntil(lambda: not window.playing, timeout=60000)
    window._latest_dirty = True
    window._refresh_display()  # the frame on screen is now exactly the latest result
    assert window.faces.track_ids() == [1]
    result = window._latest
    assert result is not None and len(result.faces) == 1
    # the overlay changed pixels on the face box edge but not in a far corner
    shown = window.video.image
    raw = cv2.cvtColor(result.image, cv2.COLOR_BGR2RGB)
    as_array = np.frombuffer(shown.convertToFormat(shown.Format.Format_RGB888).constBits(), np.uint8)
    as_array = as_array.reshape(shown.height(), shown.bytesPerLine())[:, : shown.width() * 3].reshape(shown.height(), shown.width(), 3)
    x1, y1, x2, y2 = (int(v) for v in result.faces[0].box)
    edge = (slice(y1 + 5, y2 - 5), slice(max(x1 - 1, 0), x1 + 2))
    assert np.abs(as_array[edge].astype(int) - raw[edge].astype(int)).mean() > 20
    assert np.array_equal(as_array[-5:, :5], raw[-5:, :5])
    # graph, faces and summary filled
    assert window.graph.selected is None
    assert window.summary.counts and 1 in window.summary.counts
    assert len(window.store) == 250


def test_clicking_a_face_selects_it_everywhere(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    qtbot.waitUntil(lambda: window.video.image is not None, timeout=30000)
    face = window._latest.faces[2]
    rect = window.video._target_rect()
    scale = rect.width() / window.video.image.width()
    cx = rect.x() + (face.box[0] + face.box[2]) / 2 * scale
    cy = rect.y() + (face.box[1] + face.box[3]) / 2 * scale
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPointF(cx, cy).toPoint())
    assert window.selected == face.track_id
    assert window.graph.selected == face.track_id
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPointF(rect.x() + 3, rect.y() + 3).toPoint())
    assert window.selected is None


def test_export_writes_schema_valid_session_csv_and_png(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.transport.mode.setCurrentIndex(1)
    window.open_path(CLIP)
    qtbot.waitUntil(lambda: not window.playing and window.store is not None and len(window.store) == 250, timeout=90000)
    session_path = window.export_to(tmp_path / "gui.session.json", "json")
    data = load_session(session_path)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["frames_processed"] == 250 and data["source"]["kind"] == "video"
    assert [f["index"] for f in data["frames"]] == list(range(250))
    csv_path = window.export_to(tmp_path / "gui.csv", "csv")
    assert csv_path.read_text().count("\n") >= 251
    png = window.export_to(tmp_path / "graph.png", "png")
    assert cv2.imread(str(png)) is not None
    snap = window.save_snapshot(tmp_path / "snap.png")
    assert cv2.imread(str(snap)).shape[:2] == (480, 480)
    assert not window.store.has_unsaved


def test_closing_mid_run_stops_within_two_seconds(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.transport.mode.setCurrentIndex(1)
    window.open_path(CROWD)
    wait_frames(qtbot, window, 3)
    started = time.monotonic()
    assert window.shutdown()
    assert time.monotonic() - started < 2.0
    assert window.thread.isFinished()


def test_seek_pause_and_frame_step(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(CLIP)
    qtbot.waitUntil(lambda: window.source_info is not None, timeout=30000)
    window.pause()
    window.seek(200)
    qtbot.waitUntil(lambda: window._latest is not None and window._latest.index == 200, timeout=10000)
    window.step(1)
    qtbot.waitUntil(lambda: window._latest.index == 201, timeout=10000)
    window.step(-1)
    qtbot.waitUntil(lambda: window._latest.index == 200, timeout=10000)
    assert not window.playing


def test_settings_persist_between_launches(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.apply_settings(Settings(device="cpu", emotion="mini_xception", smoothing=0.8, detect_every=3), 45.0)
    again = make_window()
    from emodesk.ui.settings_dialog import load_ui_settings

    settings, graph_window = load_ui_settings(again.qsettings)
    assert (settings.emotion, settings.smoothing, settings.detect_every, graph_window) == ("mini_xception", 0.8, 3, 45.0)


def test_bad_file_is_a_message_and_the_app_keeps_going(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    qtbot.waitUntil(lambda: window.video.image is not None, timeout=30000)
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    window.open_path(bogus)
    qtbot.waitUntil(lambda: "notes.mp4: not a video" in window.messages.text, timeout=10000)
    assert window.thread.isRunning()
    window.open_path(TEST_IMAGES / "single_smile.jpg")  # and it still works
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) == 1, timeout=30000)


def test_missing_model_is_a_message(qtbot, make_window, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    window = make_window(emotion="hsemotion_enet_b2_8")  # not in ../shared, and tests are offline
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    qtbot.waitUntil(lambda: "hsemotion_enet_b2_8" in window.messages.text, timeout=30000)
    assert "downloads are off" in window.messages.text


def test_live_mode_through_the_virtual_camera_drops_frames_and_bounds_latency(qtbot, make_window) -> None:  # noqa: ANN001
    # the accurate detector on 1080p with 7 faces cannot keep up with 25 fps on 2 cores: frames must drop
    window = make_window(detector="scrfd_2.5g")
    window.open_camera(str(CROWD), virtual=True)
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) >= 20, timeout=60000)
    qtbot.wait(500)
    window.status.refresh()
    assert window.status.dropped > 0
    assert window.status.latency_ms is not None and window.status.latency_ms < 1000
    assert not window.seekable
    # an unsaved live session asks before closing; cancelling keeps the window open
    window.ask_unsaved = lambda: "cancel"  # type: ignore[method-assign]
    window.close()
    assert window.isVisible()


def test_recovery_of_a_journal_left_by_a_crash(qtbot, make_window, recovery: Path, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(TEST_IMAGES)
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) == 2, timeout=30000)
    journal = window.store.journal_path
    window.store._recorder.flush()
    # pretend its process died: a pid that is not running
    dead = journal.with_name(journal.name.replace(f"pid{__import__('os').getpid()}", "pid999999"))
    journal.rename(dead)
    window.store._recorder = None
    [item] = live_session.find_recoverable(recovery)
    assert item.frames == 2 and item.source.endswith("test_images")
    out = window.recover(item.journal, tmp_path / "recovered.session.json")
    data = load_session(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["status"] == "recovered" and data["frames_processed"] == 2
    assert not dead.exists()


def test_recording_the_annotated_live_view(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.open_camera(str(CLIP), virtual=True)
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) >= 2, timeout=30000)
    out = tmp_path / "live.avi"  # MJPG: close to lossless, so pixels can be compared
    written = []
    original_write = None

    def spy(frame):  # noqa: ANN001, ANN202
        written.append(frame.copy())
        return original_write(frame)

    window.start_recording(out)
    original_write = window._recorder.write
    window._recorder.write = spy
    qtbot.waitUntil(lambda: window._recorder is not None and window._recorder.frames >= 20, timeout=30000)
    window.toggle_recording()  # stop
    assert window._recorder is None
    cap = cv2.VideoCapture(str(out))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and frames >= 20 and first.shape[:2] == (480, 480)
    # what was recorded is the annotated frame (overlay included), not the raw video
    assert np.abs(first.astype(int) - written[0].astype(int)).mean() < 3
    result = window.store.results[0]
    assert window.record_action.isChecked() is False
    assert result.faces  # the clip always has its face, so every recorded frame has a box


def test_recent_files_are_remembered(qtbot, make_window) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    qtbot.waitUntil(lambda: window.store is not None and len(window.store) == 1, timeout=30000)
    recent = make_window()._recent()
    assert recent[:2] == [str(TEST_IMAGES / "group6_test_image.jpg"), str(TEST_IMAGES / "single_smile.jpg")]
