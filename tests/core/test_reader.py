"""The frame reader's two modes and its accounting: every frame a source delivers is processed, dropped
or skipped, including frames left behind when a run ends early (synthetic frames, no models)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from emodesk.core.reader import (
    FrameReader,
    FrameSampler,
    LatestSlot,
    Prefetch,
    SourceCounts,
)
from emodesk.core.sources import Frame, FrameSource, SourceInfo


class Burst(FrameSource):
    """``n`` tiny frames as fast as they can be made (a camera far faster than the consumer)."""

    def __init__(self, n: int, *, live: bool, fps: float = 30.0, pace_s: float = 0.0) -> None:
        super().__init__()
        self.n = n
        self.pace_s = pace_s
        self.info = SourceInfo("video", "burst", fps, n, 8, 8, live=live)

    def frames(self) -> Iterator[Frame]:
        for i in range(self.n):
            if self.pace_s:
                time.sleep(self.pace_s)
            yield Frame(i, i / (self.info.fps or 30.0), np.zeros((8, 8, 3), np.uint8), time.monotonic(), 0.0)


def test_slot_counts_a_frame_replaced_by_the_end_marker() -> None:
    slot = LatestSlot()
    assert slot.put("a") is False
    assert slot.put("b") is True  # "a" was never taken
    item, dropped = slot.get(timeout=0)
    assert (item, dropped) == ("b", 1)
    slot.put("c")
    assert slot.clear() == 1  # "c" was left in the slot
    assert slot.clear() == 0


def test_live_reader_accounts_for_frames_after_the_last_one_taken() -> None:
    """The old reader lost the frames replaced after the last take (204 counted where 245 were dropped)."""
    counts = SourceCounts()
    taken = []
    for item in FrameReader(Burst(200, live=True, pace_s=0.0005), live=True, counts=counts):
        taken.append(item.frame.index)
        time.sleep(0.02)  # far slower than the source
    assert counts.delivered == 200
    assert counts.dropped > 0 and len(taken) < 200
    assert len(taken) + counts.dropped == counts.delivered
    assert taken == sorted(taken)


def test_live_reader_stopped_early_counts_what_it_left() -> None:
    counts = SourceCounts()
    stop = threading.Event()
    taken = 0
    for _ in FrameReader(Burst(10_000, live=True, pace_s=0.001), live=True, stop=stop, counts=counts):
        taken += 1
        if taken == 3:
            stop.set()
    assert taken == 3 and counts.delivered >= 3
    assert taken + counts.dropped == counts.delivered


@pytest.mark.parametrize("how", ["break", "stop"])
def test_file_reader_is_lossless_and_uncounts_an_abandoned_read_ahead(how: str) -> None:
    counts = SourceCounts()
    whole = [r.frame.index for r in FrameReader(Burst(50, live=False), live=False, counts=counts)]
    assert whole == list(range(50)) and (counts.delivered, counts.dropped) == (50, 0)

    counts = SourceCounts()
    stop = threading.Event()
    reader = iter(FrameReader(Burst(50, live=False), live=False, stop=stop, counts=counts))
    taken = [next(reader).frame.index for _ in range(5)]
    time.sleep(0.05)  # let the reader fill its queue ahead
    if how == "stop":
        stop.set()
        assert list(reader) == []
    else:
        reader.close()
    assert taken == [0, 1, 2, 3, 4]
    # the read-ahead of a run ended on purpose was never wanted: off delivered, not dropped
    assert (counts.delivered, counts.dropped) == (5, 0)


def test_sampler_takes_the_first_frame_at_or_after_each_sample_time() -> None:
    sampler = FrameSampler(4.0)
    taken = [i for i in range(90) if sampler.take(i / 30.0)]
    # sample times 0, 0.25, 0.5, ...: frames 0, 7.5→8, 15, 22.5→23, 30, ...
    assert taken == [0, 8, 15, 23, 30, 38, 45, 53, 60, 68, 75, 83]
    again = FrameSampler(4.0)
    assert [i for i in range(90) if again.take(i / 30.0)] == taken  # deterministic
    assert all(FrameSampler(None).take(i / 30.0) for i in range(10))
    # asking for more than the source has takes every frame once
    dense = FrameSampler(100.0)
    assert all(dense.take(i / 29.97) for i in range(60))
    # NTSC rate: one frame per second, never two in the same second
    ntsc = FrameSampler(1.0)
    assert [i for i in range(200) if ntsc.take(i / (30000 / 1001))] == [0, 30, 60, 90, 120, 150, 180]


def test_prefetch_keeps_order_raises_producer_errors_and_counts_what_it_abandons() -> None:
    assert list(Prefetch(lambda: iter(range(100)), name="emodesk-test", size=3)) == list(range(100))

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad frame 2")

    got: list[int] = []
    with pytest.raises(ValueError, match="bad frame 2"):
        got.extend(Prefetch(failing, name="emodesk-test"))
    assert got == [1]

    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()  # the producer's clean-up ran (the pipeline's closes the reader there)

    ahead = Prefetch(endless, name="emodesk-test", size=4)
    run = iter(ahead)
    taken = [next(run) for _ in range(5)]
    time.sleep(0.05)  # the producer fills the queue and waits
    run.close()
    assert taken == [0, 1, 2, 3, 4] and closed.is_set()
    assert ahead.abandoned >= 4  # the full queue, and the item the producer held
