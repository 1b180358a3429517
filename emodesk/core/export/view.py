"""What every export reads: a session with its events, baseline, calibrated values and valence worked out.

Exports are functions of a session. ``SessionView`` takes the session (a path, the JSON document, or a
typed session that can give its JSON) plus what the export adds to it (events from a CSV, a baseline
interval, a moved source video) and derives, once, what the CSV, the report, the plots and the video all
show, so that they agree with each other. The stored frames are never modified.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from emodesk.core.baseline import (
    BaselineInterval,
    FaceBaseline,
    calibrate,
    face_baselines,
)
from emodesk.core.events import Event, EventSpan, event_spans, merge_events
from emodesk.core.valence import valence
from emodesk.errors import EmodeskError, SourceError

Progress = Callable[[int, "int | None"], None]  # (steps done, steps expected or None), as core.analyze


class ExportCancelled(EmodeskError):
    """The caller's cancel event was set; the partial file was removed."""


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled("export cancelled")


@dataclass(frozen=True)
class FaceFrame:
    """One face in one analysed frame, with what the export derives for it."""

    frame: int
    time_s: float
    face: Mapping[str, Any]  # the session's face record (id, box, score, probs, smoothed, emotion, ...)
    calibrated: Mapping[str, float] | None  # None: no baseline for this face (or none set)
    valence: float | None
    valence_from: str | None  # "calibrated" or "smoothed"; None when the model cannot give a valence
    events: tuple[str, ...]  # labels of the events active at time_s


@dataclass(frozen=True)
class FaceSummary:
    """Per-face figures for the report, the plots and the session's ``faces[]``.

    Counts and means of raw probabilities and confidences are the session's own per-face statistics
    (``faces[]``, written by the run), and so is ``valence_mean`` (from smoothed probabilities) when no
    baseline is involved; with a baseline, calibrated means and ``valence_mean`` are worked out here.
    """

    face_id: int
    frames_seen: int
    first_time_s: float
    last_time_s: float
    time_on_screen_s: float
    dominant_counts: Mapping[str, int]
    most_common: str | None
    mean_probs: Mapping[str, float]
    mean_confidence: Mapping[str, float]
    mean_smoothed: Mapping[str, float]
    mean_calibrated: Mapping[str, float] | None
    valence_mean: float | None
    baseline: FaceBaseline | None


def session_document(session: Any) -> dict[str, Any]:
    """The session's JSON document from a path, a document, or a typed session with ``to_json()``."""
    if isinstance(session, (str, Path)):
        from emodesk.core.session import read_session_json

        return read_session_json(session)
    if isinstance(session, Mapping):
        return dict(session)
    to_json = getattr(session, "to_json", None)
    if callable(to_json):
        return to_json()
    raise TypeError(f"not a session: {type(session).__name__} (give a path, the JSON document or a Session)")


