"""The analysis settings dialog, and persisting those settings in QSettings.

The dialog edits a frozen :class:`~emodesk.core.settings.Settings` plus the GUI's graph window; fields it
has no control for (det_size, track_max_age_s, shot_cuts, threads) are carried over unchanged. In
QSettings everything lives under the ``analysis/`` group; every stored value is validated on load and a
bad one falls back to its default with a warning, so a corrupt settings file never stops the app.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
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

from emodesk.core.settings import Settings
from emodesk.errors import EmodeskError
from emodesk.inference.manifest import CLASSIFIER, DETECTOR, ModelSpec, load_manifest
from emodesk.inference.providers import DEVICES
from emodesk.inference.store import ModelStatus, locate

log = logging.getLogger(__name__)

GROUP = "analysis"
GRAPH_WINDOW_KEY = "graph_window_s"
DEFAULT_GRAPH_WINDOW_S = 30.0
GRAPH_WINDOW_RANGE = (5.0, 600.0)
THRESHOLD_RANGE = (0.05, 0.95)
SMOOTHING_MAX_S = 5.0
DETECT_EVERY_MAX = 30
MAX_FACES_MAX = 100
DEFAULT_MODEL_DATA = ""  # combo data of the "default: …" item (a str: None is best kept out of QVariants)
NONE_TEXT = "default"  # how None (model default / no value) is written to QSettings

# Colours chosen to read on both light and dark palettes
NONCOMMERCIAL_RGB = (220, 50, 47)  # red: may not be used commercially
MISSING_RGB = (230, 150, 0)  # amber: not on this machine (downloaded on first use, if it can be)

DEVICE_TEXT = {
    "auto": "auto (CUDA when it works, else CPU)",
    "cpu": "cpu",
    "cuda": "cuda",
    "tensorrt": "tensorrt (builds an engine per input size on first use)",
}


# ------------------------------------------------------------------------------------------ QSettings


def _is_none(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", NONE_TEXT, "none", "@invalid()"})


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError("not a whole number")
        return int(raw)
    return int(str(raw).strip())


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"true", "1", "yes", "on"}:
        return True
    if text in {"false", "0", "no", "off"}:
        return False
    raise ValueError("not true or false")


def _model_parser(kind: str) -> Callable[[Any], str | None]:
    def parse(raw: Any) -> str | None:
        if _is_none(raw):
            return None
        model_id = str(raw).strip()
        try:
            ids = {spec.id for spec in load_manifest().of_kind(kind)}
        except EmodeskError as exc:  # a broken manifest is reported elsewhere; do not validate against it
            log.warning("cannot check the stored model id %r against the manifest: %s", model_id, exc)
            return model_id
        if model_id not in ids:
            raise ValueError(f"not a known {kind}")
        return model_id

    return parse


def _parse_device(raw: Any) -> str:
    device = str(raw).strip().lower()
    if device not in DEVICES:
        raise ValueError(f"not one of {', '.join(DEVICES)}")
    return device


def _parse_threshold(raw: Any) -> float | None:
    if _is_none(raw):
        return None
    value = _to_float(raw)
    if not 0.0 < value < 1.0:
        raise ValueError("not between 0 and 1")
    return value


def _checked(convert: Callable[[Any], Any], ok: Callable[[Any], bool], why: str) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        value = convert(raw)
        if not ok(value):
            raise ValueError(why)
        return value

    return parse


def _parse_det_size(raw: Any) -> tuple[int, int] | None:
    if _is_none(raw):
        return None
    parts = raw if isinstance(raw, (list, tuple)) else str(raw).lower().replace(",", "x").split("x")
    if len(parts) != 2:
        raise ValueError("not WIDTHxHEIGHT")
    w, h = (_to_int(p) for p in parts)
    if w < 32 or h < 32:
        raise ValueError("smaller than 32x32")
    return w, h


def _parse_threads(raw: Any) -> int | None:
    if _is_none(raw):
        return None
    value = _to_int(raw)
    if value < 1:
        raise ValueError("must be 1 or more")
    return value


_FIELD_PARSERS: dict[str, Callable[[Any], Any]] = {
    "detector": _model_parser(DETECTOR),
    "emotion": _model_parser(CLASSIFIER),
    "device": _parse_device,
    "threshold": _parse_threshold,
    "max_faces": _checked(_to_int, lambda v: v >= 0, "must be 0 (all) or more"),
    "det_size": _parse_det_size,
    "detect_every": _checked(_to_int, lambda v: v >= 1, "must be 1 or more"),
    "smoothing": _checked(_to_float, lambda v: v >= 0, "must be 0 (off) or more"),
    "track_max_age_s": _checked(_to_float, lambda v: v > 0, "must be positive"),
    "shot_cuts": _to_bool,
    "threads": _parse_threads,
}
_parse_graph_window = _checked(
    _to_float,
    lambda v: GRAPH_WINDOW_RANGE[0] <= v <= GRAPH_WINDOW_RANGE[1],
    f"not between {GRAPH_WINDOW_RANGE[0]:g} and {GRAPH_WINDOW_RANGE[1]:g} s",
)


def _to_stored(value: Any) -> Any:
    """QSettings cannot store None, and tuples do not survive an INI file: write plain text for those."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value


