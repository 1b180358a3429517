"""The installed Qt binding survives a long session of graph repaints (see the PySide6 pin in pyproject)."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QApplication
app = QApplication([])
widget = pg.PlotWidget()
widget.show()
curve = widget.getPlotItem().plot(pen=pg.mkPen((255, 0, 0), width=2))
t = np.linspace(0, 10, 300)
for i in range(3000):
    curve.setData(t + i * 0.01, np.sin(t + i * 0.01))
    app.processEvents()
print("done")
"""


@pytest.mark.slow  # 3000 repaints in a child process
def test_many_graph_repaints_then_a_clean_exit() -> None:
    # PySide6 6.12.0 on Python < 3.12 aborted here at exit ("bool_dealloc: deallocating True or False")
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "done"
