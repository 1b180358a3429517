"""Typed, read-only sessions: ``emodesk.load_session(path) -> Session``.

A :class:`Session` is built from a session JSON file (any session this build writes; the schema is
``resources/session.schema.json``). Everything in it is frozen: frames are :class:`FrameResult` (the
same type the pipeline yields), faces :class:`SessionFace`, mappings :class:`FrozenMap`, sequences
tuples. ``to_json()`` gives back the document (a fresh copy, equal to the file) and ``to_dataframe()``
a pandas table with one row per face per frame (the CSV export's columns).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from emodesk.core.events import Event
from emodesk.core.results import FrameResult, FrozenMap
from emodesk.core.run import FaceSnapshot, RunCounts, RunStatus
from emodesk.core.session import read_session_json
from emodesk.core.sources import SourceInfo
from emodesk.errors import EmodeskError


def _freeze(value: Any) -> Any:
    """JSON data made read-only all the way down (dicts → FrozenMap, lists → tuples)."""
    if isinstance(value, Mapping):
        return FrozenMap({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


# a saved session's faces are the same type a running session's snapshot gives (one set of numbers)
SessionFace = FaceSnapshot


class Frames(Sequence[FrameResult]):
    """The session's frames in index order, as FrameResults built when read (a long session stays small)."""

    __slots__ = ("_indices", "_records")

    def __init__(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = tuple(records)
        self._indices = tuple(int(r["index"]) for r in self._records)

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, i: int) -> FrameResult: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[FrameResult, ...]: ...
    def __getitem__(self, i: int | slice) -> FrameResult | tuple[FrameResult, ...]:
        if isinstance(i, slice):
            return tuple(FrameResult.from_json(r) for r in self._records[i])
        return FrameResult.from_json(self._records[i])

    def __iter__(self) -> Iterator[FrameResult]:
        return (FrameResult.from_json(r) for r in self._records)

    @property
    def indices(self) -> tuple[int, ...]:
        return self._indices

    def at(self, index: int) -> FrameResult | None:
        pos = bisect.bisect_left(self._indices, index)
        if pos < len(self._indices) and self._indices[pos] == index:
            return FrameResult.from_json(self._records[pos])
        return None


@dataclass(frozen=True)
class Session:
    """A saved session, typed and read-only. Build it with :func:`load_session`."""

    path: Path | None
    status: RunStatus
    source: SourceInfo
    models: tuple[FrozenMap, ...]  # every ModelInfo field of each model, as recorded
    settings: FrozenMap
    labels: tuple[str, ...]
    analysis: FrozenMap  # {"mode": every_frame | sample_fps | latest_frame, "sample_fps": N or None}
    counts: RunCounts
    warnings: tuple[str, ...]
    events: tuple[Event, ...]
    faces: tuple[SessionFace, ...]
    frames: Frames
    timings: FrozenMap
    created: str
    app_version: str
    wall_time_s: float | None
    _document: FrozenMap  # the whole file, frozen; to_json() thaws a copy

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: str | Path | None = None) -> Session:
        where = str(path) if path else "session"
        try:
            if not isinstance(data["frames"], list):
                raise TypeError("frames is not a list")
            counts = data.get("counts") or {
                "delivered": data["frames_processed"] + data.get("frames_dropped", 0),
                "processed": data["frames_processed"],
                "dropped": data.get("frames_dropped", 0),
                "skipped": 0,
            }
            settings = data.get("settings", {})
            document = _freeze(data)
            return cls(
                path=Path(path) if path is not None else None,
                status=RunStatus(data["status"]),
                source=SourceInfo(**data["source"]),
                models=tuple(_freeze(m) for m in data["models"]),
                settings=_freeze(settings),
                labels=tuple(data["labels"]),
                analysis=_freeze(
                    data.get("analysis")
                    or {"mode": "sample_fps" if settings.get("sample_fps") else "every_frame", "sample_fps": settings.get("sample_fps")}
                ),
                counts=RunCounts(**{k: int(counts[k]) for k in ("delivered", "processed", "dropped", "skipped")}),
                warnings=tuple(data.get("warnings", ())),
                events=tuple(Event.from_json(e) for e in data.get("events", ())),
                faces=tuple(SessionFace.from_json(f) for f in data.get("faces", ())),
                frames=Frames(document["frames"]),
                timings=FrozenMap(data.get("timings", {})),
                created=str(data.get("created", "")),
                app_version=str(data.get("app_version", "")),
                wall_time_s=data.get("wall_time_s"),
                _document=document,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EmodeskError(f"{where}: not a readable emodesk session ({type(exc).__name__}: {exc})") from exc

    def frame_at(self, index: int) -> FrameResult | None:
        """The stored result of frame ``index``, or None when that frame was not analysed."""
        return self.frames.at(index)

    def face(self, track_id: int) -> SessionFace | None:
        return next((f for f in self.faces if f.id == track_id), None)

    def to_json(self) -> dict[str, Any]:
        """The session document (a new, mutable copy; equal to the file's JSON)."""
        return copy.deepcopy(_thaw(self._document))

    def to_dataframe(self) -> Any:
        """One row per face per frame (a face-less row for a frame without faces): the CSV export's columns.

        Needs pandas (``pip install pandas``); raises EmodeskError with that one line when it is missing.
        """
        try:
            import pandas as pd
        except ImportError:
            raise EmodeskError("Session.to_dataframe() needs pandas: pip install pandas") from None
        from emodesk.core.export import frame_columns, iter_frame_rows

        document = self.to_json()
        return pd.DataFrame(list(iter_frame_rows(document)), columns=frame_columns(self.labels))

    def __repr__(self) -> str:
        return (
            f"Session({str(self.path or '')!r}, status={self.status.value}, source={self.source.path!r}, "
            f"frames={len(self.frames)}, faces={len(self.faces)})"
        )


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def load_session(path: str | Path) -> Session:
    """Read a session file written by emodesk into a typed, read-only :class:`Session` (str or Path)."""
    return Session.from_json(read_session_json(path), path)
