"""The desktop window end to end, offscreen, with the real models and clips."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent

import emodesk
from emodesk.core import live_session
from emodesk.core.session import read_session_json, write_session_from_journal
from emodesk.core.settings import Settings
from emodesk.ui.main_window import MainWindow
from tests.conftest import REPO, TEST_IMAGES, VIDEOS

SCHEMA = json.loads((REPO / "resources" / "session.schema.json").read_text())
CLIP = VIDEOS / "short_hamilton_clip.mp4"  # 275 frames, 640×360, several people
PORTRAIT = VIDEOS / "liveportrait_d19.mp4"  # 250 frames, 480×480, one face
CROWD = VIDEOS / "facenet-pytorch_video.mp4"  # 105 frames, 1080p, 6-8 faces


@pytest.fixture()
def ini(tmp_path: Path) -> Path:
    return tmp_path / "emodesk.ini"


@pytest.fixture()
def make_window(qtbot, ini: Path, recovery: Path):
    windows: list[MainWindow] = []

    def make(**settings) -> MainWindow:
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
        assert window.runs.thread.isFinished(), "the analysis thread is still running"
    assert not [t for t in threading.enumerate() if t.name.startswith("emodesk") and t.is_alive()]


def drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def wait_analysed(qtbot, window: MainWindow, n: int, timeout: int = 120000) -> None:
    qtbot.waitUntil(lambda: window.run is not None and window.run.frames >= n, timeout=timeout)


def wait_done(qtbot, window: MainWindow, timeout: int = 300000) -> None:
    qtbot.waitUntil(lambda: window.run is not None and not window.runs.running, timeout=timeout)


def wait_shown(qtbot, window: MainWindow, index: int, timeout: int = 20000) -> None:
    # shown = answered by the player and drawn by the display timer
    qtbot.waitUntil(
        lambda: window._shown is not None and window._shown.index == index and not window._shown_dirty, timeout=timeout
    )


def export(qtbot, window: MainWindow, path: Path, kind: str) -> Path:
    with qtbot.waitSignal(window.exportFinished, timeout=120000) as blocker:
        assert window.export_to(path, kind) is not None
    job = blocker.args[0]
    assert job.error is None, job.error
    return Path(job.result)


def cli_session(tmp_path: Path, video: Path, *options: str) -> dict:
    out = tmp_path / "cli"
    run = subprocess.run(
        [sys.executable, "-m", "emodesk", "analyze", "--device", "cpu", "--quiet", "--out", str(out), *options, str(video)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # the assertion below shows stderr
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return read_session_json(out / f"{video.stem}.session.json")


def test_window_starts_empty(make_window) -> None:
    window = make_window()
    assert window.windowTitle().startswith("emodesk")
    assert window.video.image is None
    assert window.runs.thread.isRunning() and window.playback.thread.isRunning() and window.jobs_thread.isRunning()
    assert window.acceptDrops()


def test_window_session_equals_analyze_whatever_the_user_does_during_and_after_the_pass(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window()
    drop(window, CLIP)
    wait_analysed(qtbot, window, 30)
    # during the pass: pause, seek back, step, play, seek past the analysed point
    window.pause()
    window.seek(5)
    wait_shown(qtbot, window, 5)
    assert window._shown.result is not None and window._shown.result.index == 5
    window.step(1)
    wait_shown(qtbot, window, 6)
    window.step(-1)
    wait_shown(qtbot, window, 5)
    assert not window.playing
    window.play()
    window.pause()
    if window.runs.running and window.frontier is not None and window.frontier < 260:
        window.seek(270)
        wait_shown(qtbot, window, 270)
        if window._shown.result is None:  # the analysis had not reached it: the frame says so
            assert "not analysed yet" in window.video.note
    window.play()
    wait_done(qtbot, window)
    snap = window.run.snapshot()
    assert snap.status.value == "complete"
    assert snap.counts.processed == snap.counts.delivered == 275 and snap.duplicates == 0
    faces_before = [(f.id, f.frames_seen, dict(f.dominant_counts)) for f in snap.faces]
    # after the pass: more seeking and stepping changes no ID and no count
    window.pause()
    for index in (200, 3, 150):
        window.seek(index)
        wait_shown(qtbot, window, index)
        assert window._shown.result.index == index
    window.step(1)
    window.step(-1)
    window.toggle_play()
    qtbot.wait(300)
    window.toggle_play()
    after = window.run.snapshot()
    assert [(f.id, f.frames_seen, dict(f.dominant_counts)) for f in after.faces] == faces_before
    assert after.counts == snap.counts and after.version == snap.version
    # the exported session: schema-valid, and frames[] identical to `emodesk analyze` of the same file
    data = read_session_json(export(qtbot, window, tmp_path / "gui.session.json", "json"))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    cli = cli_session(tmp_path, CLIP)
    assert data["frames"] == cli["frames"]
    assert data["faces"] == cli["faces"] and data["status"] == cli["status"] == "complete"
    assert data["analysis"] == cli["analysis"] == {"mode": "every_frame", "sample_fps": None}
    # the status bar counted this analysis, once
    window.status.refresh()
    assert window.status.analysed == 275 and "analysed 275 of 275" in window.status.rates.text()
    assert window.status.latency.text() == ""  # no live latency for a file (nor while paused)


def test_sampled_analysis_equals_analyze_with_sample_fps(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(CLIP)
    wait_analysed(qtbot, window, 1)
    window.transport.mode.setCurrentIndex(1)  # "Sample frames per second": the file is analysed again
    window.transport.sample_rate.setValue(4.0)
    qtbot.waitUntil(lambda: window.run is not None and window.run.snapshot().analysis["mode"] == "sample_fps", timeout=60000)
    wait_done(qtbot, window)
    snap = window.run.snapshot()
    assert snap.status.value == "complete"
    assert snap.counts.processed + snap.counts.skipped == snap.counts.delivered == 275
    assert 36 <= snap.counts.processed <= 38  # 4 per second of a 9.18 s clip (275 frames at 29.97 fps)
    window.status.refresh()
    assert window.status.analysed == snap.counts.processed  # this run only, not the replaced one
    data = read_session_json(export(qtbot, window, tmp_path / "sampled.session.json", "json"))
    cli = cli_session(tmp_path, CLIP, "--sample-fps", "4")
    assert data["frames"] == cli["frames"] and data["analysis"] == cli["analysis"]
    # a frame between two samples is shown, and says so
    skipped = next(i for i in range(275) if i not in {f["index"] for f in data["frames"]})
    window.pause()
    window.seek(skipped)
    wait_shown(qtbot, window, skipped)
    assert window._shown.result is None and "between samples" in window.video.note


def test_the_transports_analysis_mode_and_the_settings_dialogs_analyse_row_are_one_setting(make_window) -> None:
    from emodesk.ui.settings_dialog import SettingsDialog

    def dialog_value(window: MainWindow) -> float | None:
        dialog = SettingsDialog(window.settings, window.graph.window_s, window)
        try:
            return dialog.values()[0].sample_fps
        finally:
            dialog.deleteLater()

    window = make_window()
    # the dialog's value, outside the range the transport once had (0.5-60), is shown as it is
    for value in (120.0, 0.25, None):
        window.apply_settings(dataclasses.replace(window.settings, sample_fps=value), window.graph.window_s)
        assert window.transport.sample_fps == value
    # the transport's choice is the setting the dialog opens with
    window.transport.mode.setCurrentIndex(1)
    window.transport.sample_rate.setValue(7.5)
    assert window.settings.sample_fps == 7.5 == dialog_value(window)
    window.transport.mode.setCurrentIndex(0)
    assert window.settings.sample_fps is None and dialog_value(window) is None


def test_play_at_the_end_restarts_and_a_saved_session_reopens_with_the_same_summary(
    qtbot, make_window, tmp_path: Path
) -> None:
    window = make_window()
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    window.seek(249)
    wait_shown(qtbot, window, 249)
    window.play()
    qtbot.waitUntil(lambda: window._shown.index < 200, timeout=10000)  # back at the start, playing
    window.pause()
    saved = export(qtbot, window, tmp_path / "portrait.session.json", "json")
    window._update_panels()
    counts = window.summary.counts
    assert counts and sum(sum(c.values()) for c in counts.values()) > 0

    again = make_window()
    with qtbot.waitSignal(again.sessionOpened, timeout=30000):
        again.open_path(saved)
    again._update_panels()
    assert again.summary.counts == counts
    assert again.review.video == PORTRAIT
    wait_shown(qtbot, again, 0)
    assert again._shown.image is not None and again._shown.result is not None
    assert again.timeline.analysed_bins() > 0
    again.seek(120)  # the timeline's click and the slider seek the same way
    wait_shown(qtbot, again, 120)
    assert again._shown.result.index == 120

    # without the video (moved away): the panels still work from the stored results
    document = json.loads(saved.read_text())
    document["source"]["path"] = str(tmp_path / "gone" / "moved.mp4")
    lonely = tmp_path / "alone" / "moved.session.json"
    lonely.parent.mkdir()
    lonely.write_text(json.dumps(document))
    third = make_window()
    with qtbot.waitSignal(third.sessionOpened, timeout=30000):
        drop(third, lonely)
    third._update_panels()
    assert third.review.video is None and third.summary.counts == counts
    assert "not found" in third.video._message


def test_export_dialog_writes_the_type_chosen(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    window = make_window()
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    wait_done(qtbot, window)
    answers = iter(
        [
            (str(tmp_path / "table.csv"), "Per-frame CSV (*.csv)"),  # Ctrl+E, CSV chosen
            (str(tmp_path / "typed.csv"), "Session JSON (*.session.json *.json)"),  # a .csv typed: CSV
            (str(tmp_path / "graph"), "Graph PNG (*.png)"),  # no suffix: the chosen type's
            (str(tmp_path / "whole.session.json"), "Session JSON (*.session.json *.json)"),
        ]
    )
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: next(answers)))
    for expected in ("table.csv", "typed.csv", "graph.png", "whole.session.json"):
        with qtbot.waitSignal(window.exportFinished, timeout=60000) as blocker:
            window.export_dialog(None)
        assert blocker.args[0].error is None and Path(blocker.args[0].result).name == expected
    assert (tmp_path / "table.csv").read_text().startswith("frame,")
    assert (tmp_path / "typed.csv").read_text().startswith("frame,")
    assert cv2.imread(str(tmp_path / "graph.png")) is not None
    jsonschema.Draft202012Validator(SCHEMA).validate(read_session_json(tmp_path / "whole.session.json"))


def test_graph_png_and_snapshot(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(PORTRAIT)
    wait_analysed(qtbot, window, 60)
    window.select_face(window.run.snapshot().faces[0].id)
    title = window.graph.export_title()
    assert title.startswith("Face #") and window.models.models[1].id in title and title.endswith(" s")
    png = export(qtbot, window, tmp_path / "graph.png", "png")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] >= 1200
    wait_done(qtbot, window)
    window.pause()  # playback still follows the clip at 1×: stop it on the frame to save
    window.seek(10)
    wait_shown(qtbot, window, 10)
    job = window.save_snapshot(tmp_path / "snap.png")
    # this job's own outcome: other jobs (the graph's read-back around the frame) finish meanwhile too
    qtbot.waitUntil(lambda: job.result is not None or job.error is not None, timeout=20000)
    assert job.error is None
    assert cv2.imread(str(tmp_path / "snap.png")).shape[:2] == (480, 480)


def test_clicking_a_face_selects_it_everywhere(qtbot, make_window) -> None:
    window = make_window()
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    qtbot.waitUntil(lambda: window.video.image is not None, timeout=60000)
    face = window._shown.result.faces[2]
    rect = window.video._target_rect()
    scale = rect.width() / window.video.image.width()
    cx = rect.x() + (face.box[0] + face.box[2]) / 2 * scale
    cy = rect.y() + (face.box[1] + face.box[3]) / 2 * scale
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPointF(cx, cy).toPoint())
    assert window.selected == face.track_id
    assert window.graph.selected == face.track_id
    qtbot.mouseClick(window.video, Qt.MouseButton.LeftButton, pos=QPointF(rect.x() + 3, rect.y() + 3).toPoint())
    assert window.selected is None


def test_closing_mid_run_stops_every_thread(qtbot, make_window) -> None:
    window = make_window()
    window.open_path(CROWD)
    wait_analysed(qtbot, window, 2)
    assert window.shutdown()
    assert window.runs.thread.isFinished() and window.playback.thread.isFinished() and window.jobs_thread.isFinished()


def test_no_recovery_prompt_after_a_clean_quit(qtbot, make_window, recovery: Path) -> None:
    # the sequence of the bug report: open a file, change the emotion model, play again, File → Quit
    window = make_window()
    window.open_path(PORTRAIT)
    wait_analysed(qtbot, window, 5)
    window.apply_settings(Settings(device="cpu", emotion="fer_mobilefacenet_int8"), 30.0)
    qtbot.waitUntil(lambda: window.models is not None and window.models.models[1].id == "fer_mobilefacenet_int8", timeout=60000)
    wait_analysed(qtbot, window, 5)
    window.play()
    assert list(recovery.glob("*.journal.jsonl"))  # the run is journaled while it goes
    quit_action = next(a for a in window.actions() if a.text() == "&Quit")
    quit_action.trigger()
    assert not window.isVisible()
    assert live_session.find_recoverable(recovery) == []
    assert not list(recovery.glob("*.journal.jsonl"))


def test_closing_the_window_ends_the_process(tmp_path: Path) -> None:
    # the window manager's close (a QCloseEvent), not only File → Quit, must end `emodesk`, even while the
    # crash-recovery question (a modal dialog without an Escape button) is open
    left = tmp_path / "emodesk" / "recovery" / "old-pid999999-20260101-000000-1.journal.jsonl"
    left.parent.mkdir(parents=True)
    header = {"type": "header", "schema_version": 1, "source": {"path": "old.mp4"}, "created": "2026-01-01", "labels": []}
    left.write_text(json.dumps(header) + "\n")
    script = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtGui import QCloseEvent\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from emodesk.ui import app as ui\n"
        "ui.create_application()\n"
        "def close():\n"
        "    from emodesk.ui.main_window import MainWindow\n"
        "    [w] = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]\n"
        "    QApplication.sendEvent(w, QCloseEvent())\n"
        "QTimer.singleShot(4000, close)\n"
        f"sys.exit(ui.run_gui({str(PORTRAIT)!r}))\n"
    )
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    # its own journal is gone; the crashed process' one is still there, to be offered next time
    assert [p.name for p in tmp_path.rglob("*.journal.jsonl")] == [left.name]


def test_transport_icons_are_visible_in_the_dark_theme(qtbot) -> None:
    from emodesk.ui.app import dark_palette
    from emodesk.ui.transport import TransportBar

    bar = TransportBar()
    qtbot.addWidget(bar)
    bar.setPalette(dark_palette())
    background = dark_palette().color(dark_palette().ColorRole.Button)
    for button in (bar.play_button, bar.back_button, bar.forward_button):
        image = button.icon().pixmap(16, 16).toImage()
        opaque = [image.pixelColor(x, y) for x in range(16) for y in range(16) if image.pixelColor(x, y).alpha() > 200]
        assert opaque, "the icon draws nothing"
        # the glyph contrasts with the dark button it sits on
        assert min(abs(c.lightnessF() - background.lightnessF()) for c in opaque) > 0.4


def test_any_exception_while_loading_models_is_a_message(qtbot, make_window, monkeypatch) -> None:
    import emodesk.ui.worker as worker_module

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug\nsecond line")

    monkeypatch.setattr(worker_module, "Pipeline", broken)
    window = make_window()
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    qtbot.waitUntil(lambda: "simulated bug" in window.messages.text, timeout=30000)
    assert "\n" not in window.messages.text and "RuntimeError" in window.messages.text
    assert not window.runs.running and window.runs.thread.isRunning()
    assert not window.status.busy.isVisible()


def test_bad_file_is_a_message_and_the_app_keeps_going(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    window.open_path(bogus)
    qtbot.waitUntil(lambda: "notes.mp4" in window.messages.text, timeout=60000)
    assert window.runs.thread.isRunning()
    window.open_path(TEST_IMAGES / "single_smile.jpg")  # and it still works
    wait_done(qtbot, window)
    assert window.run.frames == 1


def test_missing_model_is_a_message(qtbot, make_window) -> None:
    window = make_window(emotion="hsemotion_enet_b2_8")  # not in ../shared, and tests are offline
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    qtbot.waitUntil(lambda: "hsemotion_enet_b2_8" in window.messages.text, timeout=30000)


def test_live_virtual_camera_accounts_for_every_frame(qtbot, make_window) -> None:
    """Relations, not speeds: every delivered frame is processed or dropped, latency stays bounded, and
    frames drop only when analysing a frame takes longer than the camera's frame interval."""
    window = make_window()
    window.open_camera(str(PORTRAIT), virtual=True)  # 250 frames paced at 30 fps: about 8 s
    wait_analysed(qtbot, window, 3)
    assert "latest frame wins" in window.status.mode.text()
    assert not window.seekable
    qtbot.waitUntil(lambda: window.status.latency_ms is not None, timeout=20000)
    assert window.status.latency_ms < 10000  # bounded (a queue would grow with the clip's length)
    wait_done(qtbot, window, timeout=120000)
    run = window.run
    counts = run.counts
    assert counts.delivered == 250
    assert counts.processed + counts.dropped == counts.delivered and counts.skipped == 0
    frame_ms = 1000.0 / 30.0
    mean_ms = run.timings["mean_total_ms"]
    if counts.dropped:
        # dropping means analysis could not keep up: the frames it did analyse took longer on average
        # than the capture interval at least part of the time (allowing for scheduling noise)
        assert mean_ms > 0.5 * frame_ms or counts.dropped < 5
    if mean_ms > 2 * frame_ms:
        assert counts.dropped > 0  # analysis slower than capture must drop, not queue
    window.status.refresh()
    assert window.status.latency.text() == ""  # the run ended: no latency shown
    # an unsaved live session asks before closing; cancelling keeps the window open
    window.ask_unsaved = lambda: "cancel"  # type: ignore[method-assign]
    window.close()
    assert window.isVisible()


