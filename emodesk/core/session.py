"""Session files: a crash-safe journal while running, the session JSON at the end.

While a source is analysed every frame is appended to ``<name>.journal.jsonl`` beside the output and
flushed (and fsynced) at least once a second, so a crash loses at most the last second. The final
``<name>.session.json`` is built by streaming that journal, which keeps memory flat for long videos
and makes recovery after a crash the same code path as a normal finish.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from emodesk import __version__
from emodesk.core.atomic import atomic_text_file
from emodesk.core.results import FrameResult
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo
from emodesk.errors import OutputError
from emodesk.inference.base import ModelInfo

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SESSION_SUFFIX = ".session.json"
JOURNAL_SUFFIX = ".journal.jsonl"
FLUSH_INTERVAL_S = 1.0


def journal_path_for(session_path: Path) -> Path:
    name = session_path.name.removesuffix(SESSION_SUFFIX).removesuffix(".json")
    return session_path.with_name(name + JOURNAL_SUFFIX)


@dataclass
class _FaceStats:
    """Running per-track summary; fed from journal records so recovery reuses it."""

    first_frame: int
    first_time_s: float
    last_frame: int = 0
    last_time_s: float = 0.0
    frames_seen: int = 0
    dominant: Counter[str] = field(default_factory=Counter)
    prob_sums: dict[str, float] = field(default_factory=dict)
    confidence_sums: dict[str, float] = field(default_factory=dict)

    def add(self, index: int, time_s: float, face: Mapping[str, Any]) -> None:
        self.last_frame, self.last_time_s = index, time_s
        self.frames_seen += 1
        for label, p in face["probs"].items():
            self.prob_sums[label] = self.prob_sums.get(label, 0.0) + p
        emotion = face.get("emotion")
        if emotion:
            self.dominant[emotion] += 1
            self.confidence_sums[emotion] = self.confidence_sums.get(emotion, 0.0) + face["confidence"]

    def to_json(self, track_id: int, labels: Sequence[str]) -> dict[str, Any]:
        n = max(self.frames_seen, 1)
        most_common = self.dominant.most_common(1)[0][0] if self.dominant else None
        return {
            "id": track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "first_time_s": round(self.first_time_s, 6),
            "last_time_s": round(self.last_time_s, 6),
            "frames_seen": self.frames_seen,
            "dominant_counts": {label: self.dominant.get(label, 0) for label in labels},
            "most_common": most_common,
            "mean_probs": {label: round(self.prob_sums.get(label, 0.0) / n, 5) for label in labels},
            # mean confidence over the frames where that emotion was the face's top label
            "mean_confidence": {
                label: round(self.confidence_sums[label] / self.dominant[label], 5)
                for label in labels
                if self.dominant.get(label)
            },
        }


class SessionSummary:
    """Accumulates per-face statistics and stage timings from frame records."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = tuple(labels)
        self.faces: dict[int, _FaceStats] = {}
        self.frames = 0
        self.dropped = 0
        self.timing_sums: Counter[str] = Counter()

    def add(self, record: Mapping[str, Any]) -> None:
        self.frames += 1
        self.dropped += record.get("dropped", 0)
        for key, value in record.get("timings", {}).items():
            self.timing_sums[key] += value
        for face in record["faces"]:
            stats = self.faces.get(face["id"])
            if stats is None:
                stats = self.faces[face["id"]] = _FaceStats(record["index"], record["time_s"])
            stats.add(record["index"], record["time_s"], face)

    def faces_json(self) -> list[dict[str, Any]]:
        return [self.faces[i].to_json(i, self.labels) for i in sorted(self.faces)]

    def timings_json(self) -> dict[str, float]:
        n = max(self.frames, 1)
        return {f"mean_{k}": round(v / n, 3) for k, v in sorted(self.timing_sums.items())}


