"""The face list: one row per tracked face with a thumbnail, its emotion on screen, its dominant emotion and
time on screen.

The panel counts nothing itself: the statistics (frames seen, dominant emotion, time on screen) come from
the session's snapshot (``set_faces``: a running SessionRun's ``snapshot().faces``, or a saved session's
faces), so the window, the CLI and the session file agree by construction. ``show_frame`` gives the frame
on screen, for the "Emotion" column and the thumbnails. ``refresh()`` (the main window's ~30 Hz timer)
turns that state into table rows and QPixmaps. All of it runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QMouseEvent, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from emodesk.core.annotate import face_thumbnail
from emodesk.core.palette import emotion_rgb
from emodesk.core.results import FrameResult
from emodesk.core.run import FaceSnapshot
from emodesk.core.session_model import SessionFace
from emodesk.inference.types import Box
from emodesk.ui.qt_image import bgr_to_qimage

THUMB_PX = 64  # logical size of a thumbnail in the table
THUMB_STORE_PX = 128  # stored size, so that thumbnails stay sharp on 2x displays
THUMB_INTERVAL_S = 0.5  # refresh a face's thumbnail at most this often (media time)
THUMB_MARGIN = 0.25  # margin around the face box, as a fraction of its larger side, on each side

COL_ID, COL_THUMB, COL_EMOTION, COL_DOMINANT, COL_TIME = range(5)
HEADERS = ("ID", "Face", "Emotion", "Dominant", "On screen")

TRACK_ROLE = Qt.ItemDataRole.UserRole  # on every item of a row: its track id (ALL_FACES_ID on "All faces")
ALL_FACES_ID = -1
GONE_ROLE = Qt.ItemDataRole.UserRole + 1  # True when the face was not in the latest frame


def _face_crop(frame: np.ndarray, box: Box, size: int = THUMB_STORE_PX, margin: float = THUMB_MARGIN) -> np.ndarray | None:
    """The core's square thumbnail of ``box`` (the PDF report draws the same one), or None when the box
    shows nothing of the frame (degenerate, or outside it): the panel then keeps the previous thumbnail."""
    x1, y1, x2, y2 = box
    h, w = frame.shape[:2] if frame.ndim >= 2 else (0, 0)
    if not (x2 - x1 > 1 and y2 - y1 > 1) or x2 <= 0 or y2 <= 0 or x1 >= w or y1 >= h:
        return None
    return face_thumbnail(frame, box, size, margin=margin)


@dataclass
class _FaceStats:
    """What the panel shows of one track: the session's statistics plus the frame on screen (no Qt)."""

    track_id: int
    first_time_s: float = 0.0
    last_time_s: float = 0.0
    frames_seen: int = 0
    seen_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    dominant: str | None = None
    emotion: str | None = None  # on the frame on screen
    confidence: float = 0.0
    thumb: np.ndarray | None = None
    thumb_time_s: float | None = None
    thumb_version: int = 0  # bumped on every new crop, so refresh() converts each crop once


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class FacePanel(QWidget):
    """Table of tracked faces. Emits ``faceSelected(track_id)`` on a user click; ``None`` means all faces."""

    faceSelected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._faces: dict[int, _FaceStats] = {}
        self._visible: set[int] = set()  # track ids in the latest frame
        self._selected: int | None = None
        self._dirty = True
        self._programmatic = False  # True while our own code changes the selection: no signal then
        self._thumbs: dict[int, tuple[int, QIcon, QIcon]] = {}  # id -> (crop version, normal, faded)
        self._dots: dict[tuple[str, str, bool], QIcon] = {}
        self._row_ids: list[int | None] = [None]  # track id shown in each row; row 0 is "All faces"
        self._cells: dict[tuple[int, int], tuple[object, ...]] = {}  # what each cell shows (see _set_cell)

        self._table = QTableWidget(1, len(HEADERS), self)
        self._table.setHorizontalHeaderLabels(list(HEADERS))
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self._table.verticalHeader().setVisible(False)
        self._table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self._table.verticalHeader().setDefaultSectionSize(THUMB_PX + 6)
        self._table.setShowGrid(False)
        self._table.setAlternatingRowColors(True)
        self._table.setWordWrap(False)
        self._table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self._table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self._table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSectionResizeMode(COL_ID, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_THUMB, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_THUMB, THUMB_PX + 12)
        header.setSectionResizeMode(COL_EMOTION, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_DOMINANT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_TIME, QHeaderView.ResizeMode.ResizeToContents)
        self._table.itemSelectionChanged.connect(self._on_selection_changed)
        # single-selection views ignore clicks on empty space; here such a click means "all faces"
        self._table.viewport().installEventFilter(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._table)

        self._set_all_row()
        self._apply_selection()

    # ----------------------------------------------------------------------------------------- data in

    def set_faces(self, faces: Iterable[FaceSnapshot | SessionFace]) -> None:
        """The session's per-face statistics (a SessionRun snapshot's ``faces`` or a saved session's)."""
        for snap in faces:
            stats = self._faces.get(snap.id)
            if stats is None:
                stats = self._faces[snap.id] = _FaceStats(snap.id)
            counts = {label: n for label, n in snap.dominant_counts.items() if n}
            changed = (
                stats.frames_seen != snap.frames_seen
                or stats.dominant != snap.most_common
                or stats.counts != counts
                or stats.seen_s != snap.on_screen_s
                or stats.last_time_s != snap.last_time_s
            )
            stats.first_time_s, stats.last_time_s = snap.first_time_s, snap.last_time_s
            # sessions saved before on_screen_s was recorded: the span it was seen over, at most
            seen_s = snap.on_screen_s if snap.on_screen_s is not None else snap.last_time_s - snap.first_time_s
            stats.frames_seen, stats.seen_s = snap.frames_seen, seen_s
            stats.counts, stats.dominant = counts, snap.most_common
            self._dirty = self._dirty or changed

    def show_frame(self, result: FrameResult | None, frame: np.ndarray | None = None) -> None:
        """The frame on screen (None: not analysed): its faces are "visible", with their emotion there;
        ``frame`` (BGR) gives thumbnails."""
        visible: set[int] = set()
        for stats in self._faces.values():
            stats.emotion, stats.confidence = None, 0.0
        for face in result.faces if result is not None else ():
            tid = face.track_id
            visible.add(tid)
            stats = self._faces.get(tid)
            if stats is None:
                stats = self._faces[tid] = _FaceStats(tid, first_time_s=result.time_s, last_time_s=result.time_s)
            stats.emotion, stats.confidence = face.emotion, face.confidence
            t = result.time_s
            if frame is not None and (stats.thumb_time_s is None or abs(t - stats.thumb_time_s) >= THUMB_INTERVAL_S):
                crop = _face_crop(frame, face.box)
                if crop is not None:
                    stats.thumb = crop
                    stats.thumb_time_s = t
                    stats.thumb_version += 1
        self._visible = visible
        self._dirty = True

    def clear(self) -> None:
        """Forget every face (a new source). Does not emit ``faceSelected``."""
        self._faces.clear()
        self._visible.clear()
        self._thumbs.clear()
        self._selected = None
        self._dirty = True
        self.refresh()

    # ------------------------------------------------------------------------------------ selection

    def select(self, track_id: int | None) -> None:
        """Highlight a face's row (``None``: "All faces") without emitting ``faceSelected``.

        An id not in the table yet is remembered and highlighted once the face appears.
        """
        self._selected = track_id
        self._apply_selection()

    def selected(self) -> int | None:
        return self._selected

    def track_ids(self) -> list[int]:
        """Track ids in display order (visible faces first, then by id)."""
        return sorted(self._faces, key=lambda tid: (tid not in self._visible, tid))

    def row_of(self, track_id: int | None) -> int:
        """The table row showing ``track_id`` (0 is "All faces"), or -1."""
        try:
            return self._row_ids.index(track_id)
        except ValueError:
            return -1

    @property
    def table(self) -> QTableWidget:
        return self._table

    def _apply_selection(self) -> None:
        row = self.row_of(self._selected)
        self._programmatic = True
        try:
            if row < 0:
                # remembered id not shown yet: highlight nothing rather than a misleading row
                self._table.clearSelection()
            else:
                self._table.selectRow(row)
        finally:
            self._programmatic = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self._table.viewport()
            and event.type() == QEvent.Type.MouseButtonPress
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
            and not self._table.indexAt(event.position().toPoint()).isValid()
        ):
            self._table.selectRow(0)  # a user action: goes through _on_selection_changed and emits None
            return True
        return super().eventFilter(watched, event)

    def _on_selection_changed(self) -> None:
        if self._programmatic:
            return
        rows = self._table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self._row_ids):
            track_id = self._row_ids[rows[0].row()]
        else:
            # the user deselected the row (Ctrl+click): that means "all faces" too
            track_id = None
            self._apply_selection_row0()
        if track_id == self._selected:
            return
        self._selected = track_id
        self.faceSelected.emit(track_id)

    def _apply_selection_row0(self) -> None:
        self._programmatic = True
        try:
            self._table.selectRow(0)
        finally:
            self._programmatic = False

    # -------------------------------------------------------------------------------------- drawing

    def refresh(self) -> None:
        """Bring the table up to date with what ``add_result`` stored (cheap when nothing changed)."""
        if not self._dirty:
            return
        self._dirty = False
        order = self.track_ids()
        table = self._table
        table.setUpdatesEnabled(False)
        self._programmatic = True  # row contents move under the selection; that is not a user choice
        try:
            if table.rowCount() != 1 + len(order):
                table.setRowCount(1 + len(order))
                self._cells = {key: value for key, value in self._cells.items() if key[0] <= len(order)}
            self._row_ids = [None, *order]
            self._set_all_row()
            for row, tid in enumerate(order, start=1):
                self._set_face_row(row, self._faces[tid], gone=tid not in self._visible)
        finally:
            self._programmatic = False
            table.setUpdatesEnabled(True)
        self._apply_selection()

    def _set_cell(
        self,
        row: int,
        col: int,
        *,
        track_id: int | None,
        text: str,
        decoration: tuple[object, QIcon] | None = None,
        gone: bool = False,
        bold: bool = False,
        tooltip: str = "",
        align_right: bool = False,
    ) -> None:
        """Put a fresh item in a cell, unless the cell already shows exactly this.

        Only changed cells are touched, so a 30 Hz refresh of a long list costs little; a changed cell
        gets a new item (rather than an edited one) so that no stale role (a grey brush, an old icon)
        can survive from what the row showed before the rows were re-sorted.
        """
        key = (track_id, text, decoration[0] if decoration else None, gone, bold, tooltip)
        if self._cells.get((row, col)) == key:
            return
        item = QTableWidgetItem(text)
        # -1 rather than None: an unset/None QVariant is best never round-tripped through Qt
        item.setData(TRACK_ROLE, ALL_FACES_ID if track_id is None else track_id)
        item.setData(GONE_ROLE, gone)
        if decoration is not None:
            item.setData(Qt.ItemDataRole.DecorationRole, decoration[1])
        if gone:
            item.setForeground(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        if gone or bold:
            font = QFont(self._table.font())
            font.setItalic(gone)
            font.setBold(bold)
            item.setFont(font)
        if tooltip:
            item.setToolTip(tooltip)
        if align_right:
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._table.setItem(row, col, item)
        self._cells[(row, col)] = key

    def _set_all_row(self) -> None:
        if self._table.columnSpan(0, COL_THUMB) == 1:
            # the summary text spans the face columns so it is never elided into the Emotion column
            self._table.setSpan(0, COL_THUMB, 1, len(HEADERS) - COL_THUMB)
            # the summary row needs no room for a thumbnail
            self._table.setRowHeight(0, self._table.fontMetrics().height() + 12)
        n_visible = len(self._visible & set(self._faces))
        tooltip = "Show every face"
        self._set_cell(0, COL_ID, track_id=None, text="All", bold=True, tooltip=tooltip)
        summary = f"All faces ({n_visible} visible, {len(self._faces)} seen)"
        self._set_cell(0, COL_THUMB, track_id=None, text=summary, bold=True, tooltip=tooltip)

    def _set_face_row(self, row: int, stats: _FaceStats, *, gone: bool) -> None:
        tid = stats.track_id
        name = f"Face {tid}" + (" (not in the current frame)" if gone else "")
        dominant = stats.dominant
        total = sum(stats.counts.values())
        ordered = sorted(stats.counts.items(), key=lambda item: -item[1])
        shares = ", ".join(f"{label} {100 * n / total:.0f}%" for label, n in ordered)
        current = f"{stats.emotion} {100 * stats.confidence:.0f}%" if stats.emotion else "—"
        seen = (
            f"on screen {stats.seen_s:.1f} s, in {stats.frames_seen} frames\n"
            f"first seen at {stats.first_time_s:.2f} s, last at {stats.last_time_s:.2f} s"
        )
        thumb = self._thumbnail(stats, gone)
        common = {"track_id": tid, "gone": gone}
        self._set_cell(row, COL_ID, text=str(tid), tooltip=name, align_right=True, **common)
        self._set_cell(
            row, COL_THUMB, text="", tooltip=name,
            decoration=(("thumb", stats.thumb_version, gone), thumb) if thumb is not None else None, **common,
        )
        self._set_cell(row, COL_EMOTION, text=current, decoration=self._dot(stats.emotion, gone), **common)
        self._set_cell(
            row, COL_DOMINANT, text=dominant or "—", decoration=self._dot(dominant, gone),
            tooltip=f"most frequent so far: {shares}" if shares else "", **common,
        )
        self._set_cell(row, COL_TIME, text=_format_seconds(stats.seen_s), tooltip=seen, align_right=True, **common)

    def _thumbnail(self, stats: _FaceStats, gone: bool) -> QIcon | None:
        if stats.thumb is None:
            return None
        cached = self._thumbs.get(stats.track_id)
        if cached is None or cached[0] != stats.thumb_version:
            # convert each crop once, at the device pixel ratio, so it is sharp on HiDPI screens
            dpr = self.devicePixelRatioF() or 1.0
            side = max(1, int(round(THUMB_PX * dpr)))
            image = bgr_to_qimage(stats.thumb).scaled(
                side, side, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            normal = QPixmap.fromImage(image)
            normal.setDevicePixelRatio(dpr)
            faded = QPixmap(normal.size())
            faded.setDevicePixelRatio(dpr)
            faded.fill(Qt.GlobalColor.transparent)
            painter = QPainter(faded)
            painter.setOpacity(0.35)  # a gone face's picture recedes like its text
            painter.drawPixmap(0, 0, normal)
            painter.end()
            cached = (stats.thumb_version, self._untinted(normal), self._untinted(faded))
            self._thumbs[stats.track_id] = cached
        return cached[2] if gone else cached[1]

    @staticmethod
    def _untinted(pixmap: QPixmap) -> QIcon:
        # a plain QPixmap decoration is tinted with the highlight colour in the selected row; a face photo
        # should look the same whether or not its row is selected
        icon = QIcon()
        icon.addPixmap(pixmap, QIcon.Mode.Normal)
        icon.addPixmap(pixmap, QIcon.Mode.Selected)
        return icon

    def _dot(self, label: str | None, faded: bool = False) -> tuple[object, QIcon] | None:
        """A small disc in the emotion's palette colour, with its cache key (the text itself keeps the
        theme's colour so it stays readable on light and dark themes); ``faded`` for gone faces."""
        if label is None:
            return None
        key = ("dot", label, faded)
        icon = self._dots.get(key)
        if icon is None:
            size = 12
            pixmap = QPixmap(size, size)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setOpacity(0.35 if faded else 1.0)
            painter.setPen(QColor(0, 0, 0, 90))
            painter.setBrush(QColor(*emotion_rgb(label)))
            painter.drawEllipse(1, 1, size - 2, size - 2)
            painter.end()
            icon = self._dots[key] = self._untinted(pixmap)
        return key, icon