def load_ui_settings(qs: QSettings) -> tuple[Settings, float]:
    """The stored analysis settings and graph window (seconds); defaults for anything missing or bad."""
    defaults = Settings()
    values: dict[str, Any] = {}
    graph_window_s = DEFAULT_GRAPH_WINDOW_S
    qs.beginGroup(GROUP)
    try:
        for name, parse in _FIELD_PARSERS.items():
            if not qs.contains(name):
                continue
            raw = qs.value(name)
            try:
                values[name] = parse(raw)
            except (TypeError, ValueError) as exc:
                log.warning(
                    "settings: ignoring stored %s/%s = %r (%s); using the default %r",
                    GROUP, name, raw, exc, getattr(defaults, name),
                )
        if qs.contains(GRAPH_WINDOW_KEY):
            raw = qs.value(GRAPH_WINDOW_KEY)
            try:
                graph_window_s = _parse_graph_window(raw)
            except (TypeError, ValueError) as exc:
                log.warning(
                    "settings: ignoring stored %s/%s = %r (%s); using the default %g s",
                    GROUP, GRAPH_WINDOW_KEY, raw, exc, DEFAULT_GRAPH_WINDOW_S,
                )
    finally:
        qs.endGroup()
    try:
        settings = dataclasses.replace(defaults, **values)
    except EmodeskError as exc:  # each value was checked alone; this only guards future cross-field rules
        log.warning("settings: stored analysis settings are inconsistent (%s); using the defaults", exc)
        settings = defaults
    return settings, graph_window_s


def save_ui_settings(qs: QSettings, settings: Settings, graph_window_s: float) -> None:
    """Store ``settings`` and the graph window under ``analysis/``."""
    qs.beginGroup(GROUP)
    try:
        for f in dataclasses.fields(Settings):
            qs.setValue(f.name, _to_stored(getattr(settings, f.name)))
        qs.setValue(GRAPH_WINDOW_KEY, float(graph_window_s))
    finally:
        qs.endGroup()
    qs.sync()
    if qs.status() != QSettings.Status.NoError:
        log.warning("settings: could not write %s (%s)", qs.fileName(), qs.status())


# --------------------------------------------------------------------------------------------- dialog


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
        # secondary text: italic rather than the disabled colour, which is too faint on light themes
        font = self.description_label.font()
        font.setItalic(True)
        self.description_label.setFont(font)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo)
        layout.addWidget(self.licence_label)
        layout.addWidget(self.description_label)
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


