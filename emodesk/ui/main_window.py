"""The main window: wires the worker, the panels and the actions together. Panels live in their own modules.

Results arrive from the worker thread through queued signals and are only *stored* there; a ~30 Hz
timer draws the newest frame and refreshes the panels, so a fast model never floods the GUI thread.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from emodesk import __version__
from emodesk.core.annotate import annotate
from emodesk.core.cameras import list_cameras
from emodesk.core.live_session import SessionStore, find_recoverable
from emodesk.core.recording import VideoRecorder
from emodesk.core.results import FrameResult
from emodesk.core.session import write_session_from_journal
from emodesk.core.settings import Settings
from emodesk.core.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, SourceInfo
from emodesk.errors import EmodeskError
from emodesk.ui.face_panel import FacePanel
from emodesk.ui.graph_panel import EmotionGraph
from emodesk.ui.qt_image import bgr_to_qimage
from emodesk.ui.settings_dialog import SettingsDialog, load_ui_settings, save_ui_settings
from emodesk.ui.status_bar import AnalysisStatusBar
from emodesk.ui.summary_panel import SummaryPanel
from emodesk.ui.transport import TransportBar
from emodesk.ui.video_view import VideoView
from emodesk.ui.worker import AnalysisWorker, RunEnd, RunRequest, source_label

log = logging.getLogger(__name__)

DISPLAY_INTERVAL_MS = 33
RECENT_KEY = "recent/files"
RECENT_MAX = 10
CAMERA_SIZES = ((640, 480), (1280, 720), (1920, 1080))
OPEN_FILTER = (
    "Videos and images ("
    + " ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS))
    + ");;All files (*)"
)


class MessageBar(QWidget):
    """A dismissible line above the video for errors and warnings: the app keeps running."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(text="✕")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.setAutoFillBackground(True)
        self.hide()

    def show_message(self, text: str, *, error: bool) -> None:
        colour = "#7a1f1f" if error else "#6b5a12"
        self.setStyleSheet(f"background: {colour}; color: white;")
        self.label.setText(text)
        self.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


