"""Event markers from the keyboard: keys 1-9 mark an event at the frame on screen.

Each key has a label ("Event 1" … by default; set in Events → Event labels…, kept in the user's
settings). Pressing the same key again within ``close_span_s`` seconds of media time after its previous
mark turns that mark into an interval ending at this frame (0, the default, turns this off: every press
is a new moment). Markers can be renamed or deleted (right-click on the timeline).

The participant's baseline (issue 11) is marked the same way: key B once at the start of the resting
interval and once at its end (or right-click the timeline: "Baseline starts here" / "ends here").

``EventMarkers`` is plain state on the GUI thread. While a run is open the window sends every change
through it (``SessionRun.add_event/replace_event/set_baseline``: journaled, crash-safe, and what its
saved sessions hold); a reviewed session file has no run, so its exports are rewritten with this list
and baseline (``record_in_session``, as ``emodesk export --events/--baseline`` does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QWidget,
)

from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event

KEYS = 9
DEFAULT_LABELS = tuple(f"Event {n}" for n in range(1, KEYS + 1))
LABELS_KEY = "events/labels"
SPAN_KEY = "events/close_span_s"


def load_event_labels(qsettings: QSettings) -> tuple[list[str], float]:
    """The nine key labels and the close-interval span (seconds; 0 = every press is a moment)."""
    value = qsettings.value(LABELS_KEY, list(DEFAULT_LABELS))
    labels = [str(v) for v in (value if isinstance(value, list) else [value])][:KEYS]
    labels += DEFAULT_LABELS[len(labels) :]
    labels = [label.strip() or default for label, default in zip(labels, DEFAULT_LABELS, strict=True)]
    try:
        span = max(0.0, float(qsettings.value(SPAN_KEY, 0.0)))
    except (TypeError, ValueError):
        span = 0.0
    return labels, span


def save_event_labels(qsettings: QSettings, labels: Sequence[str], span: float) -> None:
    qsettings.setValue(LABELS_KEY, list(labels))
    qsettings.setValue(SPAN_KEY, float(span))


class EventLabelsDialog(QDialog):
    def __init__(self, labels: Sequence[str], span: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Event labels")
        form = QFormLayout(self)
        self.edits = []
        for n, label in enumerate(labels, 1):
            edit = QLineEdit(label)
            form.addRow(f"Key {n}:", edit)
            self.edits.append(edit)
        self.span = QDoubleSpinBox()
        self.span.setRange(0.0, 3600.0)
        self.span.setDecimals(1)
        self.span.setSuffix(" s")
        self.span.setValue(span)
        self.span.setToolTip("Pressing a key again within this time closes its event as an interval (0: off)")
        form.addRow("Close an interval within:", self.span)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[list[str], float]:
        labels = [e.text().strip() or d for e, d in zip(self.edits, DEFAULT_LABELS, strict=True)]
        return labels, float(self.span.value())


class EventMarkers(QObject):
    """The open session's events, as the window shows and saves them."""

    changed = Signal(tuple)  # tuple[Event, ...] in time order
    baselineChanged = Signal(object, object)  # BaselineInterval | None, pending start (s) | None

    def __init__(self, labels: Sequence[str] = DEFAULT_LABELS, close_span_s: float = 0.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.labels = list(labels)
        self.close_span_s = close_span_s
        self._events: list[Event] = []
        self._last_of_key: dict[int, Event] = {}
        self.edited = False  # something other than new marks happened: saved sessions take this list
        self.version = 0  # bumped on every change; the window compares it with the last exported one
        self.baseline: BaselineInterval | None = None
        self.baseline_start: float | None = None  # B pressed once: the interval's start, waiting for its end

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(sorted(self._events, key=lambda e: e.time_s))

    def reset(self, events: Iterable[Event] = (), baseline: BaselineInterval | None = None) -> None:
        self._events = list(events)
        self._last_of_key.clear()
        self.edited = False
        self.version = 0
        self.baseline, self.baseline_start = baseline, None
        self.changed.emit(self.events)
        self.baselineChanged.emit(self.baseline, None)

    # ---- baseline -----------------------------------------------------------------------------------

    def mark_baseline(self, time_s: float) -> BaselineInterval | None:
        """Key B: the first press starts the interval, the second ends it (either order in time).
        Returns the new interval after the second press, None after the first (or a zero-length one)."""
        if self.baseline_start is None:
            self.begin_baseline(time_s)
            return None
        return self.end_baseline(time_s)

    def begin_baseline(self, time_s: float) -> None:
        self.baseline_start = max(0.0, time_s)
        self.baselineChanged.emit(self.baseline, self.baseline_start)

    def end_baseline(self, time_s: float) -> BaselineInterval | None:
        """End the interval at ``time_s``: from the pending start, else from the current baseline's start."""
        start = self.baseline_start if self.baseline_start is not None else (self.baseline.start_s if self.baseline else None)
        self.baseline_start = None
        time_s = max(0.0, time_s)
        if start is None or start == time_s:
            self.baselineChanged.emit(self.baseline, None)
            return None
        return self.set_baseline(BaselineInterval(min(start, time_s), max(start, time_s)))

    def set_baseline(self, interval: BaselineInterval | None) -> BaselineInterval | None:
        self.baseline, self.baseline_start = interval, None
        self.version += 1
        self.baselineChanged.emit(self.baseline, None)
        return interval

    def mark(self, key: int, time_s: float, frame: int | None) -> tuple[Event, Event | None]:
        """Key ``key`` (1-9) pressed at ``time_s``: returns (the event now, the one it replaced or None)."""
        label = self.labels[key - 1]
        previous = self._last_of_key.get(key)
        if (
            previous is not None
            and self.close_span_s > 0
            and previous.duration_s is None
            and previous in self._events
            and 0.0 < time_s - previous.time_s <= self.close_span_s
        ):
            closed = dataclasses.replace(previous, duration_s=time_s - previous.time_s)
            self._events[self._events.index(previous)] = closed
            self._last_of_key.pop(key)
            self.edited = True
            self._changed()
            return closed, previous
        event = Event(time_s=max(0.0, time_s), label=label, frame=frame, source="key")
        self._events.append(event)
        self._last_of_key[key] = event
        self._changed()
        return event, None

    def rename(self, event: Event, label: str) -> None:
        if event in self._events and label.strip():
            self._events[self._events.index(event)] = dataclasses.replace(event, label=label.strip())
            self.edited = True
            self._changed()

    def delete(self, event: Event) -> None:
        if event in self._events:
            self._events.remove(event)
            self.edited = True
            self._changed()

    def _changed(self) -> None:
        self.version += 1
        self.changed.emit(self.events)
