"""Test configuration: real models and media from ../shared, offscreen Qt, never any download."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
CLIP = VIDEOS / "liveportrait_d19.mp4"  # the talking-head clip most tests analyse: 250 frames at 30 fps


def pytest_configure(config: pytest.Config) -> None:
    if not (SHARED / "models").is_dir():
        raise pytest.UsageError(f"{SHARED}/models not found: tests need ../shared beside the checkout (or EMODESK_SHARED_DIR)")


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def cpu_pipeline() -> Any:
    """The default models on the CPU, loaded once per test run (each load hashes and warms two models).
    Tests that need other settings reuse its models: ``Pipeline(settings, detector=cpu_pipeline.detector,
    classifier=cpu_pipeline.classifier)``."""
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.settings import Settings

    with Pipeline(Settings(device="cpu")) as pipeline:
        yield pipeline


@dataclass(frozen=True)
class AnalysedClip:
    """``CLIP`` analysed once in file mode with the default settings: every frame's result and the counts."""

    path: Path
    results: tuple[Any, ...]  # FrameResult, one per frame, in order
    counts: Any  # emodesk.core.reader.SourceCounts


@pytest.fixture(scope="session")
def analysed_clip(cpu_pipeline: Any) -> AnalysedClip:
    """One lossless pass over ``CLIP`` shared by the tests that only read its results, instead of each
    running the same 250 frames again."""
    from emodesk.core.reader import SourceCounts
    from emodesk.core.sources import VideoFileSource

    counts = SourceCounts()
    results = tuple(cpu_pipeline.run(VideoFileSource(CLIP), live=False, counts=counts))
    return AnalysedClip(CLIP, results, counts)


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