class SettingsDialog(QDialog):
    """Edit the analysis settings and the graph window. Read the result with :meth:`values` after exec()."""

    def __init__(self, settings: Settings, graph_window_s: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Analysis settings")
        self._base = settings  # fields without a control here are carried over from it

        manifest = load_manifest()
        # locate() hashes each file once per process (cached by size and mtime), so this is quick on reopen
        statuses = {spec.id: locate(spec) for spec in manifest.models}

        self.detector = _ModelChooser(DETECTOR, statuses, self)
        self.emotion = _ModelChooser(CLASSIFIER, statuses, self)

        self.device = QComboBox(self)
        for device in DEVICES:
            self.device.addItem(DEVICE_TEXT.get(device, device), device)

        self.threshold = QDoubleSpinBox(self)
        self.threshold.setDecimals(2)
        # one step below the real range is the "model default" special value (None)
        self.threshold.setRange(0.0, THRESHOLD_RANGE[1])
        self.threshold.setSingleStep(0.05)
        self.threshold.setToolTip(
            "Minimum detection score for a face. Lower finds more faces (and more false ones)."
        )
        self.threshold.valueChanged.connect(self._snap_threshold)

        self.smoothing = QDoubleSpinBox(self)
        self.smoothing.setDecimals(2)
        self.smoothing.setRange(0.0, SMOOTHING_MAX_S)
        self.smoothing.setSingleStep(0.05)
        self.smoothing.setSuffix(" s")
        self.smoothing.setSpecialValueText("off")
        self.smoothing.setToolTip("Half-life of the per-face smoothing of the emotion probabilities (0 = off).")

        self.detect_every = QSpinBox(self)
        self.detect_every.setRange(1, DETECT_EVERY_MAX)
        self.detect_every.setPrefix("every ")
        self.detect_every.setSuffix(" frames")
        self.detect_every.setSpecialValueText("every frame")  # not "every 1 frames"
        self.detect_every.setToolTip("Run the face detector on every N-th frame and track faces in between.")

        self.max_faces = QSpinBox(self)
        self.max_faces.setRange(0, MAX_FACES_MAX)
        self.max_faces.setSpecialValueText("all")
        self.max_faces.setToolTip("Analyse only the N largest faces (0 = all).")

        self.graph_window = QDoubleSpinBox(self)
        self.graph_window.setDecimals(0)
        self.graph_window.setRange(*GRAPH_WINDOW_RANGE)
        self.graph_window.setSingleStep(5)
        self.graph_window.setSuffix(" s")
        self.graph_window.setToolTip("How much recent time the live emotion graph shows.")

        models = QGroupBox("Models", self)
        models_form = QFormLayout(models)
        models_form.addRow("Face detector:", self.detector)
        models_form.addRow("Emotion model:", self.emotion)
        models_form.addRow("Device:", self.device)

        analysis = QGroupBox("Analysis", self)
        analysis_form = QFormLayout(analysis)
        analysis_form.addRow("Detection threshold:", self.threshold)
        analysis_form.addRow("Smoothing half-life:", self.smoothing)
        analysis_form.addRow("Detect faces:", self.detect_every)
        analysis_form.addRow("Max faces:", self.max_faces)

        display = QGroupBox("Display", self)
        display_form = QFormLayout(display)
        display_form.addRow("Graph window:", self.graph_window)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)

        layout = QVBoxLayout(self)
        layout.addWidget(models)
        layout.addWidget(analysis)
        layout.addWidget(display)
        layout.addStretch(1)
        layout.addWidget(buttons)

        self.detector.combo.currentIndexChanged.connect(self._update_threshold_default)
        self._set_values(settings, graph_window_s)

    # ---------------------------------------------------------------------------------------- values

    def _set_values(self, settings: Settings, graph_window_s: float) -> None:
        self.detector.set_model(settings.detector)
        self.emotion.set_model(settings.emotion)
        index = self.device.findData(settings.device)
        self.device.setCurrentIndex(max(index, 0))
        if settings.threshold is None:
            self.threshold.setValue(self.threshold.minimum())
        else:
            self.threshold.setValue(min(max(settings.threshold, THRESHOLD_RANGE[0]), THRESHOLD_RANGE[1]))
        self.smoothing.setValue(settings.smoothing)
        self.detect_every.setValue(settings.detect_every)
        self.max_faces.setValue(settings.max_faces)
        self.graph_window.setValue(graph_window_s)
        self._update_threshold_default()

    def restore_defaults(self) -> None:
        self._set_values(Settings(), DEFAULT_GRAPH_WINDOW_S)

    def values(self) -> tuple[Settings, float]:
        """The edited settings (unedited fields kept from the ones passed in) and graph window in seconds."""
        raw = self.threshold.value()
        # the spin box's minimum (0) is the "model default" special value
        threshold = None if raw < THRESHOLD_RANGE[0] / 2 else min(max(raw, THRESHOLD_RANGE[0]), THRESHOLD_RANGE[1])
        settings = dataclasses.replace(
            self._base,
            detector=self.detector.model(),
            emotion=self.emotion.model(),
            device=self.device.currentData(),
            threshold=threshold,
            smoothing=self.smoothing.value(),
            detect_every=self.detect_every.value(),
            max_faces=self.max_faces.value(),
        )
        return settings, self.graph_window.value()

    def _snap_threshold(self, value: float) -> None:
        # between the special "model default" value (0) and the real minimum: jump to one of them
        if 0.0 < value < THRESHOLD_RANGE[0]:
            self.threshold.setValue(THRESHOLD_RANGE[0] if value >= THRESHOLD_RANGE[0] / 2 else 0.0)

    def _update_threshold_default(self) -> None:
        default = self.detector.spec().threshold
        text = f"model default ({default:g})" if default is not None else "model default"
        self.threshold.setSpecialValueText(text)
