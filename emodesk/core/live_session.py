"""An interactive session: results gathered while the user watches, seeks and steps, exported on demand.

The desktop app keeps one SessionStore per opened source. Every result is also appended to a journal in
the per-user recovery folder, so that after a crash the next launch can offer to recover it; the journal
is removed when the session is exported or deliberately discarded. Exports go through the same
SessionRecorder as ``emodesk analyze``, so the files are identical in format.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from emodesk.core.results import FrameResult
from emodesk.core.session import JOURNAL_SUFFIX, SessionRecorder, read_journal
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo
from emodesk.errors import EmodeskError
from emodesk.inference.base import ModelInfo

log = logging.getLogger(__name__)


def recovery_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("emodesk", appauthor=False)) / "recovery"


def _pid_alive(pid: int) -> bool:
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
class Recoverable:
    journal: Path
    source: str
    created: str
    frames: int


def find_recoverable(folder: Path | None = None) -> list[Recoverable]:
    """Journals left by emodesk processes that are no longer running."""
    folder = folder or recovery_dir()
    found = []
    for journal in sorted(folder.glob(f"*{JOURNAL_SUFFIX}")):
        match = re.search(r"-pid(\d+)-", journal.name)
        if match and _pid_alive(int(match.group(1))):
            continue
        header, frames = None, 0
        for record in read_journal(journal):
            if record.get("type") == "header":
                header = record
            elif record.get("type") == "frame":
                frames += 1
        if header is None:
            log.warning("%s: not an emodesk journal; ignored", journal)
            continue
        found.append(Recoverable(journal, header["source"]["path"], header["created"], frames))
    return found


class SessionStore:
    """Results of one source in the GUI, keyed by frame index (a re-analysed frame replaces the old one)."""

    def __init__(
        self,
        source: SourceInfo,
        *,
        models: Sequence[ModelInfo],
        settings: Settings,
        labels: Sequence[str],
        journal_dir: Path | None = None,
    ) -> None:
        self.source = source
        self.models = list(models)
        self.settings = settings
        self.labels = tuple(labels)
        self._results: dict[int, FrameResult] = {}
        self.exported = False
        self.status = "complete"
        self.warnings: list[str] = []
        self._recorder: SessionRecorder | None = None
        folder = journal_dir if journal_dir is not None else recovery_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", Path(source.path).stem or "camera")[:40]
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            name = f"{stem}-pid{os.getpid()}-{stamp}-{time.monotonic_ns() % 10**6}.session.json"
            self._recorder = SessionRecorder(folder / name, source=source, models=models, settings=settings, labels=labels)
        except EmodeskError as exc:
            # no crash protection is worse than no analysis: keep going, say so
            log.warning("no recovery journal: %s", exc)
            self.warnings.append(f"no crash-recovery journal ({exc})")

    def add(self, result: FrameResult) -> None:
        if result.image is not None:
            result = dataclasses.replace(result, image=None)  # never keep every frame in memory
        self._results[result.index] = result
        self.exported = False
        if self._recorder is not None:
            self._recorder.add(result)

    def __len__(self) -> int:
        return len(self._results)

    @property
    def results(self) -> list[FrameResult]:
        return [self._results[i] for i in sorted(self._results)]

    @property
    def has_unsaved(self) -> bool:
        return bool(self._results) and not self.exported

    @property
    def journal_path(self) -> Path | None:
        return self._recorder.journal_path if self._recorder else None

    def export_json(self, path: Path) -> Path:
        """Write the session file (the same format as ``emodesk analyze``)."""
        recorder = SessionRecorder(
            Path(path), source=self.source, models=self.models, settings=self.settings, labels=self.labels
        )
        for result in self.results:
            recorder.add(result)
        written = recorder.finish(status=self.status, warnings=self.warnings)
        self.exported = True
        return written

    def export_csv(self, path: Path) -> Path:
        """Per-frame CSV: the writer needs only the labels and the frame records."""
        from emodesk.core.export import write_frames_csv

        written = write_frames_csv({"labels": self.labels, "frames": [r.to_json() for r in self.results]}, Path(path))
        self.exported = True
        return written

    def close(self, *, keep_journal: bool = False) -> None:
        """Stop journaling; the journal is deleted unless it is still needed for recovery."""
        if self._recorder is None:
            return
        self._recorder.abandon()
        if not keep_journal:
            self._recorder.journal_path.unlink(missing_ok=True)
        self._recorder = None
