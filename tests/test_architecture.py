"""Layering rules that keep the engine usable headless."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_contracts_hold() -> None:
    """pyproject.toml's import-linter contracts: core and inference import no Qt, and the layers
    cli > ui > core > inference only import downwards."""
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "core and inference stay headless (no Qt, no UI) KEPT" in run.stdout
    assert "layers: cli > ui > core > inference KEPT" in run.stdout


def test_engine_imports_without_pulling_in_qt() -> None:
    code = "import sys, emodesk.core.pipeline, emodesk.core.analyze, emodesk.cli; print(any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_the_face_panel_draws_the_core_thumbnail() -> None:
    """One thumbnail implementation: the window's face list shows what the PDF report shows."""
    import numpy as np

    from emodesk.core.annotate import face_thumbnail
    from emodesk.ui.face_panel import _face_crop

    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    for box in ((100.0, 60.0, 160.0, 140.0), (-20.0, -10.0, 40.0, 50.0), (290.0, 200.0, 330.0, 250.0)):
        assert np.array_equal(_face_crop(frame, box, 48, margin=0.2), face_thumbnail(frame, box, 48, margin=0.2))