class SessionView:
    """A session plus export-time events and baseline, with everything derived from them."""

    def __init__(
        self,
        session: Any,
        *,
        events: Iterable[Event] = (),
        baseline: BaselineInterval | None = None,
        source: str | Path | None = None,
        session_path: str | Path | None = None,
    ) -> None:
        if session_path is None:  # a file's neighbours are where a moved source video is looked for
            session_path = session if isinstance(session, (str, Path)) else getattr(session, "path", None)
        self.document = session_document(session)
        self.session_path = Path(session_path) if session_path is not None else None
        self._source_override = Path(source) if source is not None else None
        self.labels: tuple[str, ...] = tuple(self.document["labels"])
        self.frames: Sequence[Mapping[str, Any]] = self.document["frames"]
        stored = [Event.from_json(e) for e in self.document.get("events") or ()]
        self.events: tuple[Event, ...] = tuple(merge_events(stored, events))
        if baseline is None and self.document.get("baseline"):
            b = self.document["baseline"]
            baseline = BaselineInterval(float(b["start_s"]), float(b["end_s"]))
        self.baseline = baseline
        self.baselines: dict[int, FaceBaseline] = face_baselines(self.frames, baseline) if baseline else {}

    def input_warnings(self, events: Iterable[Event] = (), baseline: BaselineInterval | None = None) -> list[str]:
        """One line for each given input that cannot do what it was given for (the exports are still written):
        a baseline interval without any analysed face-frame (no face gets calibrated values), and events
        that start after the last analysed frame (no frame falls inside them)."""
        name = self.session_path or "the session"
        times = [float(record["time_s"]) for record in self.frames]
        last = max(times) if times else None
        analysed = f"analysed {min(times):.2f}-{last:.2f} s" if last is not None else "nothing analysed"
        lines = []
        if baseline is not None and not face_baselines(self.frames, baseline):
            lines.append(
                f"{name}: baseline {baseline.start_s:g}-{baseline.end_s:g} s holds no analysed frame with a face "
                f"({analysed}): no calibrated values"
            )
        late = [e for e in events if last is None or e.time_s > last]
        if late:
            shown = ", ".join(f"{e.label!r} at {e.time_s:g} s" for e in late[:3]) + (", ..." if len(late) > 3 else "")
            lines.append(
                f"{name}: {len(late)} event(s) start after the last analysed frame ({analysed}), so no frame "
                f"falls in them: {shown}"
            )
        return lines

    # ------------------------------------------------------------------ the source
    @property
    def source(self) -> Mapping[str, Any]:
        return self.document.get("source") or {}

    @property
    def fps(self) -> float | None:
        return self.source.get("fps")

    @cached_property
    def duration_s(self) -> float:
        """The source's length when known (frame count / fps), else up to the last analysed frame."""
        fps, count = self.source.get("fps"), self.source.get("frame_count")
        if fps and count:
            return count / fps
        if not self.frames:
            return 0.0
        return self.frames[-1]["time_s"] + (self.frame_step_s or 0.0)

    @property
    def is_still(self) -> bool:
        """One analysed frame (a photo): charts show its values instead of timelines."""
        return len(self.frames) <= 1

    @cached_property
    def frame_step_s(self) -> float:
        """Media time one analysed frame stands for: the median gap between analysed frames (1/fps for a
        lossless file run, 1/N for one sampled at N fps); 0 for a single frame without a frame rate."""
        times = [record["time_s"] for record in self.frames]
        gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
        if gaps:
            return float(statistics.median(gaps))
        return 1.0 / self.fps if self.fps else 0.0

    def source_path(self) -> Path | None:
        """The source video (or still image): ``--source`` when given (it must exist), else the recorded
        path, else a file of that name beside the session; None when none of them exists (and for cameras,
        streams and folders of images)."""
        if self._source_override is not None:
            if not self._source_override.is_file():
                raise SourceError(f"{self._source_override}: source video not found")
            return self._source_override
        recorded = self.source.get("path")
        if not recorded or self.source.get("kind") not in ("video", "image"):
            return None
        candidates = [Path(recorded)]
        if self.session_path is not None:
            candidates.append(self.session_path.parent / Path(recorded).name)
        return next((p for p in candidates if p.is_file()), None)

    # ------------------------------------------------------------------ events
    @cached_property
    def spans(self) -> tuple[EventSpan, ...]:
        return tuple(event_spans(self.events, self.duration_s))

    def active_events(self, time_s: float) -> tuple[str, ...]:
        return tuple(span.event.label for span in self.spans if span.covers(time_s))

    # ------------------------------------------------------------------ face-frames
    def face_frames(self) -> Iterator[FaceFrame]:
        """Every face of every analysed frame, in session order."""
        for record in self.frames:
            labels = self.active_events(record["time_s"]) if self.spans else ()
            for face in record["faces"]:
                yield self._face_frame(record, face, labels)

    def _face_frame(self, record: Mapping[str, Any], face: Mapping[str, Any], events: tuple[str, ...]) -> FaceFrame:
        smoothed = face.get("smoothed") or {}
        base = self.baselines.get(face["id"])
        calibrated = calibrate(smoothed, base) if base is not None and smoothed else None
        if calibrated is not None:
            calibrated = {k: round(v, 5) for k, v in calibrated.items()}
        basis, value = ("calibrated", calibrated) if calibrated is not None else ("smoothed", smoothed)
        v = valence(value) if value else None
        return FaceFrame(
            frame=record["index"],
            time_s=record["time_s"],
            face=face,
            calibrated=calibrated,
            valence=None if v is None else round(v, 5),
            valence_from=basis if v is not None else None,
            events=events,
        )

    @cached_property
    def face_count(self) -> int:
        return sum(len(record["faces"]) for record in self.frames)

    @cached_property
    def _series(self) -> dict[int, dict[str, np.ndarray]]:
        """Per face: ``time_s``, ``valence`` and one array per label of smoothed and calibrated values."""
        rows: dict[int, list[FaceFrame]] = {}
        for ff in self.face_frames():
            rows.setdefault(ff.face["id"], []).append(ff)
        out: dict[int, dict[str, np.ndarray]] = {}
        for face_id, items in rows.items():
            series = {
                "time_s": np.array([ff.time_s for ff in items]),
                "frame": np.array([ff.frame for ff in items]),
                "valence": np.array([math.nan if ff.valence is None else ff.valence for ff in items]),
            }
            for label in self.labels:
                series[f"smoothed_{label}"] = np.array([(ff.face.get("smoothed") or {}).get(label, math.nan) for ff in items])
                series[f"calibrated_{label}"] = np.array(
                    [math.nan if ff.calibrated is None else ff.calibrated.get(label, math.nan) for ff in items]
                )
            series["emotion"] = np.array([ff.face.get("emotion") or "" for ff in items], dtype=object)
            out[face_id] = series
        return out

    def series(self, face_id: int) -> dict[str, np.ndarray]:
        try:
            return self._series[face_id]
        except KeyError:
            known = ", ".join(f"#{i}" for i in sorted(self._series)) or "none"
            raise EmodeskError(f"face #{face_id} is not in this session (faces: {known})") from None

    # ------------------------------------------------------------------ per-face summaries
    @cached_property
    def summaries(self) -> tuple[FaceSummary, ...]:
        """One per face, most seen first (ties: lower id first)."""
        stored = {face["id"]: face for face in self.document.get("faces") or ()}
        out = []
        for face_id, series in self._series.items():
            s = stored.get(face_id) or {}
            n = len(series["time_s"])
            counts = s.get("dominant_counts") or _counts(series["emotion"], self.labels)
            calibrated = [series[f"calibrated_{label}"] for label in self.labels]
            has_cal = face_id in self.baselines and not np.isnan(calibrated[0]).all()
            out.append(
                FaceSummary(
                    face_id=face_id,
                    frames_seen=s.get("frames_seen", n),
                    first_time_s=s.get("first_time_s", float(series["time_s"][0])),
                    last_time_s=s.get("last_time_s", float(series["time_s"][-1])),
                    # the session's own figure (the window shows it too); a file written before it was
                    # kept falls back to the frames seen times the frame step
                    time_on_screen_s=(
                        float(s["on_screen_s"]) if s.get("on_screen_s") is not None else n * self.frame_step_s
                    ),
                    dominant_counts=counts,
                    most_common=s.get("most_common", max(counts, key=counts.get) if any(counts.values()) else None),
                    mean_probs=s.get("mean_probs") or {},
                    mean_confidence=s.get("mean_confidence") or {},
                    mean_smoothed={label: _nanmean(series[f"smoothed_{label}"]) for label in self.labels},
                    mean_calibrated=(
                        {label: _nanmean(series[f"calibrated_{label}"]) for label in self.labels} if has_cal else None
                    ),
                    valence_mean=(
                        s["valence_mean"] if self._stored_valence and "valence_mean" in s else _nanmean(series["valence"])
                    ),
                    baseline=self.baselines.get(face_id),
                )
            )
        out.sort(key=lambda f: (-f.frames_seen, f.face_id))
        return tuple(out)

    @property
    def _stored_valence(self) -> bool:
        """The run's per-face ``valence_mean`` (core.session.FaceStats, from smoothed probabilities) is
        what this view shows: no baseline now and none recorded in the file (whose valence_mean would then
        come from calibrated probabilities of an interval no longer in force)."""
        return self.baseline is None and not self.document.get("baseline")

    def summary(self, face_id: int) -> FaceSummary:
        self.series(face_id)  # the one-line error for an unknown face
        return next(s for s in self.summaries if s.face_id == face_id)

    # ------------------------------------------------------------------ per-event means
    def event_means(self, face_id: int) -> list[tuple[str, float, float, dict[str, float | None], float | None, int]]:
        """For each event span: (label, start, end, mean smoothed probability per label, mean valence,
        face-frames in it) for this face. Spans where the face was not seen have count 0 and None means."""
        series = self.series(face_id)
        t = series["time_s"]
        out = []
        for span in self.spans:
            inside = (t >= span.start_s) & (t < span.end_s)
            n = int(inside.sum())
            means = {label: (_nanmean(series[f"smoothed_{label}"][inside]) if n else None) for label in self.labels}
            out.append((span.event.label, span.start_s, span.end_s, means, _nanmean(series["valence"][inside]) if n else None, n))
        return out

    def reference_means(self, face_id: int) -> tuple[str, dict[str, float | None], float | None]:
        """What event means are compared with: the face's baseline interval when it has one, else its whole
        session (the label says which)."""
        series = self.series(face_id)
        if self.baseline is not None and face_id in self.baselines:
            inside = np.array([self.baseline.contains(t) for t in series["time_s"]], bool)
            name = f"baseline {self.baseline.start_s:g}-{self.baseline.end_s:g} s"
        else:
            inside = np.ones(len(series["time_s"]), bool)
            name = "whole session (no baseline)"
        means = {label: _nanmean(series[f"smoothed_{label}"][inside]) for label in self.labels}
        return name, means, _nanmean(series["valence"][inside])

    # ------------------------------------------------------------------ what the session records
    def recorded(self) -> dict[str, Any]:
        """The session document with this export's events, baseline and per-face ``valence_mean`` added
        (frames untouched): what ``record_in_session`` writes back."""
        doc = dict(self.document)
        doc["events"] = [e.to_json() for e in self.events]
        if self.baseline is not None:
            doc["baseline"] = {
                **self.baseline.to_json(),
                "faces": [self.baselines[i].to_json() for i in sorted(self.baselines)],
            }
        by_id = {s.face_id: s for s in self.summaries}
        faces = []
        for face in self.document.get("faces") or ():
            s = by_id.get(face["id"])
            faces.append({**face, "valence_mean": None if s is None or s.valence_mean is None else round(s.valence_mean, 5)})
        doc["faces"] = faces
        return doc


def as_view(session: Any, **kwargs: Any) -> SessionView:
    """``session`` itself when it is a SessionView already (and nothing is added), else a new view."""
    if isinstance(session, SessionView):
        if any(v for v in kwargs.values()):
            raise TypeError("give events/baseline/source when making the SessionView, not again")
        return session
    return SessionView(session, **kwargs)


def _nanmean(values: np.ndarray) -> float | None:
    finite = values[~np.isnan(values)] if len(values) else values
    return float(finite.mean()) if len(finite) else None


def _counts(emotions: np.ndarray, labels: Sequence[str]) -> dict[str, int]:
    return {label: int((emotions == label).sum()) for label in labels}
