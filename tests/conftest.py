"""Test configuration: real models and media from ../shared, offscreen Qt, never any download."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMODESK_SHARED_DIR", REPO.parent / "shared")).resolve()

# absolute: subprocess tests run the CLI from other folders
os.environ["EMODESK_MODEL_DIR"] = str(Path(os.environ.get("EMODESK_MODEL_DIR", SHARED / "models")).resolve())
os.environ.setdefault("EMODESK_OFFLINE", "1")  # a test that needs the network is a broken test
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

VIDEOS = SHARED / "data" / "videos"
TEST_IMAGES = SHARED / "test_images"
PHOTOS = SHARED / "data" / "photos"


def pytest_configure(config: pytest.Config) -> None:
    if not (SHARED / "models").is_dir():
        raise pytest.UsageError(f"{SHARED}/models not found: tests need ../shared beside the checkout (or EMODESK_SHARED_DIR)")


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    """Fail a test that leaves one of emodesk's threads running (napari's _dangling_qthreads idea)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leftover = [
        t for t in threading.enumerate() if t.ident not in before and t.name.startswith("emodesk") and t.is_alive()
    ]
    for t in leftover:
        t.join(timeout=2.0)
    still = [t.name for t in leftover if t.is_alive()]
    assert not still, f"threads left running: {still}"
