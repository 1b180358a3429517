"""The main window: wires the panels, the run control, the playback, the exports and the menus together.

What lives where (each in its own module): the analysis worker and the run of the open source
(``run_control``), play/pause/seek over a video file (``playback`` + ``player``), exports
(``export_actions``), crash recovery (``recovery``), background disk work (``jobs``), reviewing a saved
session (``review``), and the panels. The window keeps only what it draws: the frame on screen, graph
rings and timeline bins; the session itself is the SessionRun's journal (or the saved file).

A video file is analysed in one ordered pass (every frame, or N per second) while the player shows
frames with their stored results; live sources and stills are shown as they are analysed. A ~30 Hz timer
draws the newest state, so a fast model never floods the GUI thread; panels read the run's snapshot at ~4 Hz.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import cv2
from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from emodesk import __version__
from emodesk.core.annotate import annotate
from emodesk.core.baseline import BaselineInterval, face_baselines
from emodesk.core.cameras import list_cameras
from emodesk.core.events import Event
from emodesk.core.results import FrameResult
from emodesk.core.run import RunStatus, SessionRun
from emodesk.core.settings import Settings
from emodesk.core.sources import (
    DEFAULT_FPS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    SourceInfo,
)
from emodesk.errors import EmodeskError
from emodesk.ui.event_markers import (
    KEYS,
    EventLabelsDialog,
    EventMarkers,
    load_event_labels,
    save_event_labels,
)
from emodesk.ui.export_actions import Exports
from emodesk.ui.face_panel import FacePanel
from emodesk.ui.graph_panel import EmotionGraph
from emodesk.ui.jobs import Job, JobRunner
from emodesk.ui.message_bar import MessageBar
from emodesk.ui.playback import Playback
from emodesk.ui.player import ShownFrame
from emodesk.ui.qt_image import bgr_to_qimage
from emodesk.ui.recovery import ask_about, find_recoverable, recover_journal
from emodesk.ui.review import ReviewSession, is_session_file, load_review
from emodesk.ui.run_control import RunControl, discard
from emodesk.ui.settings_dialog import (
    SettingsDialog,
    load_ui_settings,
    save_ui_settings,
)
from emodesk.ui.status_bar import AnalysisStatusBar
from emodesk.ui.summary_panel import SummaryPanel, scrollable
from emodesk.ui.timeline import SessionTimeline
from emodesk.ui.transport import TransportBar
from emodesk.ui.video_view import VideoView
from emodesk.ui.worker import Models, RunEnd, source_label

log = logging.getLogger(__name__)

DISPLAY_INTERVAL_MS = 33
PANEL_EVERY = 8  # panels and status from the snapshot every 8th display tick (~4 Hz)
RECENT_KEY = "recent/files"
RECENT_MAX = 10
CAMERA_SIZES = ((640, 480), (1280, 720), (1920, 1080))
OPEN_FILTER = (
    "Videos, images and sessions ("
    + " ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS))
    + " *.session.json);;Saved sessions (*.session.json);;All files (*)"
)
LIVE_MODE = "live · latest frame wins"
MODE_TIPS = {
    True: "A live source is not queued: when analysis is slower than capture, the frames in between are "
    "dropped (and counted), so the overlay stays close to real time.",
    False: "A file is analysed in one ordered pass; playback only shows the stored results.",
}


class MainWindow(QMainWindow):
    exportFinished = Signal(object)  # Job of an export (tests and scripts wait on it)
    sessionOpened = Signal(object)  # ReviewSession, once a saved session is on screen
    closed = Signal()  # the window was closed and every thread has stopped

    def __init__(self, qsettings: QSettings | None = None, *, offer_recovery: bool = True) -> None:
        super().__init__()
        self.setWindowTitle(f"emodesk {__version__}")
        self.resize(1400, 860)
        self.setAcceptDrops(True)
        self.qsettings = qsettings or QSettings()
        self.settings, graph_window_s = load_ui_settings(self.qsettings)

        # what is open
        self.target: str | int | None = None
        self.source_info: SourceInfo | None = None
        self.live_source = False
        self.follow_analysis = False  # live sources and stills: the display shows each analysed frame
        self.review: ReviewSession | None = None
        self.models: Models | None = None
        self.frontier: int | None = None  # newest analysed frame index of the open source
        self.selected: int | None = None
        self._camera_size: tuple[int, int] | None = None
        self._virtual_camera = False
        self._exported_version: int | None = None
        self._exported_markers = 0  # markers.version when the session was last exported as JSON
        self._shown: ShownFrame | None = None
        self._shown_dirty = False
        self._tick = 0
        self._closing = False
        self._graph_loaded: tuple[int, int] | None = None  # frames whose stored results the graph holds
        self._graph_pending: tuple[int, int] | None = None
        self._graph_generation = 0

        # widgets
        self.video = VideoView()
        self.messages = MessageBar()
        self.transport = TransportBar()
        self.transport.set_sample_fps(self.settings.sample_fps)
        self.timeline = SessionTimeline()
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
        column.addWidget(self.timeline)
        column.addWidget(self.transport)
        self.setCentralWidget(centre)
        faces_dock = self._dock("Faces", self.faces, Qt.DockWidgetArea.RightDockWidgetArea)
        summary_dock = self._dock("Session summary", scrollable(self.summary), Qt.DockWidgetArea.RightDockWidgetArea)
        graph_dock = self._dock("Emotions over time", self.graph, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.graph.setMinimumHeight(170)
        # without explicit sizes Qt gives the bottom dock only its minimum and the graph is unreadable
        self.resizeDocks([graph_dock], [250], Qt.Orientation.Vertical)
        self.resizeDocks([faces_dock, summary_dock], [470, 470], Qt.Orientation.Horizontal)
        self.resizeDocks([faces_dock, summary_dock], [330, 250], Qt.Orientation.Vertical)

        # threads: background disk work, the analysis, the playback
        self.jobs_thread = QThread(self)
        self.jobs_thread.setObjectName("emodesk-jobs")
        self.jobs = JobRunner()
        self.jobs.moveToThread(self.jobs_thread)
        self.jobs_thread.start()
        self.runs = RunControl(self.jobs, self)
        self.runs.status.connect(self._on_worker_status)
        self.runs.modelsReady.connect(self._on_models)
        self.runs.started.connect(self._on_run_started)
        self.runs.frameAnalysed.connect(self._on_frame_analysed)
        self.runs.ended.connect(self._on_run_end)
        self.runs.recordingClosed.connect(self._on_recording_closed)
        self.runs.recordingFailed.connect(self._on_recording_failed)
        self.playback = Playback(self)
        self.playback.frameShown.connect(self._on_frame_shown)
        self.playback.playingChanged.connect(self.transport.set_playing)
        self.playback.failed.connect(lambda text: self.messages.show_message(text, error=False))
        self.exports = Exports(self.jobs, self)
        self.exports.finished.connect(self._on_export_finished)
        self.jobs.finished.connect(self._on_job_finished)

        labels, span = load_event_labels(self.qsettings)
        self.markers = EventMarkers(labels, span, self)
        self.markers.changed.connect(self.graph.set_events)
        self.markers.changed.connect(self.timeline.set_events)
        self.timeline.eventRenamed.connect(self.rename_event)
        self.timeline.eventDeleted.connect(self.delete_event)
        self.markers.baselineChanged.connect(self.timeline.set_baseline)
        self.markers.baselineChanged.connect(lambda interval, _start: self.graph.set_baseline(interval))
        self.timeline.baselineEdge.connect(self._on_baseline_edge)

        self.video.faceClicked.connect(self.select_face)
        self.faces.faceSelected.connect(self.select_face)
        self.transport.playToggled.connect(self.toggle_play)
        self.transport.stepRequested.connect(self.step)
        self.transport.seekRequested.connect(self.seek)
        self.transport.speedChanged.connect(self.playback.set_speed)
        self.transport.sampleFpsChanged.connect(self._on_sample_fps_changed)
        self.timeline.seekRequested.connect(self.seek)

        self._build_actions()
        self.timer = QTimer(self)
        self.timer.setInterval(DISPLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._refresh_display)
        self.timer.start()
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

    def _action(self, menu, text: str, slot, shortcut=None, *, checkable: bool = False) -> QAction:
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
        self._action(file_menu, "&Snapshot (PNG)…", self.snapshot_dialog, "Ctrl+Shift+S")
        self.record_action = self._action(file_menu, "&Record annotated live video…", self.toggle_recording, "Ctrl+R", checkable=True)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        export_menu = bar.addMenu("&Export")
        self._action(export_menu, "&Export…", lambda: self.export_dialog(None), "Ctrl+E")
        self._action(export_menu, "Session &JSON…", lambda: self.export_dialog("json"))
        self._action(export_menu, "Per-frame &CSV…", lambda: self.export_dialog("csv"))
        self._action(export_menu, "&Graph PNG…", lambda: self.export_dialog("png"))
        self._action(export_menu, "PDF &report…", lambda: self.export_dialog("pdf"))
        self._action(export_menu, "Annotated &video…", lambda: self.export_dialog("video"))

        self.camera_menu = bar.addMenu("&Camera")
        self.camera_menu.aboutToShow.connect(self._fill_cameras)

        play_menu = bar.addMenu("&Playback")
        self._action(play_menu, "Play / pause", self.toggle_play, Qt.Key.Key_Space)
        self._action(play_menu, "Next frame", lambda: self.step(1), Qt.Key.Key_Right)
        self._action(play_menu, "Previous frame", lambda: self.step(-1), Qt.Key.Key_Left)
        self._action(play_menu, "Stop analysis", self.stop_analysis, "Ctrl+.")

        events_menu = bar.addMenu("E&vents")
        for n in range(1, KEYS + 1):
            action = self._action(events_menu, f"Mark event {n}", lambda checked=False, n=n: self.mark_event(n), str(n))
            # window-wide, so typing a digit into a field (the sample rate) still types it
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        events_menu.addSeparator()
        baseline = self._action(events_menu, "Mark &baseline start / end", self.mark_baseline, Qt.Key.Key_B)
        baseline.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._action(events_menu, "&Clear baseline", self.clear_baseline)
        events_menu.addSeparator()
        self._action(events_menu, "Event &labels…", self.event_labels_dialog)

        view_menu = bar.addMenu("&View")
        self.valence_action = self._action(
            view_menu, "Show &valence line", lambda on: self.graph.set_valence_visible(on), checkable=True
        )
        self._action(view_menu, "&Full screen", self.toggle_full_screen, Qt.Key.Key_F11)
        self._action(view_menu, "Show &all faces in the graph", lambda: self.select_face(None))
        self._action(view_menu, "&Settings…", self.settings_dialog, QKeySequence.StandardKey.Preferences)

    # ----------------------------------------------------------------- opening
    def open_dialog(self) -> None:
        start = str(Path(self._recent()[0]).parent) if self._recent() else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open a video, image, folder or saved session", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a saved session for review, or a video, image or folder to analyse."""
        path = Path(path)
        if not self._confirm_replace():
            return
        self._remember(str(path))
        if is_session_file(path):
            self.open_session(path)
        else:
            self._begin(str(path), live_source=False)

    def open_camera(self, target: int | str, size: tuple[int, int] | None = None, *, virtual: bool = False) -> None:
        if not self._confirm_replace():
            return
        self._camera_size = size
        self._begin(target, live_source=True, virtual_camera=virtual)

    def open_session(self, path: Path) -> None:
        """Review a saved session: read on the jobs thread, shown by ``_on_review_loaded``."""
        self._close_source()
        self.video.clear(f"Opening {path.name}…")
        self.jobs.submit("open session", lambda ctx: load_review(path))

    def _close_source(self) -> None:
        """Forget what is open: the run is stopped and its journal deleted; panels emptied."""
        self.runs.close()
        self.playback.close()
        self._set_recording(False)
        self.target = None
        self.source_info = None
        self.review = None
        self.live_source = False
        self.follow_analysis = False
        self.frontier = None
        self.selected = None
        self._exported_version = None
        self._exported_markers = 0
        self._shown = None
        self._forget_graph_window()
        self.graph.set_cursor(None)
        self.markers.reset(())
        self.messages.hide()
        self.graph.clear()
        self.faces.clear()
        self.summary.clear()
        self.timeline.reset((), None, None)
        self.transport.set_source(None, None, seekable=False)
        self.transport.set_playing(False)
        self.status.end_run()

    def _begin(self, target: str | int, *, live_source: bool, virtual_camera: bool = False) -> None:
        self._close_source()
        self.target = target
        self.live_source = live_source
        self._virtual_camera = virtual_camera
        path = Path(str(target))
        still = not live_source and (path.is_dir() or path.suffix.lower() in IMAGE_EXTENSIONS)
        self.follow_analysis = live_source or still
        self.video.clear("Opening…")
        self._start_run()

    def _start_run(self) -> None:
        """Analyse the open target from its start with the current settings (a new session)."""
        assert self.target is not None
        settings = self.settings
        if self.live_source:
            settings = dataclasses.replace(settings, sample_fps=None)  # live is latest-frame-wins instead
        self.frontier = None
        self.runs.start(
            self.target,
            settings,
            live=self.live_source,
            realtime=self._virtual_camera,
            keep_images=self.follow_analysis,
            camera_size=self._camera_size,
        )
        self.status.start_run(live=self.live_source)

    def _confirm_replace(self) -> bool:
        """Before dropping a live session that was never exported: ask (live video cannot be redone)."""
        if not self.has_unsaved:
            return True
        return self.ask_unsaved() != "cancel"

    @property
    def run(self) -> SessionRun | None:
        return self.runs.run

    @property
    def has_unsaved(self) -> bool:
        """A live session not exported since its last frame, or event markers not exported since they
        were made (a file can be analysed again; neither live video nor a researcher's marks can)."""
        return self._unsaved_live or self._unsaved_events

    @property
    def _unsaved_live(self) -> bool:
        run = self.runs.run
        if run is None or not self.live_source or not run.frames or self.review is not None:
            return False
        return self._exported_version != run.snapshot().version

    @property
    def _unsaved_events(self) -> bool:
        return self.markers.version != self._exported_markers

    def ask_unsaved(self) -> str:
        """'export', 'discard' or 'cancel' (a method so tests can answer it)."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        if self._unsaved_live:
            box.setText("This live session has not been exported.")
            box.setInformativeText("Export it before it is closed? Live video cannot be analysed again.")
        else:
            box.setText("The event markers of this session have not been exported.")
            box.setInformativeText("Export the session with them before it is closed?")
        box.setStandardButtons(
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return "export" if self.export_dialog("json", wait=True) else "cancel"
        return "discard" if answer == QMessageBox.StandardButton.Discard else "cancel"

    # ----------------------------------------------------------------- transport
    @property
    def fps(self) -> float:
        """The frame rate of what is open (the source's, or the saved session's), else the default."""
        return (self.source_info.fps if self.source_info else None) or DEFAULT_FPS

    @property
    def seekable(self) -> bool:
        return self.playback.active

    @property
    def playing(self) -> bool:
        """Playback is running (files) or the live analysis is (cameras)."""
        if self.follow_analysis:
            return self.runs.running
        return self.playback.playing

    def play(self) -> None:
        if self.follow_analysis:
            if not self.runs.running and self.target is not None and self.live_source and self._confirm_replace():
                self._start_run()  # a camera again: a new live session
            return
        self.playback.play()

    def pause(self) -> None:
        if self.follow_analysis:
            return  # a live source cannot pause; Stop analysis ends it
        self.playback.pause()

    def toggle_play(self) -> None:
        if self.follow_analysis and self.runs.running:
            self.stop_analysis()
        elif self.playing:
            self.pause()
        else:
            self.play()

    def stop_analysis(self) -> None:
        """End the analysis of the open source; what was analysed stays (status stopped)."""
        self.runs.stop()
        self._set_recording(False)

    def step(self, delta: int) -> None:
        self.playback.step(delta)

    def seek(self, index: int) -> None:
        self.playback.seek(index)

    def _on_sample_fps_changed(self, sample_fps: float | None) -> None:
        """"Every frame" or "N per second": a different analysis, so the open file is analysed again."""
        self.apply_settings(dataclasses.replace(self.settings, sample_fps=sample_fps), self.graph.window_s)

    # ----------------------------------------------------------------- run signals
    @Slot(str)
    def _on_worker_status(self, text: str) -> None:
        self.status.showMessage(text, 5000)
        self.status.busy.setVisible(text.startswith("Loading"))

    @Slot(object)
    def _on_models(self, models: Models) -> None:
        self.status.busy.hide()
        changed = self.models is None or self.models.labels != models.labels
        self.models = models
        self.status.set_models(list(models.models))
        self.graph.set_context(" + ".join(m.id for m in models.models))
        if changed:
            self.graph.set_labels(models.labels)
            self.summary.set_labels(models.labels)

    @Slot(object, object)
    def _on_run_started(self, run: SessionRun, info: SourceInfo) -> None:
        self.source_info = info
        video = info.kind == "video" and not self.live_source
        mode = LIVE_MODE if self.live_source else _file_mode(self.settings.sample_fps, info.kind)
        self.status.set_source(info, source_label(info), mode=mode)
        self.status.mode.setToolTip(MODE_TIPS[self.live_source])
        self.status.start_run(live=self.live_source, expected=info.frame_count if video else None)
        self.timeline.reset(run.labels, info.frame_count if video else None, info.fps)
        self.transport.set_source(info.fps, info.frame_count if video else None, seekable=video, analysable=video)
        self.transport.set_sample_fps(self.settings.sample_fps)
        if video:
            self.playback.open(Path(info.path), info.fps, info.frame_count, run.record_at)
            self.playback.set_frontier(-1)
            self.playback.show(0)
            self.playback.play()  # follows the analysis: never runs past the newest analysed frame

    @Slot(object)
    def _on_frame_analysed(self, result: FrameResult) -> None:
        self.frontier = result.index
        self.graph.add_result(result)
        self.timeline.add_result(result)
        self.status.count_frame(result.dropped)
        if self.follow_analysis:
            self._shown = ShownFrame(0, result.index, result.image, result)
            self._shown_dirty = True
            if self.live_source and result.captured_at:
                self.status.note_latency((time.monotonic() - result.captured_at) * 1000.0)
        else:
            self.playback.set_frontier(result.index)
            shown = self._shown
            if shown is not None and shown.result is None and shown.index <= result.index:
                self.playback.refresh_current()  # the frame on screen has just been analysed

    @Slot(object)
    def _forget_graph_window(self) -> None:
        self._graph_loaded = self._graph_pending = None
        self._graph_generation += 1

    def _on_run_end(self, end: RunEnd) -> None:
        # from now on the graph follows playback over the stored results, read back around the frame shown
        self._forget_graph_window()
        self._shown_dirty = self._shown is not None
        self.status.end_run()
        self.status.busy.hide()  # a failed model load must not leave "Loading models…" spinning
        self.playback.set_frontier(None)
        if end.error:
            self.show_error(end.error)
            if self.source_info is None:
                self.video.clear("Nothing to show: " + end.error)
        if self.markers.baseline is not None:
            self._update_face_baselines()  # the interval may have been marked before it was analysed
        for warning in end.warnings:
            if warning != end.error:
                self.messages.show_message(warning, error=False)
        if end.status == RunStatus.COMPLETE.value and self.source_info and self.source_info.kind != "video":
            self.status.showMessage(f"Analysed {end.frames} frame(s)", 5000)
        self.transport.set_playing(self.playing)
        self._update_panels()

    # ----------------------------------------------------------------- review of a saved session
    @Slot(object)
    def _on_job_finished(self, job: Job) -> None:
        if job.name == "open session":
            if job.error:
                self.show_error(job.error)
                self.video.clear()
            elif job.result is not None:
                self._show_review(job.result)
        elif job.name == "graph window":
            if job.error:
                log.warning("reading results for the graph failed: %s", job.error)
            elif job.result is not None and job.result[0] == self._graph_generation:
                _generation, span, results = job.result
                self._graph_pending = None
                self._graph_loaded = span
                self.graph.load(results)
        elif job.name == "face baselines":
            if job.error:
                log.warning("computing the baseline of each face failed: %s", job.error)
            elif job.result is not None and job.result[0] == self.markers.baseline:
                self.graph.set_baselines(job.result[1])
        elif job.name == "find recoverable":
            if job.error:
                log.warning("looking for sessions to recover failed: %s", job.error)
            elif job.result:
                self._ask_recovery(job.result)
        elif job.name == "recover session":
            if job.error:
                self.show_error(job.error)
            else:
                self.status.showMessage(f"Recovered session saved to {job.result}", 8000)

    def _show_review(self, review: ReviewSession) -> None:
        self.review = review
        self.source_info = review.source
        labels = review.labels
        self.graph.set_labels(labels)
        self.graph.set_context(review.model_names)
        self.summary.set_labels(labels)
        self.faces.set_faces(review.faces)
        self.summary.set_faces(review.faces)
        self.timeline.reset(labels, review.source.frame_count or (review.indices[-1] + 1 if review.indices else None), review.source.fps)
        self.markers.reset(review.events, review.baseline)
        self._update_face_baselines()
        for result in review.session.frames:
            self.timeline.add_result(result)
        # the graph is filled around the frame on screen as it is shown (_graph_around)
        self.status.set_source(review.source, f"session: {review.path.name}", mode=f"saved session ({review.status})")
        self.status.provider.setText(review.model_names)
        self.status.end_run()
        frames = review.source.frame_count or 0
        self.transport.set_source(review.source.fps, frames, seekable=bool(frames), analysable=False)
        self.transport.set_sample_fps(review.sample_fps)
        if frames:
            self.playback.open(review.video, review.source.fps, frames, review.record_at)
            self.playback.show(review.indices[0] if review.indices else 0)
        if review.video is None:
            why = (
                "the video was not found: results are shown without it"
                if review.source.kind == "video"
                else f"a session of {review.source.kind or 'an unknown source'}: its results are shown in the panels"
            )
            self.video.show_message(
                f"{review.path.name}: {review.frames} analysed frames of {review.source.path or 'an unknown source'}\n({why})"
            )
        self.sessionOpened.emit(review)

    # ----------------------------------------------------------------- display
    @Slot(object)
    def _on_frame_shown(self, shown: ShownFrame) -> None:
        self._shown = shown
        self._shown_dirty = True

    def _refresh_display(self) -> None:
        shown = self._shown
        if shown is not None and self._shown_dirty:
            self._shown_dirty = False
            self._draw(shown)
        self.graph.refresh()
        self.faces.refresh()
        self.timeline.refresh()
        self._tick += 1
        if self._tick % PANEL_EVERY == 0:  # ~4 Hz is plenty for bars, text and progress
            self._update_panels()

    def _draw(self, shown: ShownFrame) -> None:
        result = shown.result
        if shown.image is not None:
            image = annotate(shown.image, result, selected=self.selected) if result is not None else shown.image
            self.video.set_frame(bgr_to_qimage(image), result)
        self.video.set_note(self._note_for(shown))
        self.faces.show_frame(result, shown.image)
        if not self.follow_analysis:
            self.transport.set_position(shown.index)
            self.timeline.set_position(shown.index)
            t = result.time_s if result is not None else shown.index / self.fps
            follow = self.review is not None or (self.runs.run is not None and not self.runs.running)
            self.graph.set_cursor(t, centre=follow)
            if follow:
                self._graph_around(shown.index, self.fps)

    def _graph_around(self, index: int, fps: float) -> None:
        """Keep the graph filled with the stored results around the frame on screen (reviewing, or after
        the pass): a window either side is read back on the jobs thread whenever the view leaves it."""
        half = max(1, int(self.graph.window_s * fps / 2))
        last = max((self.source_info.frame_count or 0) - 1, index) if self.source_info else index
        want = (max(0, index - half), min(last, index + half))
        loaded = self._graph_loaded
        if loaded is not None and loaded[0] <= want[0] and want[1] <= loaded[1]:
            return
        if self._graph_pending is not None and self._graph_pending[0] <= want[0] and want[1] <= self._graph_pending[1]:
            return
        source = self.review if self.review is not None else self.runs.run
        if source is None:
            return
        lookup = source.record_at
        span = (max(0, index - 2 * half), min(last, index + 2 * half))
        self._graph_pending = span
        self._graph_generation += 1
        generation = self._graph_generation

        def read(ctx) -> tuple[int, tuple[int, int], list[FrameResult]]:
            results = (lookup(i) for i in range(span[0], span[1] + 1))
            return generation, span, [r for r in results if r is not None]

        self.jobs.submit("graph window", read)

    def _note_for(self, shown: ShownFrame) -> str:
        if shown.result is not None or self.follow_analysis:
            return ""
        if self.review is not None:
            return "not analysed (the saved session has no result for this frame)"
        if self.runs.running and (self.frontier is None or shown.index > self.frontier):
            at = "not started" if self.frontier is None else f"at frame {self.frontier}"
            return f"frame {shown.index}: not analysed yet (analysis {at}, continuing in order)"
        if self.settings.sample_fps is not None:
            return f"frame {shown.index}: between samples ({self.settings.sample_fps:g} frames per second analysed)"
        return f"frame {shown.index}: not analysed (the analysis ended before it)"

    def _update_panels(self) -> None:
        run = self.runs.run
        if run is not None:
            snap = run.snapshot()
            self.status.set_counts(snap.counts.processed, snap.counts.dropped)
            self.faces.set_faces(snap.faces)
            self.summary.set_faces(snap.faces)
            if self.runs.running and snap.expected_frames and not self.live_source:
                self.transport.set_progress(snap.counts.processed + snap.counts.skipped, snap.expected_frames)
            elif not self.runs.running:
                self.transport.set_progress(None, None)
        self.summary.refresh()
        self.status.refresh()

    def repaint_overlay(self) -> None:
        self._shown_dirty = self._shown is not None

    @Slot(object)
    def select_face(self, track_id: int | None) -> None:
        self.selected = track_id
        self.runs.worker.selected = track_id
        self.graph.select(track_id)
        self.faces.select(track_id)
        self.timeline.select(track_id)
        self.repaint_overlay()

    def show_error(self, text: str) -> None:
        log.warning("%s", text)
        self.messages.show_message(text, error=True)
        self.status.showMessage(text, 10000)

    # ----------------------------------------------------------------- export
    def _export_session(self):
        return self.review if self.review is not None else self.runs.run

    def export_dialog(self, kind: str | None = None, *, wait: bool = False) -> Path | None:
        session = self._export_session()
        if session is None or not session.frames:
            self.show_error("Nothing to export yet: open a video, image, camera or saved session first.")
            return None
        stem = Path(str(self.source_info.path if self.source_info else "session")).stem or "session"
        answer = self.exports.ask_path(stem, kind)
        if answer is None:
            return None
        path, chosen = answer
        job = self.export_to(path, chosen)
        if job is None or not wait:
            return path if job is not None else None
        while self.jobs.pending and job.result is None and job.error is None and not job.cancelled:
            QThread.msleep(20)  # the unsaved-session prompt needs the file before the session is dropped
        return path if job.error is None and not job.cancelled else None

    def export_to(self, path: Path, kind: str) -> Job | None:
        """Write ``kind`` (json, csv, png, pdf, video) to ``path`` on the jobs thread; ``exportFinished``
        reports it. The graph is painted here (Qt) and written there."""
        session = self._export_session()
        if session is None:
            self.show_error("Nothing to export yet.")
            return None
        png = None
        if kind == "png":
            try:
                png = self.graph.render_png()
            except EmodeskError as exc:
                self.show_error(str(exc))
                return None
        source = self.review.video if self.review is not None else None
        if kind == "json":
            self._exported_markers = self.markers.version
            if isinstance(session, SessionRun) and self.live_source:
                self._exported_version = session.snapshot().version
        return self.exports.start(session, kind, Path(path), png=png, source=source, markers=self._edited_markers())

    def _edited_markers(self) -> tuple[tuple[Event, ...], BaselineInterval | None] | None:
        """A reviewed session's (events, baseline) when the window changed them (its exports are rewritten
        with them); None otherwise. A run needs none: every mark, edit and baseline went through its journal."""
        if self.review is None:
            return None
        stored = sorted(self.review.events, key=lambda e: e.time_s)
        if list(self.markers.events) == stored and self.markers.baseline == self.review.baseline:
            return None
        return self.markers.events, self.markers.baseline

    def _journal(self, name: str, call) -> None:
        """Send a marker change to the open run (journaled on the jobs thread, in the order they were made);
        a reviewed session has no run: its exports take the window's list instead (_edited_markers)."""
        run = self.runs.run
        if run is not None and self.review is None:
            self.jobs.submit(name, lambda ctx: call(run))

    # ----------------------------------------------------------------- event markers
    def mark_event(self, key: int) -> Event | None:
        """Key 1-9: an event at the frame on screen (live: the newest analysed frame)."""
        shown, time_s = self._shown, self._time_on_screen()
        if shown is None or time_s is None:
            self.status.showMessage("Open a video, a camera or a session before marking events", 5000)
            return None
        event, replaced = self.markers.mark(key, time_s, shown.index)
        if replaced is None:
            self._journal("journal event", lambda run: run.add_event(event))
        else:  # the same key again within the span: the mark became an interval
            self._journal("journal event", lambda run: run.replace_event(replaced, event))
        what = f"closed {event.label} ({event.duration_s:.2f} s)" if replaced is not None else f"marked {event.label}"
        self.status.showMessage(f"{what} at {event.time_s:.2f} s (frame {shown.index})", 5000)
        return event

    @Slot(object, str)
    def rename_event(self, event: Event, label: str) -> None:
        self.markers.rename(event, label)
        self._journal("journal event", lambda run: run.rename_event(event, label.strip()))

    @Slot(object)
    def delete_event(self, event: Event) -> None:
        self.markers.delete(event)
        self._journal("journal event", lambda run: run.remove_event(event))

    # ----------------------------------------------------------------- baseline
    def _time_on_screen(self) -> float | None:
        """Media time of the frame on screen (live: the newest analysed frame); None when nothing is shown."""
        shown = self._shown
        if shown is None:
            return None
        return shown.result.time_s if shown.result is not None else shown.index / self.fps

    def mark_baseline(self) -> BaselineInterval | None:
        """Key B: the first press starts the participant's resting interval at the frame on screen, the
        second ends it; the run journals it and its sessions record it as ``analyze --baseline`` does."""
        time_s = self._time_on_screen()
        if time_s is None:
            self.status.showMessage("Open a video, a camera or a session before marking a baseline", 5000)
            return None
        interval = self.markers.mark_baseline(time_s)
        if interval is None:
            if self.markers.baseline_start is not None:
                self.status.showMessage(f"baseline starts at {time_s:.2f} s: press B again at its end", 8000)
            return None
        return self._baseline_set(interval)

    def clear_baseline(self) -> None:
        self.markers.set_baseline(None)
        self._baseline_set(None)

    @Slot(str, float)
    def _on_baseline_edge(self, edge: str, time_s: float) -> None:
        """Right-click on the timeline: the baseline starts or ends at the clicked time, or is cleared."""
        if edge == "start":
            self.markers.begin_baseline(time_s)
        elif edge == "end":
            interval = self.markers.end_baseline(time_s)
            if interval is not None:
                self._baseline_set(interval)
        else:
            self.clear_baseline()

    def _baseline_set(self, interval: BaselineInterval | None) -> BaselineInterval | None:
        self._journal("journal baseline", lambda run: run.set_baseline(interval))
        self._update_face_baselines()
        text = "baseline cleared" if interval is None else f"baseline {interval.start_s:.2f}-{interval.end_s:.2f} s"
        self.status.showMessage(text, 8000)
        return interval

    def _update_face_baselines(self) -> None:
        """Each face's resting probabilities over the baseline, from the stored results (jobs thread), for
        the graph's valence line; the exports compute theirs from the session file with the same function."""
        interval = self.markers.baseline
        if interval is None:
            self.graph.set_baselines({})
            return
        source = self.review if self.review is not None else self.runs.run
        if source is None:
            return
        indices = source.indices if self.review is not None else source.analysed_indices()
        lookup = source.record_at
        fps = self.fps

        def compute(ctx):
            first, last = int(interval.start_s * fps) - 1, int(interval.end_s * fps) + 1
            records = (lookup(i) for i in indices if first <= i <= last)
            frames = [r.to_json() for r in records if r is not None]
            return interval, {fid: dict(b.probs) for fid, b in face_baselines(frames, interval).items()}

        self.jobs.submit("face baselines", compute)

    def event_labels_dialog(self) -> None:
        dialog = EventLabelsDialog(self.markers.labels, self.markers.close_span_s, self)
        if dialog.exec():
            labels, span = dialog.values()
            save_event_labels(self.qsettings, labels, span)
            self.markers.labels, self.markers.close_span_s = labels, span

    @Slot(object)
    def _on_export_finished(self, job: Job) -> None:
        if job.cancelled:
            self.status.showMessage("Export cancelled", 5000)
        elif job.error:
            if "JSON" in job.name:  # the session was not written: still unsaved
                self._exported_version = None
                self._exported_markers = -1
            self.show_error(job.error)
        else:
            self.status.showMessage(f"Exported {job.result}", 8000)
        self.exportFinished.emit(job)

    def snapshot_dialog(self) -> None:
        if self._shown is None or self._shown.image is None:
            self.show_error("No frame to save yet.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", f"snapshot-{self._shown.index}.png", "PNG (*.png)")
        if path:
            self.save_snapshot(Path(path))

    def save_snapshot(self, path: Path) -> Job | None:
        """The frame on screen with its overlay, encoded and written on the jobs thread."""
        shown = self._shown
        if shown is None or shown.image is None:
            return None
        image = annotate(shown.image, shown.result, selected=self.selected) if shown.result else shown.image

        def write(ctx) -> Path:
            ok, data = cv2.imencode(".png", image)
            if not ok:
                raise EmodeskError(f"{path}: PNG encoding failed")
            try:
                data.tofile(str(path))  # also works for non-ASCII paths on Windows, unlike cv2.imwrite
            except OSError as exc:
                raise EmodeskError(f"{path}: cannot write the snapshot ({exc.strerror or exc})") from exc
            return path

        return self.jobs.submit("snapshot", write)

    def toggle_recording(self) -> None:
        if self.runs.worker.recording:
            self._set_recording(False)
            return
        self.record_action.setChecked(False)
        if not (self.live_source and self.runs.running):
            self.show_error("Recording is for live sources; for a file use Export → Annotated video.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Record annotated video", "emodesk-recording.mp4", "Video (*.mp4 *.avi)")
        if path:
            self.start_recording(Path(path))

    def start_recording(self, path: Path) -> None:
        """Record the annotated live view (annotated and encoded on the worker thread)."""
        from emodesk.core.recording import VideoRecorder

        try:
            recorder = VideoRecorder(path, self.fps)
        except EmodeskError as exc:
            self.show_error(str(exc))
            return
        self.runs.set_recorder(recorder)
        self.record_action.setChecked(True)

    def _set_recording(self, on: bool) -> None:
        if not on and self.runs.worker.recording:
            self.runs.set_recorder(None)
        self.record_action.setChecked(on and self.runs.worker.recording)

    @Slot(str, int)
    def _on_recording_closed(self, path: str, frames: int) -> None:
        self.record_action.setChecked(self.runs.worker.recording)
        self.status.showMessage(f"Recording saved: {path} ({frames} frames)", 8000)

    @Slot(str)
    def _on_recording_failed(self, text: str) -> None:
        self.record_action.setChecked(False)
        self.show_error(text)

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
        stop.setEnabled(self.live_source and self.runs.running)
        stop.triggered.connect(self.stop_analysis)

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self.graph.window_s, self)
        if dialog.exec():
            settings, window = dialog.values()
            self.apply_settings(settings, window)

    def apply_settings(self, settings: Settings, graph_window_s: float) -> None:
        """Keep the settings; a file being analysed or analysed with others is analysed again (a new
        session: results of different settings never mix), a live source restarts after asking."""
        save_ui_settings(self.qsettings, settings, graph_window_s)
        self.graph.set_window(graph_window_s)
        changed = settings != self.settings
        self.settings = settings
        if self.review is None:  # a saved session's transport shows the mode it was analysed with
            self.transport.set_sample_fps(settings.sample_fps)
        if not changed or self.target is None or self.review is not None:
            return
        if self.live_source and not self.runs.running:
            return  # a stopped camera keeps its session; the next start uses the new settings
        if not self._confirm_replace():
            return
        self._begin(self.target, live_source=self.live_source, virtual_camera=self._virtual_camera)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # ----------------------------------------------------------------- recovery and closing
    def offer_recovery(self) -> None:
        """Look for journals left by a crash (jobs thread: it reads them), then ask about each."""
        self.jobs.submit("find recoverable", lambda ctx: find_recoverable())

    def _ask_recovery(self, items: list) -> None:
        for item in items:
            if self._closing:
                return  # the window was closed meanwhile: no dialog may keep the process alive
            action, path = ask_about(self, item)
            if action == "save" and path is not None:
                self.recover(item.journal, path)
            elif action == "discard":
                self.jobs.submit("discard journal", lambda ctx, j=item.journal: j.unlink(missing_ok=True))

    def recover(self, journal: Path, path: Path) -> Job:
        return self.jobs.submit("recover session", lambda ctx: recover_journal(journal, path))

    def shutdown(self) -> bool:
        """Stop every thread; the journals of this window's runs are deleted (a clean exit leaves none,
        so the next launch offers no recovery). True when every thread has ended."""
        if self._closing:
            return not self.jobs_thread.isRunning()
        self._closing = True
        self.timer.stop()
        ended_runs = self.runs.shutdown()
        playback_done = self.playback.shutdown()
        self.jobs.cancel()  # exports still queued or running stop between steps

        def last_job(ctx) -> None:
            for run in ended_runs:
                discard(run, ctx)
            QThread.currentThread().quit()

        self.jobs.submit("close", last_job)
        jobs_done = self.jobs_thread.wait(15000)
        if not jobs_done:
            log.error("the jobs thread did not stop within 15 s")
        return jobs_done and playback_done and not self.runs.thread.isRunning()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing and self.has_unsaved and self.ask_unsaved() == "cancel":
            event.ignore()
            return
        self.shutdown()
        event.accept()
        self.closed.emit()  # run_gui quits the application on it: no stray window keeps the process alive

    # ----------------------------------------------------------------- drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            if len(paths) > 1:
                self.messages.show_message(f"Opened {Path(paths[0]).name}; drop one file or a folder at a time.", error=False)
            self.open_path(paths[0])


def _file_mode(sample_fps: float | None, kind: str) -> str:
    if kind != "video":
        return "every image analysed"
    if sample_fps is None:
        return "every frame, in order"
    return f"{sample_fps:g} frames per second, in order"
