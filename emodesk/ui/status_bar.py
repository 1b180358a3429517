"""Status bar: source, resolution, capture and analysis rates, drops, latency, provider and models."""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from emodesk.core.sources import SourceInfo
from emodesk.inference.base import ModelInfo


class RateMeter:
    """Events per second over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, count: int = 1, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._times.extend([now] * count)
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(now - self._times[0], 1e-6)

    def reset(self) -> None:
        self._times.clear()


class AnalysisStatusBar(QStatusBar):
    """Source, mode, rates, drops and latency of the *current* analysis run, provider and models.

    Counts start again with every analysis run (``start_run``), so progress and drops never include an
    earlier run. Latency is only shown while frames arrive: paused or ended, there is no latency to show.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = QLabel("no source")
        self.mode = QLabel("")
        self.resolution = QLabel("")
        self.rates = QLabel("")
        self.latency = QLabel("")
        self.provider = QLabel("models not loaded")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: model loading has no measurable steps
        self.busy.setMaximumWidth(90)
        self.busy.hide()
        for w in (self.source, self.resolution):
            self.addWidget(w)
        # permanent: a passing message ("Models ready…") must not hide how the source is analysed
        for w in (self.mode, self.rates, self.latency):
            self.addPermanentWidget(w)
        self.addPermanentWidget(self.busy)
        self.addPermanentWidget(self.provider)
        self.capture = RateMeter()
        self.analysis = RateMeter()
        self.live = False
        self.running = False
        self.analysed = 0
        self.dropped = 0
        self.expected: int | None = None
        self.latency_ms: float | None = None

    def set_source(self, info: SourceInfo | None, label: str = "", *, mode: str = "") -> None:
        """A new source; ``mode`` says how it is analysed (e.g. "live: latest frame wins")."""
        self.source.setText(label or "no source")
        self.mode.setText(mode)
        self.resolution.setText(f"{info.width}×{info.height}" if info and info.width else "")

    def start_run(self, *, live: bool, expected: int | None = None) -> None:
        """A new analysis run: every counter starts from zero."""
        self.capture.reset()
        self.analysis.reset()
        self.live = live
        self.running = True
        self.analysed = 0
        self.dropped = 0
        self.expected = expected
        self.latency_ms = None

    def end_run(self) -> None:
        self.running = False
        self.latency_ms = None

    def set_models(self, models: list[ModelInfo]) -> None:
        providers = {m.providers[0].removesuffix("ExecutionProvider") for m in models if m.providers}
        names = " + ".join(m.id for m in models)
        self.provider.setText(f"{'/'.join(sorted(providers))} · {names}")
        self.provider.setToolTip("\n".join(f"{m.id}: {', '.join(m.providers)} — {m.licence}" for m in models))

    def count_frame(self, dropped: int) -> None:
        self.analysed += 1
        self.analysis.tick()
        self.capture.tick(1 + dropped)
        self.dropped += dropped

    def set_counts(self, processed: int, dropped: int) -> None:
        """The run's own accounting (its snapshot): what the session file will say, drops at the end included."""
        self.analysed, self.dropped = processed, dropped

    def note_latency(self, ms: float) -> None:
        if not self.running:
            return  # a frame shown after the run ended (paused, stopped): no live latency
        # smoothed so the number is readable, not a flicker
        self.latency_ms = ms if self.latency_ms is None else 0.8 * self.latency_ms + 0.2 * ms

    def refresh(self) -> None:
        if not self.running and not self.analysed:
            self.rates.setText("")
        elif self.live:
            self.rates.setText(
                f"capture {self.capture.rate():.1f} fps · analysis {self.analysis.rate():.1f} fps · dropped {self.dropped}"
            )
        else:
            of = f" of {self.expected}" if self.expected else ""
            rate = f" · {self.analysis.rate():.1f} fps" if self.running else ""
            self.rates.setText(f"analysed {self.analysed}{of}{rate}")
        shown = self.running and self.live and self.latency_ms is not None
        self.latency.setText(f"latency {self.latency_ms:.0f} ms" if shown else "")