def test_recording_the_annotated_live_view(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_camera(str(PORTRAIT), virtual=True)
    wait_analysed(qtbot, window, 2)
    out = tmp_path / "live.avi"
    window.start_recording(out)
    assert window.record_action.isChecked()
    wait_analysed(qtbot, window, window.run.frames + 15)
    with qtbot.waitSignal(window.runs.recordingClosed, timeout=20000) as blocker:
        window.toggle_recording()  # stop: closed on the worker thread
    assert blocker.args[0] == str(out) and blocker.args[1] >= 10
    cap = cv2.VideoCapture(str(out))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = cap.read()
    cap.release()
    assert ok and frames == blocker.args[1] and first.shape[:2] == (480, 480)
    assert not window.record_action.isChecked()


def test_recovery_of_a_journal_left_by_a_crash(qtbot, make_window, recovery: Path, tmp_path: Path, monkeypatch) -> None:
    import emodesk.ui.main_window as main_window_module

    window = make_window()
    window.open_path(TEST_IMAGES)
    wait_done(qtbot, window)
    # what a crashed process leaves: its journal, under a pid that is not running
    journal = window.run.journal_path
    dead = journal.with_name(journal.name.replace(f"pid{os.getpid()}", "pid999999"))
    dead.write_bytes(journal.read_bytes())
    asked = []
    out = tmp_path / "recovered.session.json"
    monkeypatch.setattr(main_window_module, "ask_about", lambda parent, item: asked.append(item) or ("save", out))
    window.offer_recovery()  # what a launch does: journals are found on the jobs thread, then asked about
    qtbot.waitUntil(lambda: out.exists() and not dead.exists(), timeout=30000)
    [item] = asked
    assert item.journal == dead and item.source.endswith("test_images") and item.frames == 2
    data = read_session_json(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["frames_processed"] == 2  # its run had finished: the journal says complete


def test_recent_files_and_settings_are_remembered(qtbot, make_window) -> None:
    window = make_window()
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    window.apply_settings(Settings(device="cpu", emotion="mini_xception", smoothing=0.8, detect_every=3), 45.0)
    wait_done(qtbot, window)
    again = make_window()
    assert again._recent()[:2] == [str(TEST_IMAGES / "group6_test_image.jpg"), str(TEST_IMAGES / "single_smile.jpg")]
    from emodesk.ui.settings_dialog import load_ui_settings

    settings, graph_window = load_ui_settings(again.qsettings)
    assert (settings.emotion, settings.smoothing, settings.detect_every, graph_window) == ("mini_xception", 0.8, 3, 45.0)


def test_load_session_api_reads_what_the_window_exported(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    wait_done(qtbot, window)
    session = emodesk.load_session(export(qtbot, window, tmp_path / "g.session.json", "json"))
    assert len(session.frames) == 1 and len(session.faces) == len(window.run.snapshot().faces) > 1
    assert np.isfinite([f.confidence for f in session.frames[0].faces]).all()


def test_keys_mark_events_at_the_frame_on_screen_and_they_reach_the_session(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    window.pause()
    window.seek(30)
    wait_shown(qtbot, window, 30)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_1)
    window.seek(90)
    wait_shown(qtbot, window, 90)
    qtbot.keyClick(window, Qt.Key.Key_2)
    window.seek(150)
    wait_shown(qtbot, window, 150)
    qtbot.keyClick(window, Qt.Key.Key_3)
    assert [(e.label, e.frame, e.source) for e in window.markers.events] == [
        ("Event 1", 30, "key"), ("Event 2", 90, "key"), ("Event 3", 150, "key")
    ]
    assert window.markers.events[0].time_s == pytest.approx(1.0)
    # markers on the graph's time axis and on the session timeline
    assert window.graph.event_times == pytest.approx([1.0, 3.0, 5.0])
    assert [e.frame for e in window.timeline.events] == [30, 90, 150]
    # rename one, delete another (the timeline's right-click menu calls these)
    window.timeline.eventRenamed.emit(window.markers.events[1], "stimulus A")
    window.timeline.eventDeleted.emit(window.markers.events[2])
    saved = export(qtbot, window, tmp_path / "events.session.json", "json")
    data = read_session_json(saved)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert [(e["label"], e["frame"], e["source"]) for e in data["events"]] == [("Event 1", 30, "key"), ("stimulus A", 90, "key")]
    # the edits went through the run's journal: a crash recovery of it keeps them (not only the first marks)
    crashed = tmp_path / "crashed.journal.jsonl"
    lines = window.run.journal_path.read_text().splitlines(True)
    crashed.write_text("".join(line for line in lines if '"type":"end"' not in line))
    assert [json.loads(line)["type"] for line in lines].count("event_edit") == 2
    recovered = tmp_path / "recovered.session.json"
    write_session_from_journal(crashed, recovered)
    assert read_session_json(recovered)["events"] == data["events"]
    # the CSV carries the active event of each frame
    csv_path = export(qtbot, window, tmp_path / "events.frames.csv", "csv")
    text = csv_path.read_text()
    assert "stimulus A" in text and "Event 3" not in text
    # reopened, the session shows the same markers
    again = make_window()
    with qtbot.waitSignal(again.sessionOpened, timeout=30000):
        again.open_path(saved)
    assert [e.label for e in again.timeline.events] == ["Event 1", "stimulus A"]


def test_same_key_within_the_span_closes_an_interval(qtbot, make_window) -> None:
    window = make_window()
    window.markers.close_span_s = 5.0
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    window.pause()
    window.seek(30)
    wait_shown(qtbot, window, 30)
    window.mark_event(4)
    window.seek(60)
    wait_shown(qtbot, window, 60)
    window.mark_event(4)
    [event] = window.markers.events
    assert (event.time_s, event.duration_s, event.label) == (pytest.approx(1.0), pytest.approx(1.0), "Event 4")


def test_valence_line_can_be_switched_on(qtbot, make_window) -> None:
    window = make_window()
    window.open_path(PORTRAIT)
    wait_analysed(qtbot, window, 30)
    window.valence_action.trigger()
    assert window.graph.valence_visible
    window.graph._dirty = True
    window.graph.refresh()
    x, y = window.graph._valence_curve.getData()
    assert len(x) > 0 and np.nanmin(y) >= -1.0 and np.nanmax(y) <= 1.0
    window.valence_action.trigger()
    assert not window.graph.valence_visible


def test_pdf_report_and_annotated_video_from_the_export_menu_with_cancel(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    # a cancelled export leaves no file and says so
    with qtbot.waitSignal(window.exportFinished, timeout=120000) as blocker:
        job = window.export_to(tmp_path / "cancelled.annotated.mp4", "video")
        window.jobs.cancel(job.job_id)
    assert blocker.args[0].cancelled and not (tmp_path / "cancelled.annotated.mp4").exists()
    video = export(qtbot, window, tmp_path / "portrait.annotated.mp4", "video")
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 250 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 480
    cap.release()
    pdf = export(qtbot, window, tmp_path / "portrait.report.pdf", "pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert PORTRAIT.name in text


def test_emodesk_session_json_opens_the_window_on_it(monkeypatch, tmp_path: Path) -> None:
    # `emodesk SESSION.session.json` goes through cli/gui.py to run_gui(path), which reviews it
    import emodesk.ui.app as ui_app
    from emodesk import cli

    session = tmp_path / "clip.session.json"
    session.write_text("{}")
    opened = []
    monkeypatch.setattr(ui_app, "run_gui", lambda path=None, theme="auto": opened.append(path) or 0)
    assert cli.main([str(session)]) == 0
    assert opened == [str(session)]
    from emodesk.ui.review import is_session_file

    assert is_session_file(opened[0]) and not is_session_file(str(PORTRAIT))


def test_the_status_bar_shows_the_runs_own_counts(qtbot, make_window) -> None:
    window = make_window()
    window.open_camera(str(CROWD), virtual=True)
    wait_done(qtbot, window, timeout=120000)
    window._update_panels()
    counts = window.run.counts
    assert (window.status.analysed, window.status.dropped) == (counts.processed, counts.dropped)
    assert f"dropped {counts.dropped}" in window.status.rates.text()


def test_the_graph_follows_playback_over_the_stored_results_after_the_pass(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.graph.set_window(2.0)  # a short window, so a seek leaves what the graph holds
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    window.pause()
    for index in (30, 200, 60):
        window.seek(index)
        wait_shown(qtbot, window, index)
        t = index / 30.0
        qtbot.waitUntil(lambda t=t: (s := window.graph.data_span()) is not None and s[0] <= t <= s[1], timeout=20000)
        lo, hi = window.graph.plot_item.viewRange()[0]
        assert lo <= t <= hi  # the frame on screen is in view, with its stored results around it
        assert window.graph.time_range() is not None
    assert window.run.snapshot().counts.processed == 250  # reading results back analysed nothing


def test_a_saved_photo_session_reopens_with_its_faces(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_path(TEST_IMAGES / "group6_test_image.jpg")
    wait_done(qtbot, window)
    saved = export(qtbot, window, tmp_path / "group.session.json", "json")
    window._update_panels()
    again = make_window()
    with qtbot.waitSignal(again.sessionOpened, timeout=30000):
        again.open_path(saved)
    again._update_panels()
    assert again.summary.counts == window.summary.counts and len(again.faces.track_ids()) > 1
    assert "results are shown in the panels" in again.video._message


def test_an_event_marked_during_a_live_session_is_in_its_session(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.open_camera(str(PORTRAIT), virtual=True)
    wait_analysed(qtbot, window, 5)
    qtbot.waitUntil(lambda: window._shown is not None, timeout=10000)
    event = window.mark_event(3)
    assert event is not None and event.frame == window._shown.index
    qtbot.waitUntil(lambda: len(window.run.snapshot().events) == 1, timeout=10000)  # journaled by the run
    window.stop_analysis()
    wait_done(qtbot, window)
    data = read_session_json(export(qtbot, window, tmp_path / "live.session.json", "json"))
    assert [(e["label"], e["frame"], e["source"]) for e in data["events"]] == [("Event 3", event.frame, "key")]
    assert data["status"] == "stopped" and data["analysis"]["mode"] == "latest_frame"
    counts = data["counts"]
    assert counts["processed"] + counts["dropped"] == counts["delivered"]


def test_unexported_event_markers_are_not_dropped_without_asking(qtbot, make_window, tmp_path: Path) -> None:  # noqa: ANN001
    window = make_window()
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    assert not window.has_unsaved  # a file without marks can be analysed again: no question
    window.pause()
    window.seek(40)
    wait_shown(qtbot, window, 40)
    window.mark_event(1)
    asked = []
    window.ask_unsaved = lambda: asked.append(1) or "cancel"  # type: ignore[method-assign]
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    assert asked == [1] and window.source_info.path == str(PORTRAIT)  # cancelled: the session stays
    export(qtbot, window, tmp_path / "marked.session.json", "json")
    assert not window.has_unsaved
    window.open_path(TEST_IMAGES / "single_smile.jpg")
    assert asked == [1]  # exported: no question


def test_baseline_marked_with_b_is_recorded_shown_and_used_by_exports_and_valence(qtbot, make_window, tmp_path: Path) -> None:
    """Key B twice marks the participant's baseline at the frames on screen: journaled by the run, recorded
    in the session as `emodesk analyze --baseline` records it, shown on the timeline and the graph, used by
    the CSV (calibrated columns), the report and the selected face's valence line; a reviewed session's
    baseline can be cleared from the timeline."""
    from emodesk.core.baseline import BaselineInterval
    from emodesk.core.export import SessionView, record_in_session

    window = make_window()
    window.open_path(PORTRAIT)
    wait_done(qtbot, window)
    window.pause()
    window.seek(0)
    wait_shown(qtbot, window, 0)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.markers.baseline is None and window.markers.baseline_start == 0.0
    window.seek(45)
    wait_shown(qtbot, window, 45)
    qtbot.keyClick(window, Qt.Key.Key_B)
    interval = BaselineInterval(0.0, 1.5)
    assert window.markers.baseline == interval == window.timeline.baseline
    qtbot.waitUntil(lambda: window.run.baseline == interval, timeout=10000)
    # the valence line of the selected face is read from its calibrated probabilities
    window.valence_action.trigger()
    window.select_face(1)
    qtbot.waitUntil(lambda: window.graph.calibrated_faces == (1,), timeout=20000)
    window.seek(200)
    wait_shown(qtbot, window, 200)
    qtbot.waitUntil(lambda: len(window.graph.valence_series()[0]) > 0, timeout=20000)
    _, calibrated = window.graph.valence_series()
    window.graph._dirty = True
    window.graph.refresh()
    assert window.graph.legend.getLabel(window.graph._valence_curve).text == "valence (calibrated)"
    window.graph._baselines = {}
    _, smoothed = window.graph.valence_series()
    assert np.isfinite(calibrated).any() and not np.allclose(calibrated, smoothed, equal_nan=True)

    saved = export(qtbot, window, tmp_path / "b.session.json", "json")
    data = read_session_json(saved)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert (data["baseline"]["start_s"], data["baseline"]["end_s"]) == (0.0, 1.5)
    assert [f["id"] for f in data["baseline"]["faces"]] == [1]
    # the same as `emodesk analyze --baseline 0:1.5` records it (cli/export.py: record_in_session)
    plain = {k: v for k, v in data.items() if k != "baseline"}
    cli = tmp_path / "cli.session.json"
    cli.write_text(json.dumps(plain))
    record_in_session(cli, SessionView(cli, baseline=interval))
    assert read_session_json(cli)["baseline"] == data["baseline"] and read_session_json(cli)["faces"] == data["faces"]
    csv_path = export(qtbot, window, tmp_path / "b.frames.csv", "csv")
    header, first = csv_path.read_text().splitlines()[:2]
    assert "calibrated_neutral" in header.split(",")
    # a face that looks like its resting face reads (almost) neutral: frame 0 is inside the baseline
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert float(row["calibrated_neutral"]) > 0.5
    pdf = export(qtbot, window, tmp_path / "b.report.pdf", "pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "interval: 0 s to 1.5 s; faces seen in it: #1" in text and "baseline from 46 frames in 0-1.5 s" in text
    assert "valence mean" in text and "(from calibrated probabilities)" in text

    again = make_window()
    with qtbot.waitSignal(again.sessionOpened, timeout=30000):
        again.open_path(saved)
    assert again.markers.baseline == interval == again.timeline.baseline
    again.timeline.baselineEdge.emit("clear", 0.0)
    cleared = read_session_json(export(qtbot, again, tmp_path / "cleared.session.json", "json"))
    assert "baseline" not in cleared and cleared["frames"] == data["frames"]
