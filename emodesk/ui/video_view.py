"""The central video view: paints the latest annotated frame, maps clicks on faces to face IDs."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from emodesk.core.results import FrameResult

PLACEHOLDER = "Drop a video, an image or a folder of images here,\nor open a file (Ctrl+O) or a camera."


class VideoView(QWidget):
    faceClicked = Signal(object)  # track id, or None for a click beside every face

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._result: FrameResult | None = None
        self._message = PLACEHOLDER
        self._note = ""
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_frame(self, image: QImage, result: FrameResult | None) -> None:
        self._image = image
        self._result = result
        self.update()

    def clear(self, message: str = PLACEHOLDER) -> None:
        self._image = None
        self._result = None
        self._message = message
        self._note = ""
        self.update()

    def set_note(self, text: str) -> None:
        """A line over the top of the picture (e.g. "not analysed yet"); "" hides it."""
        if text != self._note:
            self._note = text
            self.update()

    @property
    def note(self) -> str:
        return self._note

    def show_message(self, message: str) -> None:
        """No picture (a session reviewed without its video): the message in its place."""
        self._image = None
        self._message = message
        self.update()

    @property
    def image(self) -> QImage | None:
        return self._image

    def _target_rect(self) -> QRectF:
        """Where the frame is drawn: fitted into the widget, aspect ratio kept, centred."""
        assert self._image is not None
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(16, 16, 18))
        if self._image is None or self._image.isNull():
            painter.setPen(QColor(170, 170, 175))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._message)
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self._target_rect(), self._image)
        if self._note:
            metrics = painter.fontMetrics()
            box = QRectF(8, 8, metrics.horizontalAdvance(self._note) + 16, metrics.height() + 8)
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor(255, 220, 120))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, self._note)

    def frame_point(self, pos: QPointF) -> tuple[float, float] | None:
        """Widget coordinates → frame pixel coordinates (None outside the picture)."""
        if self._image is None:
            return None
        rect = self._target_rect()
        if not rect.contains(pos):
            return None
        scale = rect.width() / self._image.width()
        return (pos.x() - rect.x()) / scale, (pos.y() - rect.y()) / scale

    def face_at(self, pos: QPointF) -> int | None:
        point = self.frame_point(pos)
        if point is None or self._result is None:
            return None
        x, y = point
        hits = [f for f in self._result.faces if f.box[0] <= x <= f.box[2] and f.box[1] <= y <= f.box[3]]
        if not hits:
            return None
        # nested boxes (a face behind another): the smallest one is the one pointed at
        return min(hits, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).track_id

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.faceClicked.emit(self.face_at(event.position()))
        super().mousePressEvent(event)
