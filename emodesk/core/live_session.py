"""The window's crash-recovery folder: where a window run's journal lives and what is left there after a crash.

The window drives each analysis through :class:`emodesk.core.run.SessionRun` with its journal in
:func:`recovery_dir`; after a crash the next launch lists :func:`find_recoverable` journals (those whose
process is gone) and offers to save each as a session. ``SessionStore`` is the window's older store, kept
only until the window has moved to SessionRun; new code uses SessionRun.
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
from emodesk.core.session import (
    JOURNAL_SUFFIX,
    JournalWriter,
    analysis_json,
    inspect_journal,
    new_header,
    write_session_from_journal,
)
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
        info = inspect_journal(journal)
        if info.header is None:
            log.warning("%s: not an emodesk journal; ignored", journal)
            continue
        found.append(Recoverable(journal, info.source, info.created, info.frames))
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
        self._journal: JournalWriter | None = None
        folder = journal_dir if journal_dir is not None else recovery_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stem = re.sub(r"[^\w.-]+", "_", Path(source.path).stem or "camera")[:40]
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            name = f"{stem}-pid{os.getpid()}-{stamp}-{time.monotonic_ns() % 10**6}{JOURNAL_SUFFIX}"
            self._journal = JournalWriter(folder / name)
            self._journal.write(self._header())
        except (EmodeskError, OSError) as exc:
            # no crash protection is worse than no analysis: keep going, say so
            log.warning("no recovery journal: %s", exc)
            self.warnings.append(f"no crash-recovery journal ({exc})")

    def _header(self) -> dict:
        return new_header(
            source=self.source.to_json(),
            models=self.models,
            settings=self.settings.to_json(),
            labels=self.labels,
            analysis=analysis_json(self.settings.sample_fps, self.source.live),
        )

    def add(self, result: FrameResult) -> None:
        if result.image is not None:
            result = dataclasses.replace(result, image=None)  # never keep every frame in memory
        self._results[result.index] = result
        self.exported = False
        if self._journal is not None:
            self._journal.write({**result.to_json(), "type": "frame"})

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
        return self._journal.path if self._journal else None

    def export_json(self, path: Path) -> Path:
        """Write the session file (the same format as ``emodesk analyze``)."""
        tmp = Path(path).with_name(f".{Path(path).name}-{os.getpid()}{JOURNAL_SUFFIX}")
        journal = JournalWriter(tmp)
        try:
            journal.write(self._header())
            for result in self.results:
                journal.write({**result.to_json(), "type": "frame"})
            journal.close()
            n = len(self._results)
            counts = {"delivered": n, "processed": n, "dropped": 0, "skipped": 0}
            write_session_from_journal(tmp, path, status=self.status, warnings=self.warnings, counts=counts)
        finally:
            journal.close()
            tmp.unlink(missing_ok=True)
        self.exported = True
        return Path(path)

    def export_csv(self, path: Path) -> Path:
        """Per-frame CSV: the writer needs only the labels and the frame records."""
        from emodesk.core.export import write_frames_csv

        written = write_frames_csv({"labels": self.labels, "frames": [r.to_json() for r in self.results]}, Path(path))
        self.exported = True
        return written

    def close(self, *, keep_journal: bool = False) -> None:
        """Stop journaling; the journal is deleted unless it is still needed for recovery."""
        if self._journal is None:
            return
        self._journal.close()
        if not keep_journal:
            self._journal.path.unlink(missing_ok=True)
        self._journal = None
