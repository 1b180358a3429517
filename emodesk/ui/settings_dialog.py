"""The analysis settings dialog: its form is built from ``emodesk.core.settings.SCHEMA``.

One row per setting, grouped as the schema groups them, with the schema's label, range, unit and help
(as the tooltip); a model row lists the manifest's models with their licence. Values are checked by the
same schema as the CLI and ``Settings``, so the dialog cannot produce a value they would refuse.
Persistence (QSettings) is in ``emodesk.ui.settings_store``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from emodesk.core.settings import BOOL, CHOICE, INT, MODEL, SCHEMA, SIZE, Settings, SettingSpec
from emodesk.inference.manifest import ModelSpec, load_manifest
from emodesk.inference.store import ModelStatus, locate

# the persistence lives in settings_store; these names stay importable from here for existing callers
from emodesk.ui.settings_store import DEFAULT_GRAPH_WINDOW_S, GRAPH_WINDOW, load_ui_settings, save_ui_settings

__all__ = ["DEFAULT_GRAPH_WINDOW_S", "SettingsDialog", "load_ui_settings", "save_ui_settings"]

log = logging.getLogger(__name__)

DEFAULT_MODEL_DATA = ""  # combo data of the "default: …" item (a str: None is best kept out of QVariants)
SIZE_PRESETS = ("320x320", "480x480", "640x640", "960x960", "1280x1280")

# Colours chosen to read on both light and dark palettes
NONCOMMERCIAL_RGB = (220, 50, 47)  # red: may not be used commercially
MISSING_RGB = (230, 150, 0)  # amber: not on this machine (downloaded on first use, if it can be)


def _disc_icon(rgb: tuple[int, int, int] | None, size: int = 12) -> QIcon:
    """A coloured disc, or a transparent one so that unmarked items stay aligned with marked ones."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    if rgb is not None:
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor(0, 0, 0, 90))
        painter.setBrush(QColor(*rgb))
        painter.drawEllipse(1, 1, size - 2, size - 2)
        painter.end()
    return QIcon(pixmap)


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


class _ModelChooser(QWidget):
    """A model combo (manifest default first) with the chosen model's licence and description below it."""

    def __init__(self, kind: str, statuses: dict[str, ModelStatus], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._statuses = statuses
        manifest = load_manifest()
        self._specs: dict[str, ModelSpec] = {spec.id: spec for spec in manifest.of_kind(kind)}
        self._default = manifest.default(kind)

        self.combo = QComboBox(self)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        # None = "whatever the manifest's default is", so a future default change reaches existing users
        self.combo.addItem(
            _disc_icon(self._mark(self._default)), f"default: {self._item_text(self._default)}", DEFAULT_MODEL_DATA
        )
        self.combo.setItemData(0, self._tooltip(self._default), Qt.ItemDataRole.ToolTipRole)
        for spec in self._specs.values():
            self.combo.addItem(_disc_icon(self._mark(spec)), self._item_text(spec), spec.id)
            self.combo.setItemData(self.combo.count() - 1, self._tooltip(spec), Qt.ItemDataRole.ToolTipRole)

        self.licence_label = QLabel(self)
        self.licence_label.setTextFormat(Qt.TextFormat.RichText)
        self.licence_label.setWordWrap(True)
        self.description_label = QLabel(self)
        self.description_label.setWordWrap(True)
        for label in (self.licence_label, self.description_label):  # under the combo, whatever room the row gets
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # secondary text: italic rather than the disabled colour, which is too faint on light themes
        font = self.description_label.font()
        font.setItalic(True)
        self.description_label.setFont(font)

        # the wrapped licence and description lines are form rows of their own (see notes()): inside this
        # widget's layout, a form row is sized from their one-line hint and the description overlaps the licence
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._update_labels)
        self._update_labels()

    def _status(self, spec: ModelSpec) -> ModelStatus:
        return self._statuses[spec.id]

    def _mark(self, spec: ModelSpec) -> tuple[int, int, int] | None:
        if not spec.commercial_use:
            return NONCOMMERCIAL_RGB
        if not self._status(spec).present:
            return MISSING_RGB
        return None

    def _item_text(self, spec: ModelSpec) -> str:
        missing = "" if self._status(spec).present else " (missing)"
        return f"{spec.id} — {spec.licence}{missing}"

    def _tooltip(self, spec: ModelSpec) -> str:
        lines = [spec.description, f"Licence: {spec.licence}"]
        if spec.licence_note:
            lines.append(spec.licence_note)
        lines.append(self._missing_text(spec) or f"File: {self._status(spec).path}")
        return "\n".join(line for line in lines if line)

    def _missing_text(self, spec: ModelSpec) -> str:
        if self._status(spec).present:
            return ""
        if spec.url:
            return "Not on this computer: downloaded on first use (unless downloads are off)."
        return "Not on this computer and has no automatic download: place the file in a model folder."

    def set_model(self, model_id: str | None) -> None:
        index = self.combo.findData(DEFAULT_MODEL_DATA if model_id is None else model_id)
        if index < 0:
            log.warning("settings: unknown model %r; showing the default", model_id)
            index = 0
        self.combo.setCurrentIndex(index)

    def model(self) -> str | None:
        return self.combo.currentData() or None

    def spec(self) -> ModelSpec:
        model_id = self.model()
        return self._specs[model_id] if model_id is not None else self._default

    def _update_labels(self) -> None:
        spec = self.spec()
        if spec.commercial_use:
            licence = f"Licence: <b>{spec.licence}</b> (commercial use allowed)"
        else:
            colour = _hex(NONCOMMERCIAL_RGB)
            licence = f"Licence: <b style='color:{colour}'>{spec.licence}</b>"
            if "non-commercial" not in spec.licence.lower():  # say it once, plainly, whatever the licence's name
                licence += f"<br><span style='color:{colour}'>Not for commercial use.</span>"
        missing = self._missing_text(spec)
        if missing:
            licence += f"<br><span style='color:{_hex(MISSING_RGB)}'>{missing}</span>"
        self.licence_label.setText(licence)
        self.licence_label.setToolTip(spec.licence_note)
        self.description_label.setText(spec.description)

    def notes(self) -> tuple[QLabel, QLabel]:
        """The licence and description lines, which the dialog lays out as rows of their own."""
        return self.licence_label, self.description_label


