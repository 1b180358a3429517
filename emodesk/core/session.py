"""Session files: the crash-safe journal written while a run goes, the session JSON built from it.

While a source is analysed every frame record is appended to ``<name>.journal.jsonl`` (JSON Lines:
a header, then ``frame``, ``event``, ``event_edit``, ``baseline`` and ``counts`` records, and an ``end``
record after a clean finish),
and a timer flushes and fsyncs it at least once a second (see :mod:`emodesk.core.run`), so a crash loses
at most the last second. The final ``<name>.session.json`` is built by streaming that journal, which
keeps memory flat for long videos and makes recovery after a crash the same code path as a normal finish.

This module is the file format only; :class:`emodesk.core.run.SessionRun` owns a run.
The duplicate-frame rule lives here, once: when a frame index occurs twice, the FIRST record wins
(it was analysed in order, with the tracker history of the one ordered pass; a later analysis of the
same index could only come from a re-run with a different history).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from emodesk import __version__
from emodesk.atomic import atomic_text_file, json_dumps
from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event, edit_events
from emodesk.core.valence import valence
from emodesk.errors import OutputError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SESSION_SUFFIX = ".session.json"
JOURNAL_SUFFIX = ".journal.jsonl"
FLUSH_INTERVAL_S = 1.0
MAX_GAP_S = 1.0  # a face unseen for longer than this was away: the gap is not time on screen
_HEADER_ONLY_KEYS = ("type", "pid")  # journal bookkeeping, not part of the session document


def journal_path_for(session_path: str | Path) -> Path:
    """``out/clip.session.json`` → ``out/clip.journal.jsonl``."""
    session_path = Path(session_path)
    name = session_path.name.removesuffix(SESSION_SUFFIX).removesuffix(".json")
    return session_path.with_name(name + JOURNAL_SUFFIX)


def session_path_for(journal_path: str | Path, out_dir: str | Path | None = None) -> Path:
    """``out/clip.journal.jsonl`` → ``out/clip.session.json`` (in ``out_dir`` when given)."""
    journal_path = Path(journal_path)
    name = journal_path.name.removesuffix(JOURNAL_SUFFIX).removesuffix(".jsonl")
    return Path(out_dir or journal_path.parent) / (name + SESSION_SUFFIX)


def model_json(info: object) -> dict[str, Any]:
    """Every field of a ModelInfo (whatever fields it has), JSON-ready."""
    out = asdict(info)  # type: ignore[call-overload]
    out["providers"] = list(out.get("providers", ()))
    return out


def analysis_json(sample_fps: float | None, live: bool) -> dict[str, Any]:
    """Which frames the run was asked to analyse: every one, a sample of N per second, or live."""
    if live:
        return {"mode": "latest_frame", "sample_fps": None}
    if sample_fps is not None:
        return {"mode": "sample_fps", "sample_fps": sample_fps}
    return {"mode": "every_frame", "sample_fps": None}


def new_header(
    *,
    source: Mapping[str, Any],
    models: Iterable[object],
    settings: Mapping[str, Any],
    labels: Sequence[str],
    analysis: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "type": "header",
        "schema_version": SCHEMA_VERSION,
        "app": "emodesk",
        "app_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "pid": os.getpid(),
        "source": dict(source),
        "models": [model_json(m) for m in models],
        "settings": dict(settings),
        "labels": list(labels),
        "analysis": dict(analysis),
    }


# ------------------------------------------------------------------------------------ per-face statistics


@dataclass
class FaceStats:
    """Running per-track summary: THE one implementation (session file, window panels, recovery).

    Fed from frame records (``FrameResult.to_json()`` or journal lines), so a recovered session's
    faces[] equal a finished one's. Ties for the most common emotion go to the label that got there first.
    ``valence_mean`` is the mean of :func:`emodesk.core.valence.valence` of the face's smoothed
    probabilities, in every session; a session with a baseline replaces it, for the faces seen in the
    baseline, by the mean from calibrated probabilities (``record_in_session``, the one writer of baselines).
    """

    track_id: int
    first_frame: int
    first_time_s: float
    last_frame: int = 0
    last_time_s: float = 0.0
    frames_seen: int = 0
    on_screen_s: float = 0.0
    emotion: str | None = None  # in the latest frame the face was seen in
    confidence: float = 0.0
    dominant: Counter[str] = field(default_factory=Counter)
    prob_sums: dict[str, float] = field(default_factory=dict)
    confidence_sums: dict[str, float] = field(default_factory=dict)
    valence_sum: float = 0.0
    valence_frames: int = 0  # frames with a valence (a model without happiness or negatives has none)

    def add(self, index: int, time_s: float, face: Mapping[str, Any]) -> None:
        if self.frames_seen:
            gap = time_s - self.last_time_s
            if 0.0 < gap <= MAX_GAP_S:  # continuous sighting; a longer gap means the face was away
                self.on_screen_s += gap
        self.last_frame, self.last_time_s = index, time_s
        self.frames_seen += 1
        for label, p in face["probs"].items():
            self.prob_sums[label] = self.prob_sums.get(label, 0.0) + p
        smoothed = face.get("smoothed")
        v = valence(smoothed) if smoothed else None
        if v is not None:
            self.valence_sum += v
            self.valence_frames += 1
        emotion = face.get("emotion")
        self.emotion, self.confidence = emotion, face.get("confidence", 0.0)
        if emotion:
            self.dominant[emotion] += 1
            self.confidence_sums[emotion] = self.confidence_sums.get(emotion, 0.0) + face["confidence"]

    @property
    def most_common(self) -> str | None:
        return self.dominant.most_common(1)[0][0] if self.dominant else None

    def to_json(self, labels: Sequence[str]) -> dict[str, Any]:
        n = max(self.frames_seen, 1)
        return {
            "id": self.track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_time_s": round(self.first_time_s, 6),
            "last_time_s": round(self.last_time_s, 6),
            "frames_seen": self.frames_seen,
            "on_screen_s": round(self.on_screen_s, 6),
            "dominant_counts": {label: self.dominant.get(label, 0) for label in labels},
            "most_common": self.most_common,
            "mean_probs": {label: round(self.prob_sums.get(label, 0.0) / n, 5) for label in labels},
            # mean confidence over the frames where that emotion was the face's top label
            "mean_confidence": {
                label: round(self.confidence_sums[label] / self.dominant[label], 5)
                for label in labels
                if self.dominant.get(label)
            },
            "valence_mean": round(self.valence_sum / self.valence_frames, 5) if self.valence_frames else None,
        }


class SessionSummary:
    """Accumulates per-face statistics and stage timings from frame records."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self.faces: dict[int, FaceStats] = {}
        self.frames = 0
        self.dropped = 0  # sum of the records' ``dropped`` (live mode); the run's counts are authoritative
        self.timing_sums: Counter[str] = Counter()

    def add(self, record: Mapping[str, Any]) -> None:
        self.frames += 1
        self.dropped += record.get("dropped", 0)
        for key, value in record.get("timings", {}).items():
            self.timing_sums[key] += value
        for face in record["faces"]:
            stats = self.faces.get(face["id"])
            if stats is None:
                stats = self.faces[face["id"]] = FaceStats(face["id"], record["index"], record["time_s"])
            stats.add(record["index"], record["time_s"], face)

    def faces_json(self) -> list[dict[str, Any]]:
        return [self.faces[i].to_json(self.labels) for i in sorted(self.faces)]

    def timings_json(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {f"mean_{k}": round(v / n, 3) for k, v in sorted(self.timing_sums.items())}


# ------------------------------------------------------------------------------------------ the journal


class JournalWriter:
    """Appends records to a journal as JSON lines; thread-safe; knows each line's byte offset.

    Never overwrites: the file is created exclusively, so an earlier run's journal (which may be the
    only copy of a crashed analysis) is never lost. OSErrors (a full disk) become one-line OutputErrors
    naming the journal; whatever was flushed before stays on disk for ``emodesk recover``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._pos = 0
        self._readable = 0  # bytes handed to the OS (visible to other readers of the file)
        self._unflushed = False
        self.error: OutputError | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: BinaryIO | None = self.path.open("xb")
        except FileExistsError as exc:
            raise OutputError(f"{self.path}: a journal is already there (an unfinished run?); not overwritten") from exc
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write ({exc.strerror})") from exc

    @property
    def closed(self) -> bool:
        return self._fh is None

    def _fail(self, exc: OSError) -> OutputError:
        self.error = OutputError(f"{self.path}: cannot write ({exc.strerror or exc})")
        return self.error

    def write(self, record: Mapping[str, Any]) -> int:
        """Append one record; returns the byte offset of its line. Raises OutputError."""
        try:
            line = (json_dumps(record, compact=True) + "\n").encode("utf-8")
        except ValueError as exc:  # NaN/Infinity: refused, never written
            what = f"frame {record['index']}" if record.get("type") == "frame" else f"a {record.get('type')} record"
            raise OutputError(f"{self.path}: {what}: {exc}") from exc
        with self._lock:
            if self.error is not None:
                raise self.error
            if self._fh is None:
                raise OutputError(f"{self.path}: journal already closed")
            try:
                self._fh.write(line)
            except OSError as exc:
                raise self._fail(exc) from exc
            offset = self._pos
            self._pos += len(line)
            self._unflushed = True
            return offset

    @property
    def size(self) -> int:
        """Bytes written so far (flushed or not)."""
        return self._pos

    def flush(self) -> None:
        """Push everything written to the disk (flush + fsync). Raises OutputError."""
        with self._lock:
            if self._fh is None or self.error is not None or not self._unflushed:
                if self.error is not None:
                    raise self.error
                return
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise self._fail(exc) from exc
            self._unflushed = False
            self._readable = self._pos

    def flushed_size(self) -> int:
        """Flush, and return how many bytes of whole records are on disk now."""
        self.flush()
        with self._lock:
            return self._readable if self._fh is not None else self._pos

    def make_readable(self, offset: int) -> None:
        """Make sure the line at ``offset`` can be read back from the file (no fsync: that is the timer's)."""
        with self._lock:
            if offset < self._readable or self._fh is None or self.error is not None:
                return
            try:
                self._fh.flush()
            except OSError as exc:
                raise self._fail(exc) from exc
            self._readable = self._pos

    def close(self) -> None:
        """Flush what can be flushed and close; never raises (a write error was already reported)."""
        with self._lock:
            fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            if self.error is None:
                self._fail(exc)
        try:
            fh.close()  # closes the file even when its final flush fails
        except OSError:
            pass


def read_journal(journal_path: str | Path, upto: int | None = None) -> Iterator[dict[str, Any]]:
    """Records of a journal (those starting before byte ``upto`` when given); a torn line is skipped."""
    for _, record in _numbered_records(Path(journal_path), upto):
        yield record


def _journal_lines(journal_path: Path, upto: int | None) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a journal's non-blank lines, as read_journal reads them."""
    with journal_path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if upto is not None and fh.tell() > upto:
                break  # a line another thread is still appending: not part of this read
            if raw.strip():
                yield number, raw


def _numbered_records(journal_path: Path, upto: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in _journal_lines(journal_path, upto):
        try:
            yield number, json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            # expected after a crash or a full disk; the user is told about those by the caller
            log.info("%s: line %d is incomplete (written during a crash); skipped", journal_path, number)


def read_record(journal_path: str | Path, offset: int) -> dict[str, Any]:
    """The one record whose line starts at ``offset``."""
    with Path(journal_path).open("rb") as fh:
        fh.seek(offset)
        return json.loads(fh.readline().decode("utf-8"))


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` runs (or the platform cannot tell): its journal may still be written."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but not ours, or the platform cannot tell: leave it alone
    return True


@dataclass(frozen=True)
class JournalInfo:
    """What a journal on disk holds (for the recovery prompt and the "unfinished run" message)."""

    path: Path
    header: dict[str, Any] | None
    frames: int
    finished: bool  # it has an end record: the run finished (only the session write may have failed)

    @property
    def source(self) -> str:
        return str((self.header or {}).get("source", {}).get("path", "?"))

    @property
    def created(self) -> str:
        return str((self.header or {}).get("created", "?"))

    @property
    def writer_pid(self) -> int | None:
        """The process still writing it, if it is running and is not this one (else None)."""
        pid = (self.header or {}).get("pid")
        if self.finished or not isinstance(pid, int) or pid == os.getpid():
            return None
        return pid if pid_alive(pid) else None


def inspect_journal(journal_path: str | Path) -> JournalInfo:
    header, frames, finished = None, 0, False
    for record in read_journal(journal_path):
        kind = record.get("type")
        if kind == "header":
            header = record
        elif kind == "frame":
            frames += 1
        elif kind == "end":
            finished = True
    return JournalInfo(Path(journal_path), header, frames, finished)


# a journal frame line is ``json_dumps({**FrameResult.to_json(), "type": "frame"}, compact=True)``: its
# frames[] entry is the same text less the timings and type members (a file member may follow timings)
_FRAME_END = b',"type":"frame"}\n'
_SCALAR = rb'(?:"(?:[^"\\]|\\.)*"|[-+.\w]+)'
_TIMINGS = re.compile(rb',"timings":\{(?:"\w+":[-+.\w]+(?:,"\w+":[-+.\w]+)*)?\}((?:,"\w+":' + _SCALAR + rb')*)\Z')


def _frame_entry(raw: bytes) -> str:
    """A journal frame line as its session frames[] entry: the record without ``type`` and ``timings``.

    Both are the compact JSON of the same values, so the entry is cut out of the line's bytes: decoding
    every frame again and encoding it was most of the time a long session's finish() took. A timings
    member is cut only where it is the record's own: only scalar members follow it to the record's end
    (``,"timings":{`` cannot stand inside a string, whose quotes are escaped). A line of any other shape
    is decoded and encoded. Timings differ run to run; the summary keeps their means, frames[] stay
    reproducible.
    """
    if raw.endswith(_FRAME_END):
        body = raw[: -len(_FRAME_END)]
        timings = _TIMINGS.search(body)
        if timings is not None:
            return (body[: timings.start()] + timings.group(1)).decode("utf-8") + "}"
        if b'"timings":' not in body:
            return body.decode("utf-8") + "}"
    record = json.loads(raw.decode("utf-8"))
    record.pop("type", None)
    record.pop("timings", None)
    return json_dumps(record, compact=True)


def write_session_from_journal(
    journal_path: str | Path,
    session_path: str | Path,
    *,
    status: str | None = None,
    warnings: Iterable[str] | None = None,
    counts: Mapping[str, int] | None = None,
    wall_time_s: float | None = None,
    upto: int | None = None,
) -> dict[str, Any]:
    """Build the session JSON from a journal (after a normal finish, or to recover from a crash).

    ``status``/``warnings``/``counts``/``wall_time_s`` come from the journal's end record when not
    given; a journal without one (a crash) gives ``"status": "recovered"``. Accepts str or Path.
    ``upto`` reads only the journal's first ``upto`` bytes (a journal still being written: a save mid-run);
    then ``counts`` are taken for drops and skips, and ``processed`` is the frames read.
    Returns the document without its ``frames`` (summary, faces, timings) for the caller to report.
    """
    journal_path, session_path = Path(journal_path), Path(session_path)
    header: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    summary: SessionSummary | None = None
    events: list[Event] = []
    baseline: BaselineInterval | None = None
    seen: set[int] = set()
    kept = array("Q")  # the line numbers of the frames that go into frames[], in order
    try:
        for number, record in _numbered_records(journal_path, upto):
            kind = record.get("type")
            if kind == "header":
                header = record
                summary = SessionSummary(record["labels"])
            elif kind == "frame" and summary is not None and record["index"] not in seen:
                seen.add(record["index"])  # the duplicate-frame rule: the first record of an index wins
                kept.append(number)
                summary.add(record)
            elif kind == "event":
                events.append(Event.from_json(record))
            elif kind == "event_edit":  # a rename or deletion: the same rule as SessionRun.replace_event
                new = record.get("event")
                edit_events(events, (record["time_s"], record["label"]), None if new is None else Event.from_json(new))
            elif kind == "baseline":  # the last one wins; null start/end: cleared
                start, end_s = record.get("start_s"), record.get("end_s")
                baseline = None if start is None or end_s is None else BaselineInterval(float(start), float(end_s))
            elif kind == "counts":
                checkpoint = record
            elif kind == "end":
                end = record
    except OSError as exc:
        raise OutputError(f"{journal_path}: cannot read ({exc.strerror})") from exc
    if header is None or summary is None:
        raise OutputError(f"{journal_path}: not an emodesk journal (no header line)")
    if end is None:
        end = {"status": "recovered", "warnings": [f"recovered from {journal_path.name} after an unclean exit"]}
    if counts is None:
        counts = end.get("counts")
    if counts is not None and upto is not None:
        dropped, skipped = int(counts["dropped"]), int(counts["skipped"])
        counts = {"delivered": summary.frames + dropped + skipped, "processed": summary.frames, "dropped": dropped, "skipped": skipped}
    if counts is None:
        # a crash: counts as of the last checkpoint, with every frame found in the journal processed
        base = checkpoint or {"dropped": summary.dropped, "skipped": 0}
        dropped, skipped = int(base.get("dropped", 0)), int(base.get("skipped", 0))
        counts = {
            "delivered": summary.frames + dropped + skipped,
            "processed": summary.frames,
            "dropped": dropped,
            "skipped": skipped,
        }

    document = {k: v for k, v in header.items() if k not in _HEADER_ONLY_KEYS}
    document.setdefault("analysis", analysis_json(document.get("settings", {}).get("sample_fps"), False))
    document.update(
        {
            "status": status if status is not None else end["status"],
            "warnings": list(warnings) if warnings is not None else end.get("warnings", []),
            "frames_processed": summary.frames,
            "frames_dropped": int(counts["dropped"]),
            "counts": {k: int(counts[k]) for k in ("delivered", "processed", "dropped", "skipped")},
            "timings": summary.timings_json(),
            "wall_time_s": wall_time_s if wall_time_s is not None else end.get("wall_time_s"),
            "events": [e.to_json() for e in sorted(events, key=lambda e: (e.time_s, e.label))],
            "faces": summary.faces_json(),
        }
    )
    try:
        head = json_dumps(document, indent=1)
    except ValueError as exc:
        raise OutputError(f"{session_path}: {exc}") from exc
    assert head.endswith("\n}")
    del seen
    with atomic_text_file(session_path) as out:
        # frames are streamed from the journal one line at a time: the lines the first pass kept
        out.write(head[:-2] + ',\n "frames": [')
        wanted = iter(kept)
        next_kept = next(wanted, None)
        if next_kept is not None:
            for number, raw in _journal_lines(journal_path, upto):
                if number != next_kept:
                    continue
                out.write(("\n  " if number == kept[0] else ",\n  ") + _frame_entry(raw))
                next_kept = next(wanted, None)
                if next_kept is None:
                    break
        out.write("\n ]\n}\n")
    if baseline is not None:
        # a baseline marked during the run (the window's B key): recorded exactly as ``emodesk analyze
        # --baseline`` records it, by the one writer of baselines (imported here: exports need numpy)
        from emodesk.core.export import SessionView, record_in_session

        view = SessionView(session_path, baseline=baseline)
        record_in_session(session_path, view)
        recorded = view.recorded()
        document["baseline"], document["faces"] = recorded["baseline"], recorded["faces"]
    return document


def read_session_json(path: str | Path) -> dict[str, Any]:
    """The raw JSON of a session file written by emodesk (``emodesk.load_session`` gives typed access)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", "?")
        raise OutputError(f"{path}: not a session file (invalid JSON at line {line})") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise OutputError(f"{path}: not an emodesk session (schema_version {SCHEMA_VERSION} expected)")
    return data


# the dict reader's old name: exports and tests use it (typed: emodesk.load_session / core.session_model)
load_session = read_session_json
