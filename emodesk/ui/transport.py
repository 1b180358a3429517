"""Play/pause, frame step, seek slider with time, and the analysis-progress bar for file sources."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QSlider, QStyle, QToolButton, QWidget


def format_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes:02d}:{secs:05.2f}"


class TransportBar(QWidget):
    playToggled = Signal()
    stepRequested = Signal(int)  # -1 or +1
    seekRequested = Signal(int)  # frame index
    modeChanged = Signal(bool)  # True = real-time playback, False = as fast as possible

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fps = 30.0
        self._frames = 0
        # the style's own media icons: text glyphs like ▶ are missing from many fonts
        icon = self.style().standardIcon
        self._play_icon = icon(QStyle.StandardPixmap.SP_MediaPlay)
        self._pause_icon = icon(QStyle.StandardPixmap.SP_MediaPause)
        self.play_button = QToolButton(icon=self._play_icon)
        self.play_button.setToolTip("Play / pause (Space)")
        self.back_button = QToolButton(icon=icon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.back_button.setToolTip("Previous frame (Left)")
        self.forward_button = QToolButton(icon=icon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.forward_button.setToolTip("Next frame (Right)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek")
        self.time_label = QLabel("00:00.00 / 00:00.00")
        self.time_label.setMinimumWidth(150)
        self.mode = QComboBox()
        self.mode.addItems(["Real-time playback", "Analyse as fast as possible"])
        self.mode.setToolTip("Real time drops frames to keep pace; fast mode analyses every frame")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("%p% analysed")
        self.progress.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        for w in (self.back_button, self.play_button, self.forward_button):
            layout.addWidget(w)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.time_label)
        layout.addWidget(self.mode)
        layout.addWidget(self.progress)
        self.play_button.clicked.connect(self.playToggled)
        self.back_button.clicked.connect(lambda: self.stepRequested.emit(-1))
        self.forward_button.clicked.connect(lambda: self.stepRequested.emit(1))
        self.slider.sliderReleased.connect(lambda: self.seekRequested.emit(self.slider.value()))
        self.mode.currentIndexChanged.connect(lambda i: self.modeChanged.emit(i == 0))
        self.set_source(None, None, seekable=False)

    @property
    def realtime(self) -> bool:
        return self.mode.currentIndex() == 0

    def set_source(self, fps: float | None, frame_count: int | None, *, seekable: bool) -> None:
        self._fps = fps or 30.0
        self._frames = frame_count or 0
        self.slider.setRange(0, max(self._frames - 1, 0))
        for w in (self.slider, self.back_button, self.forward_button, self.mode):
            w.setEnabled(seekable)
        self.progress.setVisible(seekable and not self.realtime)

    def set_playing(self, playing: bool) -> None:
        self.play_button.setIcon(self._pause_icon if playing else self._play_icon)
        self.play_button.setProperty("playing", playing)

    def set_position(self, index: int, analysed: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(index)
        total = self._frames / self._fps if self._frames else 0.0
        self.time_label.setText(f"{format_time(index / self._fps)} / {format_time(total)}")
        if self._frames:
            self.progress.setValue(int(100 * analysed / self._frames))
        self.progress.setVisible(self.slider.isEnabled() and not self.realtime)
