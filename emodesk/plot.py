"""The PDF report's charts for notebooks: each function returns a matplotlib Figure.

``session`` is a session file path, its JSON document, a typed session or a
``emodesk.core.export.SessionView``. ``face`` is a track ID (None: the most seen face). ``events`` (a
CSV path or Event objects) and ``baseline`` (``"START:END"`` or a BaselineInterval) add to what the
session holds, exactly as ``emodesk export --events/--baseline`` do::

    import emodesk.plot as ep
    ep.timeline("out/clip.session.json", face=1, baseline="0:10")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event, read_events_csv
from emodesk.core.export import figures
from emodesk.core.export.view import SessionView
from emodesk.errors import EmodeskError

__all__ = ["distribution", "event_means", "timeline", "valence", "view"]


def view(
    session: Any,
    *,
    events: str | Path | Iterable[Event] | None = None,
    baseline: str | BaselineInterval | None = None,
    source: str | Path | None = None,
) -> SessionView:
    """The session with ``events``/``baseline`` applied (reuse it to draw several figures quickly)."""
    if isinstance(session, SessionView):
        if events is None and baseline is None and source is None:
            return session
        session = session.document
    if isinstance(events, (str, Path)):
        events = read_events_csv(events)
    if isinstance(baseline, str):
        baseline = BaselineInterval.parse(baseline)
    return SessionView(session, events=events or (), baseline=baseline, source=source)


def _face(v: SessionView, face: int | None) -> int:
    if face is not None:
        return face
    if not v.summaries:
        raise EmodeskError("this session has no face to plot")
    return v.summaries[0].face_id


def timeline(session: Any, face: int | None = None, *, values: str = "smoothed", **options: Any) -> Figure:
    """Each emotion's probability over time (``values``: ``smoothed`` or ``calibrated``), events as
    dashed lines, the baseline as a grey band."""
    if values not in ("smoothed", "calibrated"):
        raise EmodeskError(f"values {values!r} is not 'smoothed' or 'calibrated'")
    v = view(session, **options)
    return figures.timeline_figure(v, _face(v, face), values=values)


def valence(session: Any, face: int | None = None, **options: Any) -> Figure:
    """Valence over time (calibrated where the face has a baseline, else smoothed)."""
    v = view(session, **options)
    return figures.valence_figure(v, _face(v, face))


def distribution(session: Any, face: int | None = None, **options: Any) -> Figure:
    """Frames in which each emotion was the face's top emotion, as bars and as a pie."""
    v = view(session, **options)
    return figures.distribution_figure(v, _face(v, face))


def event_means(session: Any, face: int | None = None, **options: Any) -> Figure:
    """Mean of each emotion and of valence within each event, against the face's baseline (a table)."""
    v = view(session, **options)
    return figures.event_means_figure(v, _face(v, face))
