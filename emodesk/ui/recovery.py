"""Crash recovery in the window: journals left by an emodesk process that did not exit cleanly.

A clean exit deletes every journal the window wrote (see ``MainWindow.shutdown``), so this offer only
appears after a crash. Finding journals and writing the recovered session run on the jobs thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from emodesk.core.live_session import Recoverable, find_recoverable
from emodesk.core.session import write_session_from_journal


def recover_journal(journal: Path, path: Path) -> Path:
    """Write the session of a left-over journal to ``path`` and delete the journal (jobs thread)."""
    write_session_from_journal(journal, path)
    journal.unlink(missing_ok=True)
    return path


def ask_about(parent: QWidget, item: Recoverable) -> tuple[str, Path | None]:
    """('save', path) | ('discard', None) | ('ignore', None), asking the user (GUI thread)."""
    answer = QMessageBox.question(
        parent,
        "Recover session",
        f"emodesk did not exit cleanly during a session of {item.source} "
        f"({item.frames} frames, started {item.created}).\nSave it as a session file?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Ignore,
    )
    if answer == QMessageBox.StandardButton.Save:
        name = f"{Path(item.source).stem or 'recovered'}.session.json"
        path, _ = QFileDialog.getSaveFileName(parent, "Save recovered session", name, "Session JSON (*.session.json)")
        return ("save", Path(path)) if path else ("ignore", None)
    if answer == QMessageBox.StandardButton.Discard:
        return "discard", None
    return "ignore", None


__all__ = ["Recoverable", "ask_about", "find_recoverable", "recover_journal"]
