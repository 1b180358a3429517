"""Panels display SessionRun snapshots: this drives hand-built results through a real SessionRun (with a
stand-in pipeline that replays them) and returns its snapshot, so panel tests see the core's statistics."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from emodesk.core.reader import SourceCounts
from emodesk.core.results import FrameResult
from emodesk.core.run import RunSnapshot, SessionRun
from emodesk.core.settings import Settings
from emodesk.core.sources import Frame, FrameSource, SourceInfo


class _Source(FrameSource):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.info = SourceInfo("video", "synthetic.mp4", 10.0, count, 160, 120, live=False)

    def frames(self) -> Iterator[Frame]:  # the replaying pipeline never reads it
        return iter(())


class _Replay:
    """Yields prepared results and fills the counts as the real Pipeline does."""

    def __init__(self, results: Sequence[FrameResult], labels: Sequence[str]) -> None:
        self.results = list(results)
        self.settings = Settings()
        self.models: list[object] = []
        self.labels = tuple(labels)

    def run(self, source, *, live=None, stop=None, keep_images=False, counts: SourceCounts | None = None):
        counts = counts if counts is not None else SourceCounts()
        for result in self.results:
            counts.delivered += 1
            counts.processed += 1
            yield result


def snapshot_of(results: Sequence[FrameResult], labels: Sequence[str]) -> RunSnapshot:
    """The snapshot a SessionRun gives after analysing ``results`` (journal in a temporary folder)."""
    with tempfile.TemporaryDirectory() as folder:
        run = SessionRun(_Replay(results, labels), _Source(len(results)), Path(folder) / "t.journal.jsonl")
        run.run()
        snap = run.snapshot()
        run.discard()
    return snap
