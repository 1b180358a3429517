"""GUI-test guards: a test that leaves a QThread running fails (napari's ``_dangling_qthreads`` pattern).

A running QThread outliving its test keeps analysing, writing journals or holding a capture device while
the next test runs, and Qt aborts the process if one is still running when the QApplication is destroyed.
"""

from __future__ import annotations

import traceback
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QThread

from emodesk.core import live_session


@pytest.fixture()
def recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-test recovery folder, so journals of runs under test never reach the user's own."""
    folder = tmp_path / "recovery"
    monkeypatch.setattr(live_session, "recovery_dir", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch: pytest.MonkeyPatch, qtbot):
    started: weakref.WeakKeyDictionary[QThread, str] = weakref.WeakKeyDictionary()
    base_start = QThread.start

    def start_and_remember(self: QThread, *args: object) -> None:
        # where the thread was started from, so the failure names the code that forgot to stop it
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        base_start(self, *args)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield
    dangling = []
    for thread, where in list(started.items()):
        try:
            running = thread.isRunning()
        except RuntimeError:  # the C++ object is already deleted: it cannot be running
            continue
        if running:
            dangling.append(f"QThread {thread.objectName() or thread!r} started at:\n{where}")
    if dangling:
        pytest.fail("test left QThreads running:\n" + "\n".join(dangling), pytrace=False)
