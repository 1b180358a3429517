"""Session summary: for each face, the share of frames in which each emotion was the dominant one.

One horizontal stacked bar per face ID (most-seen faces first, at most ``max_rows``), with an "All faces"
row on top that totals every face, segments in the shared emotion colours, a legend above and the face
IDs at the left. Drawn with QPainter rather than pyqtgraph: it is a static chart that needs text and
palette-following colours, not zooming or fast line updates.

The panel counts nothing itself: ``set_faces`` takes the session's per-face statistics (a SessionRun
snapshot's ``faces``, or a saved session's), so the bars equal the session file's ``dominant_counts``.
``refresh`` - called by the main window's display timer - repaints, and only when something changed.
The panel asks for the height of all its rows; ``scrollable()`` puts it in a scroll area so a small dock
scrolls instead of cutting rows off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFontMetricsF,
    QHelpEvent,
    QPainter,
    QPaintEvent,
    QPalette,
)
from PySide6.QtWidgets import QFrame, QScrollArea, QSizePolicy, QToolTip, QWidget

from emodesk.core.palette import emotion_rgb
from emodesk.core.run import FaceSnapshot
from emodesk.core.session_model import SessionFace
from emodesk.inference.labels import CANONICAL_LABELS

ALL_FACES = "All faces"
HEADING = "Dominant emotion per face: share of the frames it was seen in"
MARGIN = 8.0
ROW_GAP = 6.0
SWATCH = 10.0


@dataclass(frozen=True)
class _Row:
    """One bar as laid out for painting and tooltips."""

    name: str
    counts: dict[str, int]
    total: int


class SummaryPanel(QWidget):
    """Horizontal stacked bars of dominant-emotion shares per face, plus an all-faces total."""

    def __init__(self, labels: Sequence[str] = CANONICAL_LABELS, max_rows: int = 40, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._labels: tuple[str, ...] = tuple(labels)
        self._max_rows = max(1, int(max_rows))
        self._counts: dict[int, Counter[str]] = {}
        self._rows: list[_Row] = []
        self._hidden_faces = 0
        self._dirty = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMouseTracking(True)  # tooltips per segment

    # ---- public API -------------------------------------------------------------------------------

    @property
    def counts(self) -> dict[int, dict[str, int]]:
        """Frames in which each label was the dominant emotion, per face (track ID); a copy."""
        return {tid: dict(c) for tid, c in self._counts.items()}

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def row_names(self) -> list[str]:
        """The bars as drawn after the last refresh, top to bottom ("All faces", then "Face #N" ...)."""
        return [row.name for row in self._rows]

    @property
    def hidden_faces(self) -> int:
        """Faces counted but not drawn (beyond ``max_rows``; they are still in the "All faces" total)."""
        return self._hidden_faces

    def set_labels(self, labels: Sequence[str]) -> None:
        """Use these labels for the legend and segment order (the model changed); clears the counts."""
        self._labels = tuple(labels)
        self.clear()

    def set_faces(self, faces: Iterable[FaceSnapshot | SessionFace]) -> None:
        """The session's per-face statistics; redrawn on the next refresh() when they changed."""
        counts = {
            f.id: Counter({label: n for label, n in f.dominant_counts.items() if n})
            for f in faces
            if any(f.dominant_counts.values())
        }
        if counts != self._counts:
            self._counts = counts
            self._dirty = True

    def refresh(self) -> None:
        """Rebuild the rows and repaint if anything was counted since the last refresh."""
        if not self._dirty:
            return
        self._dirty = False
        self._rows = self._build_rows()
        self.updateGeometry()  # the number of rows may have changed the preferred height
        self.update()

    def clear(self) -> None:
        self._counts = {}
        self._dirty = True
        self.refresh()

    # ---- layout -----------------------------------------------------------------------------------

    def _build_rows(self) -> list[_Row]:
        if not self._counts:
            self._hidden_faces = 0
            return []
        totals = {tid: sum(c.values()) for tid, c in self._counts.items()}
        # Most-seen first; equal counts by ID so the order does not flicker between refreshes.
        order = sorted(totals, key=lambda tid: (-totals[tid], tid))
        shown = order[: self._max_rows]
        self._hidden_faces = len(order) - len(shown)
        everyone: Counter[str] = Counter()
        for c in self._counts.values():
            everyone.update(c)
        rows = [_Row(ALL_FACES, dict(everyone), sum(everyone.values()))]
        rows += [_Row(f"Face #{tid}", dict(self._counts[tid]), totals[tid]) for tid in shown]
        return rows

    def _segment_labels(self, counts: dict[str, int]) -> list[str]:
        """The model's labels in their order, then anything unexpected that was counted anyway."""
        extra = sorted(k for k in counts if k not in self._labels)
        return [*self._labels, *extra]

    def _row_height(self) -> float:
        return max(18.0, QFontMetricsF(self.font()).height() + 6.0)

    def _legend_rects(self, width: float) -> list[tuple[str, QRectF]]:
        """Flowing legend entries (swatch + name) wrapped to the widget width, below the heading."""
        fm = QFontMetricsF(self.font())
        line_h = fm.height()
        x, y = MARGIN, MARGIN + line_h + 4
        out: list[tuple[str, QRectF]] = []
        for label in self._labels:
            w = SWATCH + 4 + fm.horizontalAdvance(label)
            if x > MARGIN and x + w > width - MARGIN:
                x, y = MARGIN, y + line_h + 2
            out.append((label, QRectF(x, y, w, line_h)))
            x += w + 14
        return out

    def _legend_height(self, width: float) -> float:
        rects = self._legend_rects(width)
        if rects:
            return rects[-1][1].bottom() - MARGIN + 8
        return QFontMetricsF(self.font()).height() + 8

    def _name_width(self) -> float:
        fm = QFontMetricsF(self.font())
        bold = self.font()
        bold.setBold(True)  # the total row's name is drawn bold
        widths = [QFontMetricsF(bold).horizontalAdvance(ALL_FACES), *(fm.horizontalAdvance(r.name) for r in self._rows)]
        return max(widths) + 10

    def _bar_rects(self) -> list[tuple[_Row, QRectF]]:
        top = MARGIN + self._legend_height(self.width())
        left = MARGIN + self._name_width()
        right = self.width() - MARGIN - self._count_width()
        h = self._row_height()
        return [
            (row, QRectF(left, top + i * (h + ROW_GAP), max(1.0, right - left), h)) for i, row in enumerate(self._rows)
        ]

    def _count_width(self) -> float:
        return QFontMetricsF(self.font()).horizontalAdvance("000000 frames") + 8

    def _segments(self, row: _Row, bar: QRectF) -> list[tuple[str, QRectF, int]]:
        out = []
        x = bar.left()
        for label in self._segment_labels(row.counts):
            n = row.counts.get(label, 0)
            if n <= 0 or row.total <= 0:
                continue
            w = bar.width() * n / row.total
            out.append((label, QRectF(x, bar.top(), w, bar.height()), n))
            x += w
        return out

    def sizeHint(self) -> QSize:
        rows = max(1, len(self._rows)) + (1 if self._hidden_faces else 0)
        h = MARGIN * 2 + self._legend_height(480) + rows * (self._row_height() + ROW_GAP)
        return QSize(480, int(h))

    def minimumSizeHint(self) -> QSize:
        # every row's height: in a scroll area (scrollable()) the panel then scrolls instead of squeezing
        rows = max(2, len(self._rows) + (1 if self._hidden_faces else 0))
        return QSize(240, int(MARGIN * 2 + self._legend_height(self.width() or 240) + rows * (self._row_height() + ROW_GAP)))

    # ---- painting ---------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = QColor(text)
        muted.setAlpha(150)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), pal.color(QPalette.ColorRole.Window))
        fm = QFontMetricsF(self.font())

        p.setPen(muted)
        p.drawText(QRectF(MARGIN, MARGIN, self.width() - 2 * MARGIN, fm.height()), Qt.AlignmentFlag.AlignVCenter,
                   fm.elidedText(HEADING, Qt.TextElideMode.ElideRight, self.width() - 2 * MARGIN))
        for label, rect in self._legend_rects(self.width()):
            swatch = QRectF(rect.left(), rect.center().y() - SWATCH / 2, SWATCH, SWATCH)
            p.fillRect(swatch, QColor(*emotion_rgb(label)))
            p.setPen(text)
            p.drawText(QRectF(swatch.right() + 4, rect.top(), rect.width(), rect.height()), Qt.AlignmentFlag.AlignVCenter, label)

        bars = self._bar_rects()
        if not bars:
            p.setPen(muted)
            top = MARGIN + self._legend_height(self.width())
            p.drawText(QRectF(0, top, self.width(), self.height() - top), Qt.AlignmentFlag.AlignCenter, "No faces yet")
            p.end()
            return

        name_left = MARGIN
        for i, (row, bar) in enumerate(bars):
            font = self.font()
            font.setBold(i == 0)  # the total row stands out from the per-face rows
            p.setFont(font)
            p.setPen(text)
            p.drawText(QRectF(name_left, bar.top(), bar.left() - name_left - 6, bar.height()), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, row.name)
            p.setFont(self.font())
            for label, seg, n in self._segments(row, bar):
                colour = QColor(*emotion_rgb(label))
                p.fillRect(seg, colour)
                share = f"{100 * n / row.total:.0f}%"
                if seg.width() >= fm.horizontalAdvance(share) + 6:
                    # Dark text on light segments, white on dark ones (luminance of the segment colour).
                    p.setPen(QColor(20, 20, 20) if colour.lightnessF() > 0.55 else QColor(250, 250, 250))
                    p.drawText(seg, Qt.AlignmentFlag.AlignCenter, share)
            p.setPen(muted)
            p.drawRect(bar)
            p.drawText(QRectF(bar.right() + 6, bar.top(), self._count_width(), bar.height()), Qt.AlignmentFlag.AlignVCenter, f"{row.total} frames")
            if i == 0 and len(bars) > 1:
                # A rule between the total and the faces.
                y = bar.bottom() + ROW_GAP / 2
                p.drawLine(QPointF(MARGIN, y), QPointF(self.width() - MARGIN, y))

        if self._hidden_faces:
            last = bars[-1][1]
            p.setPen(muted)
            more = f"+ {self._hidden_faces} more face{'s' if self._hidden_faces != 1 else ''} (fewer frames)"
            p.drawText(QRectF(last.left(), last.bottom() + ROW_GAP, last.width(), self._row_height()), Qt.AlignmentFlag.AlignVCenter, more)
        p.end()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            tip = self._tooltip_at(QPointF(event.pos()))
            if tip:
                QToolTip.showText(event.globalPos(), tip, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def _tooltip_at(self, pos: QPointF) -> str | None:
        for row, bar in self._bar_rects():
            if not bar.contains(pos):
                continue
            for label, seg, n in self._segments(row, bar):
                if seg.contains(pos):
                    return f"{row.name}: {label} dominant in {n} of {row.total} frames ({100 * n / row.total:.1f}%)"
            return f"{row.name}: {row.total} frames"
        return None


def scrollable(panel: SummaryPanel) -> QScrollArea:
    """``panel`` in a vertical scroll area: many faces in a small dock scroll rather than being cut off."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area
