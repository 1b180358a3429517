"""Starting the desktop app: QApplication, theme that follows the OS, the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from emodesk import __version__
from emodesk.bundle import icon_path


def dark_palette() -> QPalette:
    palette = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    highlight = QColor(53, 116, 240)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Highlight: highlight,
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: highlight,
        QPalette.ColorRole.PlaceholderText: QColor(130, 133, 140),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 123, 130))
    return palette


def os_prefers_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    return scheme is not None and scheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str = "auto") -> None:
    """Fusion everywhere (so the dark palette is honoured on every OS); dark when the OS is dark."""
    app.setStyle("Fusion")
    dark = theme == "dark" or (theme == "auto" and os_prefers_dark())
    app.setPalette(dark_palette() if dark else app.style().standardPalette())


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    QCoreApplication.setOrganizationName("emodesk")
    QCoreApplication.setApplicationName("emodesk")
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    # the same icon and desktop-file name as resources/emodesk.desktop, so docks and task bars group the window
    QGuiApplication.setDesktopFileName("emodesk")
    icon = icon_path()
    if icon is not None:
        app.setWindowIcon(QIcon(str(icon)))
    return app  # type: ignore[return-value]


def run_gui(path: str | None = None, *, theme: str = "auto") -> int:
    """Open the window; with ``path`` analyse that video, image or folder, or review that saved
    ``.session.json``. Returns the exit status. Closing the main window, by any means, ends the app."""
    app = create_application()
    apply_theme(app, theme)
    from emodesk.ui.main_window import (
        MainWindow,  # imports pyqtgraph: after the QApplication exists
    )

    window = MainWindow()
    # exit(), not quit(): quit() first asks every window to close, and a modal dialog that refuses (the
    # recovery question has no Escape button) would keep the process alive after the main window closed
    window.closed.connect(lambda: QApplication.exit(0))
    window.show()
    if path:
        window.open_path(path)
    return app.exec()
