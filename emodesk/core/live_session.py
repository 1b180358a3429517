"""The window's crash-recovery folder: where a window run's journal lives and what is left there after a crash.

The window drives each analysis through :class:`emodesk.core.run.SessionRun` with its journal in
:func:`recovery_dir`, named by :func:`recovery_journal_path`; after a crash the next launch lists
:func:`find_recoverable` journals (those whose process is gone) and offers to save each as a session
(``write_session_from_journal``, as ``emodesk recover``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from emodesk.core.session import (
    JOURNAL_SUFFIX,
    inspect_journal,
    pid_alive,
)

log = logging.getLogger(__name__)


def recovery_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("emodesk", appauthor=False)) / "recovery"


def recovery_journal_path(folder: Path, target: str | int) -> Path:
    """A journal name that ``find_recoverable`` recognises: ``<source>-pid<PID>-<time>-<n>.journal.jsonl``."""
    text = str(target)
    stem = re.sub(r"[^\w.-]+", "_", Path(text).stem if not text.isdigit() else f"camera{text}")[:40] or "camera"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{stem}-pid{os.getpid()}-{stamp}-{time.monotonic_ns() % 10**6}{JOURNAL_SUFFIX}"


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
        if match and pid_alive(int(match.group(1))):
            continue
        info = inspect_journal(journal)
        if info.header is None:
            log.warning("%s: not an emodesk journal; ignored", journal)
            continue
        found.append(Recoverable(journal, info.source, info.created, info.frames))
    return found