class SessionRecorder:
    """Appends each FrameResult to the journal; ``finish()`` writes the session JSON atomically."""

    def __init__(
        self,
        session_path: Path,
        *,
        source: SourceInfo,
        models: Sequence[ModelInfo],
        settings: Settings,
        labels: Sequence[str],
    ) -> None:
        self.session_path = Path(session_path)
        self.journal_path = journal_path_for(self.session_path)
        self.header = {
            "type": "header",
            "schema_version": SCHEMA_VERSION,
            "app": "emodesk",
            "app_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "source": source.to_json(),
            "models": [_model_json(m) for m in models],
            "settings": settings.to_json(),
            "labels": list(labels),
        }
        self._started = time.monotonic()
        try:
            self.session_path.parent.mkdir(parents=True, exist_ok=True)
            self._journal: TextIO | None = self.journal_path.open("w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{self.journal_path}: cannot write ({exc.strerror})") from exc
        self._write_line(self.header)
        self._last_flush = time.monotonic()
        self.frames = 0
        self.summary: dict[str, Any] = {}

    def _write_line(self, record: Mapping[str, Any]) -> None:
        assert self._journal is not None
        self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")

    def add(self, result: FrameResult) -> None:
        record = result.to_json()
        record["type"] = "frame"
        self._write_line(record)
        self.frames += 1
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()
            self._last_flush = now

    def flush(self) -> None:
        if self._journal is not None:
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def finish(self, *, status: str = "complete", warnings: Iterable[str] = ()) -> Path:
        """Close the journal, write the session JSON, then delete the journal."""
        end = {
            "type": "end",
            "status": status,
            "warnings": list(warnings),
            "wall_time_s": round(time.monotonic() - self._started, 3),
        }
        self._write_line(end)
        self.flush()
        assert self._journal is not None
        self._journal.close()
        self._journal = None
        self.summary = write_session_from_journal(self.journal_path, self.session_path)
        self.journal_path.unlink(missing_ok=True)
        return self.session_path

    def abandon(self) -> None:
        """Close the journal without finishing (it stays on disk for recovery)."""
        if self._journal is not None:
            self.flush()
            self._journal.close()
            self._journal = None


def _model_json(info: ModelInfo) -> dict[str, Any]:
    out = asdict(info)
    out["providers"] = list(info.providers)
    return out


def read_journal(journal_path: Path) -> Iterator[dict[str, Any]]:
    """Records of a journal; a torn last line (the crash itself) is skipped."""
    with journal_path.open("r", encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: line %d is incomplete (written during a crash); skipped", journal_path, number)


def write_session_from_journal(journal_path: Path, session_path: Path) -> dict[str, Any]:
    """Build the session JSON from a journal (after a normal finish, or to recover from a crash).

    Returns the document without its ``frames`` (summary, faces, timings) for the caller to report.
    """
    header: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    summary: SessionSummary | None = None
    seen: set[int] = set()
    for record in read_journal(journal_path):
        kind = record.get("type")
        if kind == "header":
            header = record
            summary = SessionSummary(record["labels"])
        elif kind == "frame" and summary is not None and record["index"] not in seen:
            seen.add(record["index"])
            summary.add(record)
        elif kind == "end":
            end = record
    if header is None or summary is None:
        raise OutputError(f"{journal_path}: not an emodesk journal (no header line)")
    if end is None:
        end = {"status": "recovered", "warnings": [f"recovered from {journal_path.name} after an unclean exit"]}

    document = {k: v for k, v in header.items() if k != "type"}
    document.update(
        {
            "status": end["status"],
            "warnings": end.get("warnings", []),
            "frames_processed": summary.frames,
            "frames_dropped": summary.dropped,
            "timings": summary.timings_json(),
            "wall_time_s": end.get("wall_time_s"),
            "faces": summary.faces_json(),
        }
    )
    head = json.dumps(document, indent=1)
    assert head.endswith("\n}")
    with atomic_text_file(session_path) as out:
        # frames are streamed from the journal one line at a time
        out.write(head[:-2] + ',\n "frames": [')
        first = True
        seen.clear()
        for record in read_journal(journal_path):
            # a seek in the GUI can analyse a frame twice: the session keeps its first result
            if record.get("type") != "frame" or record["index"] in seen:
                continue
            seen.add(record["index"])
            record.pop("type")
            # timings differ run to run; the summary keeps their means, frames[] stay reproducible
            record.pop("timings", None)
            out.write(("\n  " if first else ",\n  ") + json.dumps(record, separators=(",", ":")))
            first = False
        out.write("\n ]\n}\n")
    return document


def load_session(path: str | Path) -> dict[str, Any]:
    """Read a session JSON written by emodesk (any version this build understands)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise OutputError(f"{path}: not a session file (invalid JSON at line {exc.lineno})") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise OutputError(f"{path}: not an emodesk session (schema_version {SCHEMA_VERSION} expected)")
    return data
