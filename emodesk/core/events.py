"""Event markers of a study (a stimulus shown, a question asked), kept in the session beside the frames."""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emodesk.core.textfiles import read_user_text
from emodesk.errors import EmodeskError

EVENT_SOURCES = ("key", "file", "api")


@dataclass(frozen=True)
class Event:
    """A labelled moment (``duration_s`` None) or interval of the session's media time.

    ``frame`` is the analysed frame the event was marked on (None when it was imported by time only);
    ``source`` says where it came from: a key in the window, an events CSV, or the Python API.
    """

    time_s: float
    label: str
    duration_s: float | None = None
    frame: int | None = None
    source: str = "api"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time_s) and self.time_s >= 0):
            raise EmodeskError(f"event time {self.time_s!r} must be a finite number of seconds, 0 or more")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s >= 0):
            raise EmodeskError(f"event duration {self.duration_s!r} must be a finite number of seconds, 0 or more")
        if not self.label.strip():
            raise EmodeskError("an event needs a label")
        if self.source not in EVENT_SOURCES:
            raise EmodeskError(f"event source {self.source!r} is not one of {', '.join(EVENT_SOURCES)}")

    @property
    def end_s(self) -> float:
        return self.time_s + (self.duration_s or 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "time_s": round(self.time_s, 6),
            "frame": self.frame,
            "label": self.label,
            "duration_s": None if self.duration_s is None else round(self.duration_s, 6),
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            time_s=float(data["time_s"]),
            label=str(data["label"]),
            duration_s=None if data.get("duration_s") is None else float(data["duration_s"]),
            frame=None if data.get("frame") is None else int(data["frame"]),
            source=str(data.get("source", "api")),
        )


EventKey = tuple[float, str]


def event_key(event: Event) -> EventKey:
    """An event's identity when it is renamed or deleted: its onset (to the microsecond, as stored) and label.

    Not a new id field: the session's ``events[]`` stay as they are (a key, a CSV or the API make the same
    records), and (time, label) is what a person sees on the timeline and what ``events[]`` are sorted by.
    Two marks with the same onset and label are indistinguishable to the user; an edit applies to the
    first of them, the same one live and in a journal replay.
    """
    return (round(event.time_s, 6), event.label)


def edit_events(events: list[Event], key: EventKey, new: Event | None) -> bool:
    """Replace the first event of ``events`` whose :func:`event_key` is ``key`` by ``new`` (None: remove
    it), in place. The one rule for edits: a live run (``SessionRun.replace_event``) and a journal replay
    (``write_session_from_journal``, recovery) both apply it. False when no event has that key."""
    for i, event in enumerate(events):
        if event_key(event) == key:
            if new is None:
                del events[i]
            else:
                events[i] = new
            return True
    return False


def read_events_csv(path: str | Path) -> list[Event]:
    """Events from a CSV file: ``time_s,label[,duration_s]`` per line, e.g. a PsychoPy stimulus log.

    A header row is optional; with one, the columns are found by name (``time_s``, ``label``, optional
    ``duration_s``; other columns are ignored, so a full experiment log can be given as it is). Without
    one, the first three columns are taken in that order. Blank lines and lines starting with ``#`` are
    skipped; an empty ``duration_s`` is a moment. Every event gets ``source="file"`` and ``frame=None``
    (it is placed by time). Any bad row raises EmodeskError naming the file and the line.
    """
    path = Path(path)
    text = read_user_text(path, "the events file")
    events: list[Event] = []
    columns: tuple[int, int, int | None] = (0, 1, 2)
    first = True
    for number, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if first:
            first = False
            if not _is_number(cells[0]):
                columns = _header_columns(path, number, cells)
                continue
        events.append(_event_from_row(path, number, cells, columns))
    if not events:
        raise EmodeskError(f"{path}: no events in the file (expected rows of time_s,label[,duration_s])")
    return events


def _header_columns(path: Path, number: int, cells: list[str]) -> tuple[int, int, int | None]:
    names = [c.lower() for c in cells]
    missing = [name for name in ("time_s", "label") if name not in names]
    if missing:
        raise EmodeskError(
            f"{path}, line {number}: the header has no {' or '.join(missing)} column "
            f"(expected time_s,label[,duration_s]; found {','.join(cells)})"
        )
    return names.index("time_s"), names.index("label"), names.index("duration_s") if "duration_s" in names else None


def _event_from_row(path: Path, number: int, cells: list[str], columns: tuple[int, int, int | None]) -> Event:
    t_col, l_col, d_col = columns
    where = f"{path}, line {number}"
    if len(cells) <= max(t_col, l_col):
        raise EmodeskError(f"{where}: expected time_s,label[,duration_s], found {len(cells)} column(s)")
    time_text, label = cells[t_col], cells[l_col]
    duration_text = cells[d_col] if d_col is not None and d_col < len(cells) else ""
    if not _is_number(time_text):
        raise EmodeskError(f"{where}: time_s {time_text!r} is not a number of seconds")
    if duration_text and not _is_number(duration_text):
        raise EmodeskError(f"{where}: duration_s {duration_text!r} is not a number of seconds")
    try:
        return Event(
            time_s=float(time_text),
            label=label,
            duration_s=float(duration_text) if duration_text else None,
            source="file",
        )
    except EmodeskError as exc:  # negative time, empty label, ...: the same message, placed in the file
        raise EmodeskError(f"{where}: {exc}") from None


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class EventSpan:
    """The stretch of media time an event covers: ``[start_s, end_s)``."""

    event: Event
    start_s: float
    end_s: float

    def covers(self, time_s: float) -> bool:
        return self.start_s <= time_s < self.end_s


def event_spans(events: Iterable[Event], end_s: float) -> list[EventSpan]:
    """Where each event is active, for the CSV's ``event`` column and the report's per-event means.

    An event with a duration covers ``[time_s, time_s + duration_s)``. A moment (no duration) covers the
    time until the next event that starts later, or the end of the session (``end_s``): a stimulus log
    that lists only onsets reads as consecutive segments, the usual meaning of such logs. Spans are in
    time order (ties keep the given order).
    """
    ordered = sorted(events, key=lambda e: e.time_s)
    onsets = sorted({e.time_s for e in ordered})
    spans = []
    for event in ordered:
        if event.duration_s is not None:
            end = event.time_s + event.duration_s
        else:
            after = bisect.bisect_right(onsets, event.time_s)
            end = onsets[after] if after < len(onsets) else max(end_s, event.time_s)
        spans.append(EventSpan(event, event.time_s, end))
    return spans


def merge_events(*groups: Iterable[Event]) -> list[Event]:
    """All events of ``groups`` in time order, each distinct event once (importing a file twice adds nothing)."""
    seen: dict[Event, None] = {}
    for group in groups:
        for event in group:
            seen.setdefault(event)
    return sorted(seen, key=lambda e: e.time_s)
