"""The desktop window (PySide6 + pyqtgraph): a thin layer over emodesk.core; panels each in their own module."""
