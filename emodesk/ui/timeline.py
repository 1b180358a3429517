"""The session timeline: the whole session in one strip, click to seek.

Each column (a bin of frames) is coloured by the dominant emotion of the shown face (or of all faces)
in that stretch; what is not analysed yet stays empty, and the frame on screen is a vertical line.
Event markers are small flags on top (right-click one to rename or delete it). The baseline interval is
a translucent band labelled "baseline" (right-click the strip to start, end or clear it; key B does the
same at the frame on screen); a started, not yet ended baseline is a dashed line.

Memory is bounded: a fixed number of bins whatever the length. A live source has no known length: the
strip covers a span that doubles (bins merged pairwise) whenever the session outgrows it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QInputDialog, QMenu, QSizePolicy, QWidget

from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event
from emodesk.core.palette import emotion_rgb
from emodesk.core.results import FrameResult
from emodesk.core.sources import DEFAULT_FPS

BINS = 600
LIVE_START_FRAMES = int(60 * DEFAULT_FPS)  # a live session starts with a one-minute strip, doubled as needed
MARKER_PX = 7


class SessionTimeline(QWidget):
    seekRequested = Signal(int)  # frame index
    eventRenamed = Signal(object, str)  # Event, new label
    eventDeleted = Signal(object)  # Event
    baselineEdge = Signal(str, float)  # "start" | "end" | "clear", media time (s) clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: tuple[str, ...] = ()
        self._fps = DEFAULT_FPS
        self._frames = 0  # frames the strip covers
        self._fixed = False  # True when the length is known (a file)
        self._all = np.zeros((BINS, 0), np.int32)
        self._faces: dict[int, np.ndarray] = {}
        self._analysed = np.zeros(BINS, bool)
        self._selected: int | None = None
        self._position: int | None = None
        self._events: list[Event] = []
        self._baseline: BaselineInterval | None = None
        self._baseline_start: float | None = None
        self._dirty = False
        self.setMinimumHeight(34)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)
        self.setToolTip("Session timeline: click to go to that moment")

    # ---- data in ----------------------------------------------------------------------------------

    def reset(self, labels: Sequence[str], frame_count: int | None, fps: float | None) -> None:
        """A new session: ``frame_count`` None (live) lets the strip grow."""
        self._labels = tuple(labels)
        self._fps = fps or DEFAULT_FPS
        self._fixed = bool(frame_count)
        self._frames = int(frame_count) if frame_count else LIVE_START_FRAMES
        self._all = np.zeros((BINS, len(self._labels)), np.int32)
        self._faces = {}
        self._analysed = np.zeros(BINS, bool)
        self._position = None
        self._events = []
        self._baseline = self._baseline_start = None
        self._dirty = True
        self.update()

    def add_result(self, result: FrameResult) -> None:
        """Count this frame's dominant emotions in its bin (cheap; painting happens in refresh())."""
        if not self._labels:
            return
        while not self._fixed and result.index >= self._frames:
            self._grow()
        b = self._bin(result.index)
        if b is None:
            return
        self._analysed[b] = True
        index = {label: j for j, label in enumerate(self._labels)}
        for face in result.faces:
            j = index.get(face.emotion) if face.emotion else None
            if j is None:
                continue
            self._all[b, j] += 1
            counts = self._faces.get(face.track_id)
            if counts is None:
                counts = self._faces[face.track_id] = np.zeros((BINS, len(self._labels)), np.int32)
            counts[b, j] += 1
        self._dirty = True

    def set_position(self, index: int | None) -> None:
        if index != self._position:
            self._position = index
            self.update()

    def select(self, track_id: int | None) -> None:
        self._selected = track_id
        self.update()

    def set_events(self, events: Sequence[Event]) -> None:
        self._events = sorted(events, key=lambda e: e.time_s)
        self.update()

    def set_baseline(self, interval: BaselineInterval | None, pending_start: float | None = None) -> None:
        self._baseline, self._baseline_start = interval, pending_start
        self.update()

    @property
    def baseline(self) -> BaselineInterval | None:
        return self._baseline

    def refresh(self) -> None:
        if self._dirty:
            self._dirty = False
            self.update()

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    @property
    def frame_span(self) -> int:
        return self._frames

    def analysed_bins(self) -> int:
        return int(self._analysed.sum())

    def dominant_at(self, index: int) -> str | None:
        """The colour shown for frame ``index``: the dominant emotion in its bin (for tests and tooltips)."""
        b = self._bin(index)
        if b is None:
            return None
        counts = self._counts()[b]
        return self._labels[int(counts.argmax())] if counts.any() else None

    # ---- geometry ---------------------------------------------------------------------------------

    def _bin(self, index: int) -> int | None:
        if index < 0 or self._frames <= 0:
            return None
        b = int(index * BINS / self._frames)
        return b if b < BINS else (BINS - 1 if self._fixed and index < self._frames else None)

    def _grow(self) -> None:
        """Double the span of a live strip: bins are merged pairwise into the first half."""
        half = BINS // 2
        self._all = _merge_pairs(self._all, half)
        self._faces = {tid: _merge_pairs(c, half) for tid, c in self._faces.items()}
        analysed = np.zeros(BINS, bool)
        analysed[:half] = self._analysed[0::2] | self._analysed[1::2]
        self._analysed = analysed
        self._frames *= 2

    def _strip(self) -> QRectF:
        return QRectF(4, MARKER_PX + 4, max(1.0, self.width() - 8), max(8.0, self.height() - MARKER_PX - 8))

    def _x_of(self, index: float) -> float:
        strip = self._strip()
        return strip.left() + strip.width() * index / max(self._frames, 1)

    def _index_at(self, x: float) -> int:
        strip = self._strip()
        fraction = min(1.0, max(0.0, (x - strip.left()) / strip.width()))
        return min(int(fraction * self._frames), max(self._frames - 1, 0))

    def _event_at(self, pos: QPointF) -> Event | None:
        for event in self._events:
            x = self._x_of(event.time_s * self._fps)
            if abs(pos.x() - x) <= MARKER_PX and pos.y() <= self._strip().top() + 4:
                return event
        return None

    def _counts(self) -> np.ndarray:
        if self._selected is None:
            return self._all
        return self._faces.get(self._selected, np.zeros_like(self._all))

    # ---- painting and mouse -----------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        return QSize(600, 40)

    def paintEvent(self, event: QPaintEvent) -> None:
        pal = self.palette()
        p = QPainter(self)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Window))
        strip = self._strip()
        p.fillRect(strip, pal.color(QPalette.ColorRole.Base))
        counts = self._counts()
        width = strip.width() / BINS
        colours = [QColor(*emotion_rgb(label)) for label in self._labels]
        analysed_colour = pal.color(QPalette.ColorRole.Mid)
        for b in np.flatnonzero(self._analysed):
            rect = QRectF(strip.left() + b * width, strip.top(), math.ceil(width) + 0.5, strip.height())
            row = counts[b] if counts.size else None
            if row is not None and row.any():
                p.fillRect(rect, colours[int(row.argmax())])
            else:
                # analysed, no face (of the selection) in it: a thin band says "analysed" without a colour
                p.fillRect(QRectF(rect.left(), strip.center().y() - 1, rect.width(), 2), analysed_colour)
        p.setPen(pal.color(QPalette.ColorRole.Mid))
        p.drawRect(strip)
        text = pal.color(QPalette.ColorRole.WindowText)
        if self._baseline is not None:
            x0, x1 = self._x_of(self._baseline.start_s * self._fps), self._x_of(self._baseline.end_s * self._fps)
            band = QRectF(x0, strip.top(), max(2.0, x1 - x0), strip.height())
            p.fillRect(band, QColor(90, 170, 255, 90))
            p.setPen(QColor(90, 170, 255))
            p.drawRect(band)
            p.setPen(text)
            p.drawText(band.adjusted(3, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "baseline")
        if self._baseline_start is not None:
            x = self._x_of(self._baseline_start * self._fps)
            p.setPen(QPen(QColor(90, 170, 255), 2, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, strip.top()), QPointF(x, strip.bottom()))
        for ev in self._events:
            x = self._x_of(ev.time_s * self._fps)
            p.setPen(text)
            p.drawLine(QPointF(x, strip.top()), QPointF(x, strip.bottom()))
            p.setBrush(QColor(255, 196, 0))
            p.drawPolygon(QPolygonF([QPointF(x - MARKER_PX / 2, 1), QPointF(x + MARKER_PX / 2, 1), QPointF(x, MARKER_PX + 2)]))
        if self._position is not None:
            x = self._x_of(self._position + 0.5)
            p.setPen(QColor(255, 255, 255) if pal.color(QPalette.ColorRole.Base).lightnessF() < 0.5 else QColor(0, 0, 0))
            p.drawLine(QPointF(x, strip.top() - 2), QPointF(x, strip.bottom() + 2))
        if not self._labels:
            p.setPen(text)
            fm = QFontMetricsF(self.font())
            p.drawText(strip, Qt.AlignmentFlag.AlignCenter, fm.elidedText("No session", Qt.TextElideMode.ElideRight, strip.width()))
        p.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        marker = self._event_at(pos)
        if marker is not None and event.button() == Qt.MouseButton.RightButton:
            self._marker_menu(marker, event.globalPosition().toPoint())
            return
        if event.button() == Qt.MouseButton.RightButton and self._labels:
            self._baseline_menu(self._index_at(pos.x()) / self._fps, event.globalPosition().toPoint())
            return
        if event.button() == Qt.MouseButton.LeftButton and self._labels:
            self.seekRequested.emit(self._index_at(pos.x()))
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        marker = self._event_at(pos)
        if marker is not None:
            self.setToolTip(f"{marker.label} at {marker.time_s:.2f} s (right-click: rename or delete)")
        else:
            index = self._index_at(pos.x())
            dominant = self.dominant_at(index)
            self.setToolTip(f"{index / self._fps:.2f} s" + (f": mostly {dominant}" if dominant else ""))
        super().mouseMoveEvent(event)

    def _marker_menu(self, marker: Event, where) -> None:
        menu = QMenu(self)
        rename = menu.addAction("Rename…")
        delete = menu.addAction("Delete")
        chosen = menu.exec(where)
        if chosen is rename:
            label, ok = QInputDialog.getText(self, "Rename event", "Label:", text=marker.label)
            if ok and label.strip():
                self.eventRenamed.emit(marker, label.strip())
        elif chosen is delete:
            self.eventDeleted.emit(marker)


    def baseline_actions(self) -> list[tuple[str, str]]:
        """(edge, menu text) offered by a right-click on the strip: start always, end once a start is known."""
        actions = [("start", "Baseline starts here")]
        if self._baseline_start is not None or self._baseline is not None:
            actions.append(("end", "Baseline ends here"))
        if self._baseline is not None or self._baseline_start is not None:
            actions.append(("clear", "Clear baseline"))
        return actions

    def _baseline_menu(self, time_s: float, where) -> None:
        menu = QMenu(self)
        chosen_edge = {menu.addAction(text): edge for edge, text in self.baseline_actions()}
        chosen = menu.exec(where)
        if chosen in chosen_edge:
            self.baselineEdge.emit(chosen_edge[chosen], time_s)


def _merge_pairs(counts: np.ndarray, half: int) -> np.ndarray:
    merged = np.zeros_like(counts)
    merged[:half] = counts[0::2] + counts[1::2]
    return merged
