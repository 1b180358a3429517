"""The window's recovery folder: journals of live processes are left alone, those of dead ones are offered."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emodesk.core.live_session import find_recoverable
from emodesk.core.run import SessionRun
from emodesk.core.session import write_session_from_journal
from tests.core.test_session import FakePipeline, FakeSource, frame, validate


def journal_of(folder: Path, pid: int, frames: int) -> Path:
    run = SessionRun(FakePipeline([frame(i) for i in range(frames)]), FakeSource(), folder / f"clip-pid{pid}-20260101-000000-1.journal.jsonl")
    run.run()
    run.close()  # as after a crash: the journal stays
    return run.journal_path


def test_only_journals_of_ended_processes_are_recoverable(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    mine = journal_of(tmp_path, os.getpid(), 3)  # this process is running: its journal is in use
    theirs = journal_of(tmp_path, dead_pid, 4)
    (tmp_path / "junk.journal.jsonl").write_text("{}\n")
    found = find_recoverable(tmp_path)
    assert [(r.journal, r.frames, r.source) for r in found] == [(theirs, 4, "clip.mp4")]
    assert mine.exists()
    out = tmp_path / "recovered.session.json"
    write_session_from_journal(found[0].journal, out)
    assert validate(out)["frames_processed"] == 4
