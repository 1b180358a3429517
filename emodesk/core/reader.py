"""Decoding in a background thread, in one of two explicit modes.

File mode is lossless: a bounded queue, so decoding runs ahead of inference by a few frames but never
drops one. Live mode keeps a single latest-wins slot: a frame that was not taken before the next one
arrived is replaced and counted as dropped, so latency stays bounded however slow the models are.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from emodesk.core.sources import Frame, FrameSource

log = logging.getLogger(__name__)

_END = object()
T = TypeVar("T")


def _put_until(q: queue.Queue[object], item: object, halted: Callable[[], bool]) -> bool:
    """Put ``item`` into a bounded queue, waiting for room, unless ``halted()`` first (then False)."""
    while not halted():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _drain(q: queue.Queue[object]) -> int:
    """Empty ``q``; how many items (not counting the end marker) were left in it."""
    left = 0
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return left
        left += item is not _END


@dataclass
class SourceCounts:
    """What a source delivered during one run and what became of each frame.

    Filled by the reader and the pipeline while the run goes (one writer thread per field), read by the
    session that owns the run. When the run has ended: ``processed + dropped + skipped == delivered``.
    """

    delivered: int = 0  # frames the source produced (decoded) before the run ended
    processed: int = 0  # frames analysed (one FrameResult each)
    dropped: int = 0  # live mode: replaced in the latest-wins slot, or left in it when the run ended
    skipped: int = 0  # file mode with sample_fps: left out on purpose by the sampling

    @property
    def accounted(self) -> bool:
        return self.processed + self.dropped + self.skipped == self.delivered


class FrameSampler:
    """``sample_fps``: take a frame iff it is the first at or after the next sample time k / sample_fps.

    Decided from media time alone, so a file run samples the same frames every time. ``None`` takes all.
    """

    # float noise in index / fps must not push a frame that sits exactly on a sample time past it
    _EPS = 1e-9

    def __init__(self, sample_fps: float | None) -> None:
        self.sample_fps = sample_fps
        self._next_s = -math.inf

    def take(self, time_s: float) -> bool:
        if self.sample_fps is None:
            return True
        if time_s < self._next_s - self._EPS:
            return False
        # the next sample time strictly after this frame: frames denser than the rate are thinned out
        self._next_s = (math.floor(time_s * self.sample_fps + self._EPS) + 1) / self.sample_fps
        return True


@dataclass(frozen=True)
class ReadFrame:
    frame: Frame
    dropped_before: int  # frames replaced in the live slot since the previous one was taken


class LatestSlot:
    """A size-1 mailbox: put() replaces what is there; get() waits for something new."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object = None
        self._full = False
        self._dropped_since_get = 0

    def put(self, item: object) -> bool:
        """Put ``item``; True when it replaced a frame nobody took (that frame is dropped)."""
        with self._cond:
            # the end marker replacing a frame drops that frame too: it will never be taken
            replaced = self._full and self._item is not _END
            if replaced:
                self._dropped_since_get += 1
            self._item = item
            self._full = True
            self._cond.notify()
            return replaced

    def get(self, timeout: float | None = None) -> tuple[object, int]:
        with self._cond:
            if not self._cond.wait_for(lambda: self._full, timeout=timeout):
                raise queue.Empty
            item, dropped = self._item, self._dropped_since_get
            self._full = False
            self._item = None
            self._dropped_since_get = 0
            return item, dropped

    def clear(self) -> int:
        """Empty the slot; 1 when a frame was left in it (dropped), else 0."""
        with self._cond:
            left = int(self._full and self._item is not _END)
            self._full = False
            self._item = None
            return left


def settle_abandoned(counts: SourceCounts, abandoned: int, *, on_purpose: bool) -> None:
    """Account for frames decoded but never analysed when a run ended.

    Ended on purpose (a limit, a stop): the caller did not want them, so they were never really delivered
    (a run told to stop at 30 frames reports 30 of 30, not 6 dropped). Ended otherwise (an error): they
    were lost, so they are dropped. Either way processed + dropped + skipped == delivered still holds.
    """
    if on_purpose:
        counts.delivered -= abandoned
    else:
        counts.dropped += abandoned