@dataclass(frozen=True)
class _Control:
    """A setting's widget and how to read and set its value."""

    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


class _SizeField(QComboBox):
    """An editable list of sizes; what is typed is checked by the schema when the dialog is accepted."""

    def __init__(self, spec: SettingSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spec = spec
        self.setEditable(True)
        self.addItem(f"default: {spec.none_text}")
        self.addItems(SIZE_PRESETS)

    def value(self) -> tuple[int, int] | None:
        text = self.currentText().strip()
        if not text or text == self.itemText(0):
            return None
        return self._spec.parse(text)

    def set_value(self, value: tuple[int, int] | None) -> None:
        if value is None:
            self.setCurrentIndex(0)
        else:
            self.setCurrentText(self._spec.format(value))


def _number_control(spec: SettingSpec, parent: QWidget) -> _Control:
    """A spin box over the schema's range. An optional setting's None is the special value one step
    below the lowest valid value; a setting whose 0 means something shows that word at 0."""
    integer = spec.kind == INT
    box: QSpinBox | QDoubleSpinBox = QSpinBox(parent) if integer else QDoubleSpinBox(parent)
    step = 1 if integer else 10.0**-spec.decimals
    if not integer:
        box.setDecimals(spec.decimals)
    minimum = spec.minimum or 0
    lowest = minimum + (step if spec.min_exclusive else 0)
    special = (minimum if spec.min_exclusive else minimum - step) if spec.optional else None
    box.setRange(special if special is not None else lowest, spec.maximum if spec.maximum is not None else 1e9)
    box.setSingleStep(spec.step)
    if spec.unit:
        box.setSuffix(f" {spec.unit}")
    if special is not None:
        box.setSpecialValueText(spec.none_text)
    elif spec.zero_text and lowest == 0:
        box.setSpecialValueText(spec.zero_text)

    def get() -> Any:
        raw = box.value()
        if special is not None and raw <= special:
            return None
        return int(raw) if integer else float(raw)

    def set_value(value: Any) -> None:
        box.setValue(box.minimum() if value is None else value)

    return _Control(box, get, set_value)


def _control(spec: SettingSpec, statuses: dict[str, ModelStatus], parent: QWidget) -> _Control:
    if spec.kind == MODEL:
        chooser = _ModelChooser(spec.model_kind or "", statuses, parent)
        return _Control(chooser, chooser.model, chooser.set_model)
    if spec.kind == CHOICE:
        combo = QComboBox(parent)
        notes = dict(spec.choice_notes)
        for choice in spec.choices:
            combo.addItem(f"{choice} ({notes[choice]})" if choice in notes else choice, choice)
        return _Control(combo, combo.currentData, lambda v: combo.setCurrentIndex(max(combo.findData(v), 0)))
    if spec.kind == BOOL:
        check = QCheckBox(parent)
        return _Control(check, check.isChecked, lambda v: check.setChecked(bool(v)))
    if spec.kind == SIZE:
        size = _SizeField(spec, parent)
        return _Control(size, size.value, size.set_value)
    return _number_control(spec, parent)


class SettingsDialog(QDialog):
    """Edit the analysis settings and the graph window. Read the result with :meth:`values` after exec().

    Each setting's control is ``self.fields[name]``; its widget is also ``self.<name>``.
    """

    def __init__(self, settings: Settings, graph_window_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Analysis settings")
        manifest = load_manifest()
        # locate() hashes each file once per process (cached by size and mtime), so this is quick on reopen
        statuses = {spec.id: locate(spec) for spec in manifest.models}

        layout = QVBoxLayout(self)
        forms: dict[str, QFormLayout] = {}
        self.fields: dict[str, _Control] = {}
        self._specs = {spec.name: spec for spec in (*SCHEMA, GRAPH_WINDOW)}
        for spec in self._specs.values():
            if spec.group not in forms:
                box = QGroupBox(spec.group, self)
                forms[spec.group] = QFormLayout(box)
                layout.addWidget(box)
            control = _control(spec, statuses, self)
            control.widget.setToolTip(spec.help)
            forms[spec.group].addRow(f"{spec.label}:", control.widget)
            if isinstance(control.widget, _ModelChooser):
                for note in control.widget.notes():
                    forms[spec.group].addRow("", note)
            self.fields[spec.name] = control
            setattr(self, spec.name, control.widget)

        # a value the schema refuses (a typed size) is said here, and the dialog stays open
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {_hex(NONCOMMERCIAL_RGB)}")
        self.error_label.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        layout.addStretch(1)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)

        self.detector.combo.currentIndexChanged.connect(self._update_threshold_default)
        for chooser in (self.detector, self.emotion):
            chooser.combo.currentIndexChanged.connect(self._fit_height)
        self._base = settings
        self._set_values(settings, graph_window_s)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._fit_height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def _fit_height(self) -> None:
        # Qt sizes a dialog from its widgets' one-line hints; the wrapped licence and description lines
        # need more at the width they get, or they are drawn over each other
        needed = self.layout().totalHeightForWidth(self.width())
        if needed > 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)

    # ---------------------------------------------------------------------------------------- values

    def _set_values(self, settings: Settings, graph_window_s: float) -> None:
        for name, control in self.fields.items():
            control.set(graph_window_s if name == GRAPH_WINDOW.name else getattr(settings, name))
        self._update_threshold_default()

    def restore_defaults(self) -> None:
        self._set_values(Settings(), DEFAULT_GRAPH_WINDOW_S)

    def values(self) -> tuple[Settings, float]:
        """The edited settings and graph window in seconds; ValueError names a field the schema refuses."""
        values: dict[str, Any] = {}
        for name, control in self.fields.items():
            try:
                value = control.get()
                self._specs[name].check(value)
            except ValueError as exc:
                raise ValueError(f"{self._specs[name].label}: {exc}") from None
            values[name] = value
        graph_window_s = values.pop(GRAPH_WINDOW.name)
        return dataclasses.replace(self._base, **values), graph_window_s

    def accept(self) -> None:
        try:
            self.values()
        except ValueError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        super().accept()

    def _update_threshold_default(self) -> None:
        default = self.detector.spec().threshold
        text = f"model default ({default:g})" if default is not None else "model default"
        self.threshold.setSpecialValueText(text)
