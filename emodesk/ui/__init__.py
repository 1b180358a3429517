"""The desktop window (PySide6 + pyqtgraph): a thin layer over emodesk.core. Not in this build yet."""