class FrameReader:
    """Runs ``source.frames()`` on a daemon thread and hands frames over in file or live mode.

    ``counts`` (optional, else a fresh one) is filled as frames go: the reader thread writes
    ``delivered`` (every frame the source produced) and, in live mode, ``dropped`` (replaced in the slot).
    Frames decoded but never taken when iteration ends (live: the one left in the slot; either mode: the
    read-ahead) are ``abandoned``. A consumer that ends the run on purpose (``stop`` set, or it closes the
    iterator) never wanted them: they are taken off ``delivered``, not counted as dropped. An ending for
    any other reason counts them as dropped. ``settle=False`` leaves that to the caller (the pipeline,
    which knows why its run ended), with ``abandoned`` final once iteration is over.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        live: bool,
        stop: threading.Event | None = None,
        queue_size: int = 4,
        counts: SourceCounts | None = None,
        settle: bool = True,
    ) -> None:
        self.source = source
        self.live = live
        self.counts = counts if counts is not None else SourceCounts()
        self.settle = settle
        self.abandoned = 0  # decoded, never taken by the consumer (final once iteration is over)
        self._stop = stop or threading.Event()  # the caller's: only read here
        self._halt = threading.Event()  # ours: set when the consumer is done, for whatever reason
        self.error: BaseException | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._slot = LatestSlot()
        self._thread = threading.Thread(target=self._run, name="emodesk-reader", daemon=True)

    def _stopping(self) -> bool:
        return self._halt.is_set() or self._stop.is_set()

    def _hand_over(self, item: object) -> bool:
        if self.live:
            if self._slot.put(item):
                self.counts.dropped += 1
            return True
        return _put_until(self._queue, item, self._stopping)

    def _run(self) -> None:
        try:
            for frame in self.source.frames():
                self.counts.delivered += 1
                if self._stopping() or not self._hand_over(frame):
                    self.abandoned += 1  # decoded, but the run ended before it could be taken
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised on the consumer's thread
            self.error = exc
        finally:
            if self.live:
                # a consumer that is done leaves the slot's frame abandoned (counted after the join); only
                # a source that ended by itself replaces it with the end marker, a real drop
                if not self._stopping() and self._slot.put(_END):
                    self.counts.dropped += 1
            else:
                # the consumer may have stopped taking; never block the reader forever on the end marker
                _put_until(self._queue, _END, self._stopping)

    def _count_leftovers(self) -> None:
        """After the reader thread ended: frames handed over but never taken are abandoned."""
        self.abandoned += self._slot.clear() if self.live else _drain(self._queue)

    def __iter__(self) -> Iterator[ReadFrame]:
        self._thread.start()
        on_purpose = False
        try:
            while not self._stopping():
                try:
                    if self.live:
                        item, dropped = self._slot.get(timeout=0.1)
                    else:
                        item, dropped = self._queue.get(timeout=0.1), 0
                except queue.Empty:
                    continue
                if item is _END:
                    break
                try:
                    yield ReadFrame(item, dropped)  # type: ignore[arg-type]
                except GeneratorExit:
                    on_purpose = True  # the consumer closed us (a limit, a break)
                    raise
        finally:
            self._halt.set()
            self._thread.join(timeout=5.0)
            if self._thread.is_alive():
                log.warning("frame reader thread did not stop within 5 s; frame counts may be incomplete")
            else:
                self._count_leftovers()
                if self.settle:
                    settle_abandoned(self.counts, self.abandoned, on_purpose=on_purpose or self._stop.is_set())
        if self.error is not None:
            raise self.error


class Prefetch(Generic[T]):
    """Runs ``produce()`` on its own thread and hands its items over in order through a bounded queue.

    How the pipeline's stages overlap: the producer works on the next items while the consumer handles
    this one, at most ``size`` ahead, losing nothing. An exception in the producer is raised on the
    consumer's thread. When the consumer stops early (break, close), the producer is halted and joined,
    its generator closed on its own thread, and ``abandoned`` counts the items it made that were never
    taken (the one it held, and those left in the queue).
    """

    def __init__(self, produce: Callable[[], Iterator[T]], *, name: str, size: int = 2) -> None:
        self._produce = produce
        self._queue: queue.Queue[object] = queue.Queue(maxsize=size)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.error: BaseException | None = None
        self.abandoned = 0

    def _put(self, item: object) -> bool:
        return _put_until(self._queue, item, self._halt.is_set)

    def _run(self) -> None:
        items = self._produce()
        try:
            for item in items:
                if not self._put(item):
                    self.abandoned += 1
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised on the consumer's thread
            self.error = exc
        finally:
            try:
                close = getattr(items, "close", None)
                if close is not None:
                    close()  # the producer's own clean-up (a generator's finally), on this thread
            except BaseException as exc:  # noqa: BLE001 - re-raised on the consumer's thread
                self.error = self.error or exc
            finally:
                self._put(_END)

    def __iter__(self) -> Iterator[T]:
        self._thread.start()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if not self._thread.is_alive() and self._queue.empty():
                        break  # the producer died without its end marker; never wait forever
                    continue
                if item is _END:
                    break
                yield item  # type: ignore[misc]
        finally:
            self._halt.set()
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():
                log.warning("%s thread did not stop within 10 s", self._thread.name)
            self.abandoned += _drain(self._queue)
        if self.error is not None:
            raise self.error