class MainWindow(QMainWindow):
    def __init__(self, qsettings: QSettings | None = None, *, offer_recovery: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(f"emodesk {__version__}")
        self.resize(1400, 860)
        self.setAcceptDrops(True)
        self.qsettings = qsettings or QSettings()
        self.settings, graph_window_s = load_ui_settings(self.qsettings)

        # state of the open source
        self.target: str | int | None = None
        self.source_info: SourceInfo | None = None
        self.live_source = False  # camera or stream: never seekable
        self.store: SessionStore | None = None
        self.playing = False
        self.position = 0  # next frame index to analyse (files)
        self.selected: int | None = None
        self._run_id = 0
        self._camera_size: tuple[int, int] | None = None
        self._latest: FrameResult | None = None
        self._latest_dirty = False
        self._recorder: VideoRecorder | None = None
        self._pending_models = None  # the worker's current Pipeline (models, labels), set by modelsReady
        self._virtual_camera = False

        # widgets
        self.video = VideoView()
        self.messages = MessageBar()
        self.transport = TransportBar()
        self.graph = EmotionGraph(window_s=graph_window_s)
        self.faces = FacePanel()
        self.summary = SummaryPanel()
        self.status = AnalysisStatusBar()
        self.setStatusBar(self.status)
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.messages)
        column.addWidget(self.video, 1)
        column.addWidget(self.transport)
        self.setCentralWidget(centre)
        faces_dock = self._dock("Faces", self.faces, Qt.DockWidgetArea.RightDockWidgetArea)
        summary_dock = self._dock("Session summary", self.summary, Qt.DockWidgetArea.RightDockWidgetArea)
        graph_dock = self._dock("Emotions over time", self.graph, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.graph.setMinimumHeight(170)
        # without explicit sizes Qt gives the bottom dock only its minimum and the graph is unreadable
        self.resizeDocks([graph_dock], [250], Qt.Orientation.Vertical)
        self.resizeDocks([faces_dock, summary_dock], [470, 470], Qt.Orientation.Horizontal)
        self.resizeDocks([faces_dock, summary_dock], [330, 250], Qt.Orientation.Vertical)

        # the worker thread: one long-lived QObject, never a QThread subclass
        self.thread = QThread(self)
        self.thread.setObjectName("emodesk-worker")
        self.worker = AnalysisWorker()
        self.worker.moveToThread(self.thread)
        self.worker.resultReady.connect(self._on_result)
        self.worker.runEnded.connect(self._on_run_end)
        self.worker.status.connect(self._on_worker_status)
        self.worker.modelsReady.connect(self._on_models)
        self.worker.sourceOpened.connect(self._on_source_opened)
        self.thread.start()

        self.video.faceClicked.connect(self.select_face)
        self.faces.faceSelected.connect(self.select_face)
        self.transport.playToggled.connect(self.toggle_play)
        self.transport.stepRequested.connect(self.step)
        self.transport.seekRequested.connect(self.seek)
        self.transport.modeChanged.connect(self._on_mode_changed)

        self._build_actions()
        self.timer = QTimer(self)
        self.timer.setInterval(DISPLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._refresh_display)
        self.timer.start()
        self._slow_tick = 0
        if offer_recovery:
            QTimer.singleShot(0, self.offer_recovery)

    # ----------------------------------------------------------------- building
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut=None, *, checkable: bool = False) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work even with the menu bar hidden (full screen)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        self._action(file_menu, "&Export…", self.export_dialog, "Ctrl+E")
        self._action(file_menu, "Export session &JSON…", lambda: self.export_dialog("json"))
        self._action(file_menu, "Export per-frame &CSV…", lambda: self.export_dialog("csv"))
        self._action(file_menu, "Export &graph PNG…", lambda: self.export_dialog("png"))
        file_menu.addSeparator()
        self._action(file_menu, "&Snapshot (PNG)…", self.snapshot_dialog, "Ctrl+Shift+S")
        self.record_action = self._action(file_menu, "&Record annotated video…", self.toggle_recording, "Ctrl+R", checkable=True)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.camera_menu = bar.addMenu("&Camera")
        self.camera_menu.aboutToShow.connect(self._fill_cameras)

        play_menu = bar.addMenu("&Playback")
        self._action(play_menu, "Play / pause", self.toggle_play, Qt.Key.Key_Space)
        self._action(play_menu, "Next frame", lambda: self.step(1), Qt.Key.Key_Right)
        self._action(play_menu, "Previous frame", lambda: self.step(-1), Qt.Key.Key_Left)
        self._action(play_menu, "Stop", self.stop_analysis, "Ctrl+.")

        view_menu = bar.addMenu("&View")
        self._action(view_menu, "&Full screen", self.toggle_full_screen, Qt.Key.Key_F11)
        self._action(view_menu, "Show &all faces in the graph", lambda: self.select_face(None))
        self._action(view_menu, "&Settings…", self.settings_dialog, QKeySequence.StandardKey.Preferences)

    # ----------------------------------------------------------------- opening
    def open_dialog(self) -> None:
        start = str(Path(self._recent()[0]).parent) if self._recent() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or image", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a video, image or folder and start analysing it."""
        path = Path(path)
        if not self._confirm_replace():
            return
        self._remember(str(path))
        self._begin(str(path), live_source=False)

    def open_camera(self, target: int | str, size: tuple[int, int] | None = None, *, virtual: bool = False) -> None:
        if not self._confirm_replace():
            return
        self._camera_size = size
        self._begin(target, live_source=not virtual, virtual_camera=virtual)

    def _begin(self, target: str | int, *, live_source: bool, virtual_camera: bool = False) -> None:
        self.stop_analysis()
        self._close_store(keep_journal=False)
        self.target = target
        self.live_source = live_source or virtual_camera
        self._virtual_camera = virtual_camera
        self.source_info = None
        self.position = 0
        self.selected = None
        self._latest = None
        self.messages.hide()
        self.graph.clear()
        self.faces.clear()
        self.summary.clear()
        self.video.clear("Opening…")
        self.transport.set_source(None, None, seekable=False)
        self.play()

    def _confirm_replace(self) -> bool:
        """Before dropping results that were never exported: ask (live sessions cannot be redone)."""
        if self.store is None or not self.store.has_unsaved or not self.live_source:
            return True
        return self.ask_unsaved() != "cancel"

    def ask_unsaved(self) -> str:
        """'export', 'discard' or 'cancel' (a method so tests can answer it)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText("This live session has not been exported.")
        box.setInformativeText("Export it before it is closed? Live video cannot be analysed again.")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return "export" if self.export_dialog("json") else "cancel"
        return "discard" if answer == QMessageBox.StandardButton.Discard else "cancel"

    # ----------------------------------------------------------------- running
    def _submit(self, start_frame: int = 0, max_frames: int | None = None) -> None:
        if self.target is None:
            return
        self.worker.stop()
        self._run_id += 1
        file_source = not self.live_source
        path = Path(str(self.target))
        # only a video has a clock to keep pace with; stills and folders are always analysed losslessly
        video_file = file_source and not path.is_dir() and path.suffix.lower() not in IMAGE_EXTENSIONS
        realtime = (video_file and self.transport.realtime and max_frames is None) or self._virtual_camera
        self.worker.submit(
            RunRequest(
                run_id=self._run_id,
                target=self.target,
                settings=self.settings,
                live=self.live_source or realtime,
                realtime=realtime,
                start_frame=start_frame if file_source else 0,
                max_frames=max_frames,
                camera_size=self._camera_size,
            )
        )

    @property
    def seekable(self) -> bool:
        return (
            not self.live_source
            and self.source_info is not None
            and self.source_info.kind == "video"
            and bool(self.source_info.frame_count)
        )

    def play(self) -> None:
        if self.target is None:
            return
        count = self.source_info.frame_count if self.source_info else None
        if self.seekable and count and self.position >= count:
            self.position = 0  # at the end: play again from the start
        self.playing = True
        self.transport.set_playing(True)
        self._submit(self.position)

    def pause(self) -> None:
        self.playing = False
        self.transport.set_playing(False)
        self.worker.stop()

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def stop_analysis(self) -> None:
        self.pause()
        if self._recorder is not None:
            self.toggle_recording()

    def step(self, delta: int) -> None:
        if not self.seekable:
            return
        self.pause()
        current = self.position - 1  # the frame on screen
        target = max(0, min(current + delta, (self.source_info.frame_count or 1) - 1))
        self._submit(target, max_frames=1)

    def seek(self, index: int) -> None:
        if not self.seekable:
            return
        self.position = index
        if self.playing:
            self._submit(index)
        else:
            self._submit(index, max_frames=1)

    def _on_mode_changed(self, realtime: bool) -> None:
        if self.playing and not self.live_source:
            self._submit(self.position)

    # ----------------------------------------------------------------- worker signals
    @Slot(str)
    def _on_worker_status(self, text: str) -> None:
        self.status.showMessage(text, 5000)
        self.status.busy.setVisible(text.startswith("Loading"))

    @Slot(object)
    def _on_models(self, pipeline) -> None:  # noqa: ANN001
        self.status.busy.hide()
        self._pending_models = pipeline
        self.status.set_models(pipeline.models)
        self.graph.set_labels(pipeline.labels)
        self.summary.set_labels(pipeline.labels)

    @Slot(int, object)
    def _on_source_opened(self, run_id: int, info: SourceInfo) -> None:
        if run_id != self._run_id:
            return
        first = self.source_info is None
        self.source_info = info
        self.status.set_source(info, source_label(info))
        self.transport.set_source(info.fps, info.frame_count, seekable=self.seekable)
        pipeline = self._pending_models
        if first or self.store is None:
            self._close_store(keep_journal=False)
            self.store = SessionStore(info, models=pipeline.models, settings=self.settings, labels=pipeline.labels)
        elif self.store.models != pipeline.models:
            # a different model makes a different session; the old one stays recoverable until exported
            self._close_store(keep_journal=self.store.has_unsaved)
            self.store = SessionStore(info, models=pipeline.models, settings=self.settings, labels=pipeline.labels)
            self.graph.clear()
            self.faces.clear()
            self.summary.clear()
        else:
            self.store.settings = self.settings

    @Slot(int, object)
    def _on_result(self, run_id: int, result: FrameResult) -> None:
        if run_id != self._run_id or self.store is None:
            return  # a straggler from a run we already replaced
        self.store.add(result)
        self.graph.add_result(result)
        self.faces.add_result(result, result.image)
        self.summary.add_result(result)
        self.status.count_frame(result.dropped)
        self.position = result.index + 1
        self._latest = result
        self._latest_dirty = True
        if self._recorder is not None and result.image is not None:
            try:
                self._recorder.write(annotate(result.image, result, selected=self.selected))
            except EmodeskError as exc:
                self.show_error(str(exc))
                self.toggle_recording()

    @Slot(object)
    def _on_run_end(self, end: RunEnd) -> None:
        if end.run_id != self._run_id:
            return
        if end.error:
            self.show_error(end.error)
            if self.source_info is None:
                self.video.clear("Nothing to show: " + end.error)
        for warning in end.warnings:
            if warning != end.error:
                self.messages.show_message(warning, error=False)
        if self.store is not None and end.status == "truncated":
            self.store.status = "truncated"
            self.store.warnings.extend(w for w in end.warnings if w not in self.store.warnings)
        if end.status != "stopped":
            self.playing = False
            self.transport.set_playing(False)
            if end.status == "complete" and self.source_info and self.source_info.kind != "video":
                self.status.showMessage(f"Analysed {len(self.store or [])} frame(s)", 5000)

    # ----------------------------------------------------------------- display
    def _refresh_display(self) -> None:
        latest = self._latest
        if latest is not None and self._latest_dirty and latest.image is not None:
            self._latest_dirty = False
            annotated = annotate(latest.image, latest, selected=self.selected)
            self.video.set_frame(bgr_to_qimage(annotated), latest)
            if latest.captured_at:
                self.status.note_latency((time.monotonic() - latest.captured_at) * 1000.0)
            if self.seekable:
                self.transport.set_position(latest.index, len(self.store or []))
        self.graph.refresh()
        self.faces.refresh()
        self._slow_tick += 1
        if self._slow_tick % 8 == 0:  # ~4 Hz is plenty for bars and text
            self.summary.refresh()
            self.status.refresh()

    def repaint_overlay(self) -> None:
        self._latest_dirty = self._latest is not None

    @Slot(object)
    def select_face(self, track_id: int | None) -> None:
        self.selected = track_id
        self.graph.select(track_id)
        self.faces.select(track_id)
        self.repaint_overlay()

    def show_error(self, text: str) -> None:
        log.warning("%s", text)
        self.messages.show_message(text, error=True)
        self.status.showMessage(text, 10000)

    # ----------------------------------------------------------------- export
    def export_dialog(self, kind: str | None = None) -> Path | None:
        if self.store is None or not len(self.store):
            self.show_error("Nothing to export yet: open a video, image or camera first.")
            return None
        stem = Path(str(self.source_info.path if self.source_info else "session")).stem or "session"
        filters = {
            "json": "Session JSON (*.session.json)",
            "csv": "Per-frame CSV (*.csv)",
            "png": "Graph PNG (*.png)",
        }
        default = {"json": f"{stem}.session.json", "csv": f"{stem}.csv", "png": f"{stem}-graph.png"}
        chosen = kind or "json"
        path, selected = QFileDialog.getSaveFileName(
            self,
            "Export",
            default[chosen],
            ";;".join(filters[k] for k in ([chosen] if kind else filters)),
        )
        if not path:
            return None
        if kind is None:
            chosen = next(k for k, f in filters.items() if f == selected) if selected else "json"
        return self.export_to(Path(path), chosen)

    def export_to(self, path: Path, kind: str) -> Path | None:
        try:
            if kind == "json":
                written = self.store.export_json(path)
            elif kind == "csv":
                written = self.store.export_csv(path)
            else:
                written = self.graph.export_png(path)
        except EmodeskError as exc:
            self.show_error(str(exc))
            return None
        self.status.showMessage(f"Exported {written}", 8000)
        return written

    def snapshot_dialog(self) -> None:
        if self._latest is None or self._latest.image is None:
            self.show_error("No frame to save yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", f"snapshot-{self._latest.index}.png", "PNG (*.png)")
        if path:
            self.save_snapshot(Path(path))

    def save_snapshot(self, path: Path) -> Path | None:
        if self._latest is None or self._latest.image is None:
            return None
        ok, data = cv2.imencode(".png", annotate(self._latest.image, self._latest, selected=self.selected))
        try:
            if not ok:
                raise OSError("PNG encoding failed")
            data.tofile(str(path))  # also works for non-ASCII paths on Windows, unlike cv2.imwrite
        except OSError as exc:
            self.show_error(f"{path}: cannot write the snapshot ({exc})")
            return None
        self.status.showMessage(f"Saved {path}", 5000)
        return path

    def toggle_recording(self) -> None:
        if self._recorder is not None:
            path = self._recorder.close()
            self._recorder = None
            self.record_action.setChecked(False)
            self.status.showMessage(f"Recording saved: {path}", 8000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Record annotated video", "emodesk-recording.mp4", "Video (*.mp4 *.avi)")
        if path:
            self.start_recording(Path(path))
        else:
            self.record_action.setChecked(False)

    def start_recording(self, path: Path) -> None:
        fps = (self.source_info.fps if self.source_info else None) or 30.0
        try:
            self._recorder = VideoRecorder(path, fps)
        except EmodeskError as exc:
            self.show_error(str(exc))
            self.record_action.setChecked(False)
            return
        self.record_action.setChecked(True)

    # ----------------------------------------------------------------- menus and settings
    def _recent(self) -> list[str]:
        value = self.qsettings.value(RECENT_KEY, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _remember(self, path: str) -> None:
        recent = [p for p in self._recent() if p != path]
        self.qsettings.setValue(RECENT_KEY, [path, *recent][:RECENT_MAX])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda checked=False, p=path: self.open_path(p))
        if not self._recent():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _fill_cameras(self) -> None:
        self.camera_menu.clear()
        cameras = list_cameras()
        if not cameras:
            self.camera_menu.addAction("No camera found").setEnabled(False)
        for camera in cameras:
            sub = self.camera_menu.addMenu(camera.name)
            if camera.virtual:
                sub.addAction("Start").triggered.connect(lambda checked=False, c=camera: self.open_camera(c.target, virtual=True))
                continue
            for w, h in CAMERA_SIZES:
                sub.addAction(f"{w}×{h}").triggered.connect(
                    lambda checked=False, c=camera, s=(w, h): self.open_camera(c.target, s)
                )
        self.camera_menu.addSeparator()
        stop = self.camera_menu.addAction("Stop camera")
        stop.setEnabled(self.live_source and self.playing)
        stop.triggered.connect(self.stop_analysis)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self.graph.window_s, self)
        if dialog.exec():
            settings, window = dialog.values()
            self.apply_settings(settings, window)

    def apply_settings(self, settings: Settings, graph_window_s: float) -> None:
        save_ui_settings(self.qsettings, settings, graph_window_s)
        self.graph.set_window(graph_window_s)
        changed = settings != self.settings
        self.settings = settings
        if changed and self.target is not None and self.playing:
            self._submit(self.position)  # the worker reloads models only if they changed

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # ----------------------------------------------------------------- recovery and closing
    def offer_recovery(self) -> None:
        for item in find_recoverable():
            answer = QMessageBox.question(
                self,
                "Recover session",
                f"emodesk did not exit cleanly during a session of {item.source} "
                f"({item.frames} frames, started {item.created}).\nSave it as a session file?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Ignore,
            )
            if answer == QMessageBox.StandardButton.Save:
                name = f"{Path(item.source).stem or 'recovered'}.session.json"
                path, _ = QFileDialog.getSaveFileName(self, "Save recovered session", name, "Session JSON (*.session.json)")
                if path:
                    self.recover(item.journal, Path(path))
            elif answer == QMessageBox.StandardButton.Discard:
                item.journal.unlink(missing_ok=True)

    def recover(self, journal: Path, path: Path) -> Path | None:
        try:
            write_session_from_journal(journal, path)
        except EmodeskError as exc:
            self.show_error(str(exc))
            return None
        journal.unlink(missing_ok=True)
        self.status.showMessage(f"Recovered session saved to {path}", 8000)
        return path

    def _close_store(self, *, keep_journal: bool) -> None:
        if self.store is not None:
            self.store.close(keep_journal=keep_journal)
            self.store = None

    def shutdown(self) -> bool:
        """Stop the run and the worker thread; True when the thread has really ended."""
        self.timer.stop()
        self.worker.stop()
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        self.thread.quit()
        finished = self.thread.wait(5000)
        if not finished:
            log.error("the analysis thread did not stop within 5 s")
        return finished

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self.store is not None and self.store.has_unsaved and self.live_source:
            if self.ask_unsaved() == "cancel":
                event.ignore()
                return
        self.shutdown()
        self._close_store(keep_journal=False)
        event.accept()

    # ----------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            if len(paths) > 1:
                self.messages.show_message(f"Opened {Path(paths[0]).name}; drop one file or a folder at a time.", error=False)
            self.open_path(paths[0])
