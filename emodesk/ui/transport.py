"""The transport bar: step, play/pause, seek slider, time, playback speed, the analysis mode and its progress.

Playback and analysis are separate: the slider, the buttons and the speed move a view over the decoded
video and the stored results; the analysis mode ("every frame" or "N frames per second") and the progress
bar belong to the one ordered analysis pass over the file.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QToolButton,
    QWidget,
)

from emodesk.core.settings import SCHEMA_BY_NAME
from emodesk.core.sources import DEFAULT_FPS

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
ICON_PX = 16


def format_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes:02d}:{secs:05.2f}"


def transport_icon(kind: str, colour: QColor, px: int = ICON_PX) -> QIcon:
    """Play, pause, step back/forward glyphs drawn in ``colour``.

    The style's standard media pixmaps are dark glyphs on every Fusion palette: on the dark theme they
    were invisible. Drawing them in the palette's button-text colour keeps them readable on both.
    """
    icon = QIcon()
    for scale in (1, 2):  # sharp on 2x screens too
        size = px * scale
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(colour)
        s = size / 16.0
        if kind == "play":
            p.drawPath(_triangle(QPointF(4 * s, 2 * s), QPointF(4 * s, 14 * s), QPointF(14 * s, 8 * s)))
        elif kind == "pause":
            p.drawRect(int(3 * s), int(2 * s), int(3.5 * s), int(12 * s))
            p.drawRect(int(9.5 * s), int(2 * s), int(3.5 * s), int(12 * s))
        elif kind == "back":
            p.drawRect(int(2 * s), int(3 * s), int(2 * s), int(10 * s))
            p.drawPath(_triangle(QPointF(14 * s, 3 * s), QPointF(14 * s, 13 * s), QPointF(5 * s, 8 * s)))
        else:  # forward
            p.drawPath(_triangle(QPointF(2 * s, 3 * s), QPointF(2 * s, 13 * s), QPointF(11 * s, 8 * s)))
            p.drawRect(int(12 * s), int(3 * s), int(2 * s), int(10 * s))
        p.end()
        pixmap.setDevicePixelRatio(scale)
        icon.addPixmap(pixmap)
    return icon


def _triangle(a: QPointF, b: QPointF, c: QPointF) -> QPainterPath:
    path = QPainterPath(a)
    path.lineTo(b)
    path.lineTo(c)
    path.closeSubpath()
    return path


class TransportBar(QWidget):
    playToggled = Signal()
    stepRequested = Signal(int)  # -1 or +1
    seekRequested = Signal(int)  # frame index
    speedChanged = Signal(float)  # playback speed factor
    sampleFpsChanged = Signal(object)  # analysis: None = every frame, else frames per second

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fps = DEFAULT_FPS
        self._frames = 0
        self._playing = False
        self.play_button = QToolButton()
        self.play_button.setToolTip("Play / pause (Space)")
        self.back_button = QToolButton()
        self.back_button.setToolTip("Previous frame (Left)")
        self.forward_button = QToolButton()
        self.forward_button.setToolTip("Next frame (Right)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek (playback only: analysis continues in order)")
        self.time_label = QLabel("00:00.00 / 00:00.00")
        self.time_label.setMinimumWidth(150)
        self.speed = QComboBox()
        for factor in SPEEDS:
            self.speed.addItem(f"{factor:g}×", factor)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed (analysis runs at its own pace)")
        self.mode = QComboBox()
        self.mode.addItems(["Analyse every frame", "Sample frames per second"])
        self.mode.setToolTip(
            "How a file is analysed: every frame (lossless), or N frames per second of video.\n"
            "Changing it analyses the open file again."
        )
        # the same setting as the settings dialog's "Analyse" row: the same range and precision (the
        # schema's), so any value set there is shown here as it is, not clamped to a range of our own
        spec = SCHEMA_BY_NAME["sample_fps"]
        self.sample_rate = QDoubleSpinBox()
        self.sample_rate.setDecimals(spec.decimals)
        lowest = (spec.minimum or 0.0) + (10.0**-spec.decimals if spec.min_exclusive else 0.0)
        self.sample_rate.setRange(lowest, spec.maximum if spec.maximum is not None else 1e9)
        self.sample_rate.setSingleStep(spec.step)
        self.sample_rate.setValue(4.0)
        self.sample_rate.setSuffix(" fps")
        self.sample_rate.setKeyboardTracking(False)
        self.sample_rate.setVisible(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(170)
        self.progress.setFormat("%p% analysed")
        self.progress.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.back_button, self.play_button, self.forward_button):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addWidget(self.speed)
        layout.addWidget(self.mode)
        layout.addWidget(self.sample_rate)
        layout.addWidget(self.progress)
        self.play_button.clicked.connect(self.playToggled)
        self.back_button.clicked.connect(lambda: self.stepRequested.emit(-1))
        self.forward_button.clicked.connect(lambda: self.stepRequested.emit(1))
        self.slider.sliderReleased.connect(lambda: self.seekRequested.emit(self.slider.value()))
        self.slider.actionTriggered.connect(self._on_slider_action)
        self.speed.currentIndexChanged.connect(lambda _i: self.speedChanged.emit(self.speed_factor))
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.sample_rate.valueChanged.connect(lambda _v: self.sampleFpsChanged.emit(self.sample_fps))
        self._apply_icons()
        self.set_source(None, None, seekable=False)

    # ---- state ------------------------------------------------------------------------------------

    @property
    def speed_factor(self) -> float:
        return float(self.speed.currentData())

    @property
    def sample_fps(self) -> float | None:
        return float(self.sample_rate.value()) if self.mode.currentIndex() == 1 else None

    def set_sample_fps(self, value: float | None) -> None:
        """Show the analysis mode of the open session without emitting ``sampleFpsChanged``."""
        self.mode.blockSignals(True)
        self.sample_rate.blockSignals(True)
        try:
            self.mode.setCurrentIndex(0 if value is None else 1)
            if value is not None:
                self.sample_rate.setValue(value)
            self.sample_rate.setVisible(value is not None)
        finally:
            self.mode.blockSignals(False)
            self.sample_rate.blockSignals(False)

    def set_source(self, fps: float | None, frame_count: int | None, *, seekable: bool, analysable: bool | None = None) -> None:
        """A new source: ``seekable`` enables the playback controls; ``analysable`` the analysis mode."""
        self._fps = fps or DEFAULT_FPS
        self._frames = frame_count or 0
        self.slider.setRange(0, max(self._frames - 1, 0))
        self.slider.setValue(0)
        for w in (self.slider, self.back_button, self.forward_button, self.speed):
            w.setEnabled(seekable)
        for w in (self.mode, self.sample_rate):
            w.setEnabled(seekable if analysable is None else analysable)
        self.progress.setValue(0)
        self.progress.setVisible(False)
        self.time_label.setText(f"{format_time(0)} / {format_time(self._frames / self._fps)}")

    def set_playing(self, playing: bool) -> None:
        self._playing = playing
        self._apply_icons()
        self.play_button.setProperty("playing", playing)

    def set_position(self, index: int) -> None:
        """The frame on screen."""
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        total = self._frames / self._fps if self._frames else 0.0
        self.time_label.setText(f"{format_time(index / self._fps)} / {format_time(total)}")

    def set_progress(self, done: int | None, expected: int | None) -> None:
        """Progress of the current analysis pass (``None``: no pass running, hide the bar)."""
        if done is None or not expected:
            self.progress.hide()
            return
        self.progress.setValue(min(100, int(100 * done / expected)))
        self.progress.show()

    # ---- internals --------------------------------------------------------------------------------

    def _on_mode(self, index: int) -> None:
        self.sample_rate.setVisible(index == 1)
        self.sampleFpsChanged.emit(self.sample_fps)

    def _on_slider_action(self, action: int) -> None:
        # a click on the groove or a key press moves the slider without a drag: seek there too
        if action != QSlider.SliderAction.SliderMove.value and not self.slider.isSliderDown():
            self.seekRequested.emit(self.slider.sliderPosition())

    def _apply_icons(self) -> None:
        colour = self.palette().color(QPalette.ColorRole.ButtonText)
        self.play_button.setIcon(transport_icon("pause" if self._playing else "play", colour))
        self.back_button.setIcon(transport_icon("back", colour))
        self.forward_button.setIcon(transport_icon("forward", colour))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "forward_button"):
            self._apply_icons()
        super().changeEvent(event)
