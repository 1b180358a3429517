"""Persisting the analysis settings (and the graph window) in QSettings, checked by the settings schema.

Everything lives under the ``analysis/`` group, one key per ``emodesk.core.settings.SCHEMA`` entry. Every
stored value is read back with the schema's own parser, so a value the CLI or ``Settings`` would refuse
is refused here too; a bad one falls back to its default with a warning, so a corrupt settings file
never stops the app.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSettings

from emodesk.core.settings import FLOAT, SCHEMA, Settings, SettingSpec
from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)

GROUP = "analysis"
DEFAULT_GRAPH_WINDOW_S = 30.0
# a display setting of the window, not an analysis setting: described the same way, kept beside them
GRAPH_WINDOW = SettingSpec(
    "graph_window_s", FLOAT, DEFAULT_GRAPH_WINDOW_S, "How much recent time the live emotion graph shows.",
    "Graph window", "Display", minimum=5.0, maximum=600.0, unit="s", decimals=0, step=5.0,
)
NONE_TEXT = "default"  # how None (model default / no value) is written: QSettings cannot store None


def _to_stored(spec: SettingSpec, value: Any) -> Any:
    """Plain text for None and sizes (tuples do not survive an INI file)."""
    return NONE_TEXT if value is None else spec.format(value) if isinstance(value, tuple) else value


def _read(qs: QSettings, spec: SettingSpec) -> Any:
    """The stored value of ``spec`` checked by the schema, or its default (with a warning) when bad."""
    if not qs.contains(spec.name):
        return spec.default
    raw = qs.value(spec.name)
    try:
        return spec.parse(raw)
    except (TypeError, ValueError) as exc:
        log.warning(
            "settings: ignoring stored %s/%s = %r (%s); using the default %r", GROUP, spec.name, raw, exc, spec.default
        )
        return spec.default


def load_ui_settings(qs: QSettings) -> tuple[Settings, float]:
    """The stored analysis settings and graph window (seconds); defaults for anything missing or bad."""
    qs.beginGroup(GROUP)
    try:
        values = {spec.name: _read(qs, spec) for spec in SCHEMA}
        graph_window_s = _read(qs, GRAPH_WINDOW)
    finally:
        qs.endGroup()
    try:
        settings = Settings(**values)
    except EmodeskError as exc:  # each value was checked alone; this only guards future cross-field rules
        log.warning("settings: stored analysis settings are inconsistent (%s); using the defaults", exc)
        settings = Settings()
    return settings, graph_window_s


def save_ui_settings(qs: QSettings, settings: Settings, graph_window_s: float) -> None:
    """Store ``settings`` and the graph window under ``analysis/``."""
    qs.beginGroup(GROUP)
    try:
        for spec in SCHEMA:
            qs.setValue(spec.name, _to_stored(spec, getattr(settings, spec.name)))
        qs.setValue(GRAPH_WINDOW.name, float(graph_window_s))
    finally:
        qs.endGroup()
    qs.sync()
    if qs.status() != QSettings.Status.NoError:
        log.warning("settings: could not write %s (%s)", qs.fileName(), qs.status())

