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
