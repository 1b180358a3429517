"""Live line graph of the smoothed emotion probabilities over the last ``window_s`` seconds of media time.

Threading: results are produced on the pipeline's worker thread, but the main window hands them to this
widget on the GUI thread (a queued signal). ``add_result`` only copies numbers into preallocated ring
buffers; ``refresh`` - called by the main window's ~30 Hz display timer - is the only place that touches
pyqtgraph, and it does nothing when no new data arrived since the previous call. So a 60 fps source does
not cost 60 redraws per second, and a paused source costs nothing.

Memory is bounded: every track owns one ring of fixed capacity (``max(4096, window_s * 120)`` samples,
capped at 2**17: the whole window up to 120 fps of media time; faster sources or huge windows show a
shorter stretch), and a track not seen for longer than the window is dropped - it could not be displayed
any more anyway. So 8 faces for hours hold 9 rings (8 faces + the mean), about 2.7 MB at a 30 s window.

Following playback: while a file is analysed the view ends at the newest analysed frame; afterwards (and
when reviewing a saved session) the window gives the stored results around the frame on screen to
``load`` and centres the view on a cursor at that frame (``set_cursor``), never past the data's ends.

Seeking: when a result's time is earlier than the newest one seen (the user scrubbed back, or a file was
restarted), every sample at or after the new time is discarded and a gap is put in each line, so the
graph continues from the seek point with the history before it intact and never draws a line backwards
in time (pyqtgraph's clip-to-view also needs increasing x values).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QBuffer, QEvent, QIODevice, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette, QResizeEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from emodesk.atomic import atomic_file
from emodesk.core.events import Event
from emodesk.core.palette import emotion_rgb
from emodesk.core.results import FrameResult
from emodesk.core.valence import NEGATIVE, POSITIVE
from emodesk.errors import OutputError
from emodesk.inference.labels import CANONICAL_LABELS

log = logging.getLogger(__name__)

MIN_CAPACITY = 4096
MAX_CAPACITY = 1 << 17  # ~9.4 MB per track with 8 labels; 72 min of window at 30 fps
MAX_RATE_HZ = 120.0  # samples per second of media time a ring holds for a full window
EXPORT_MIN_WIDTH = 1200
COMPACT_HEIGHT = 260  # below this the axis titles are hidden so the lines keep some room
LEGEND_PT = 9
MEAN_TITLE = "All faces (mean)"
VALENCE_NAME = "valence"
MIN_SPAN_S = 1.0  # the narrowest time axis (a single sample still gets a readable axis)


def ring_capacity(window_s: float) -> int:
    """Samples per ring for a window: the whole window up to MAX_RATE_HZ, within [MIN_CAPACITY, MAX_CAPACITY]."""
    return min(MAX_CAPACITY, max(MIN_CAPACITY, math.ceil(window_s * MAX_RATE_HZ)))


class SampleRing:
    """A fixed-capacity circular buffer of (time, one value per label) samples in time order.

    Values are stored label-major, ``(n_labels, capacity)``, so that each label's series is a contiguous
    run of memory when it is copied out for a curve.
    """

    __slots__ = ("count", "head", "times", "values")

    def __init__(self, n_labels: int, capacity: int) -> None:
        self.times = np.full(capacity, np.nan)
        self.values = np.full((n_labels, capacity), np.nan)
        self.head = 0  # physical index the next sample goes to
        self.count = 0  # valid samples, oldest at physical index (head - count) % capacity

    @property
    def capacity(self) -> int:
        return self.times.shape[0]

    @property
    def nbytes(self) -> int:
        return self.times.nbytes + self.values.nbytes

    def append(self, t: float, row: np.ndarray) -> None:
        h = self.head
        self.times[h] = t
        self.values[:, h] = row
        self.head = (h + 1) % self.capacity
        if self.count < self.capacity:
            self.count += 1

    def last_time(self) -> float:
        return float(self.times[(self.head - 1) % self.capacity]) if self.count else -math.inf

    def _start(self) -> int:
        return (self.head - self.count) % self.capacity

    def _first_at_or_after(self, t: float) -> int:
        """Logical index (0 = oldest) of the first sample with time >= t; ``count`` when there is none."""
        start, cap = self._start(), self.capacity
        end1 = min(start + self.count, cap)
        first = self.times[start:end1]  # the older part, before the physical wrap
        if first.size and first[-1] >= t:
            return int(np.searchsorted(first, t, side="left"))
        second = self.times[: self.count - first.size]
        return first.size + int(np.searchsorted(second, t, side="left"))

    def since(self, t0: float) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the samples with time >= t0, oldest first: times ``(n,)`` and values ``(n_labels, n)``.

        Copies, not views: pyqtgraph keeps the arrays it is given, and the ring overwrites in place.
        """
        i = self._first_at_or_after(t0)
        cap = self.capacity
        a = (self._start() + i) % cap
        n = self.count - i
        if a + n <= cap:
            return self.times[a : a + n].copy(), self.values[:, a : a + n].copy()
        idx = np.r_[a:cap, 0 : a + n - cap]
        return self.times[idx], self.values[:, idx]

    def truncate_from(self, t: float) -> None:
        """Forget every sample with time >= t (the newest ones)."""
        keep = self._first_at_or_after(t)
        self.head = (self._start() + keep) % self.capacity
        self.count = keep

    def resized(self, capacity: int) -> SampleRing:
        """A ring of another capacity holding the newest samples of this one."""
        ring = SampleRing(self.values.shape[0], capacity)
        times, values = self.since(-math.inf)
        n = min(times.size, capacity)
        if n:
            ring.times[:n] = times[-n:]
            ring.values[:, :n] = values[:, -n:]
            ring.count = n
            ring.head = n % capacity
        return ring


class EmotionGraph(QWidget):
    """Smoothed probability per emotion over media time, for one face or the mean of all faces."""

    def __init__(self, labels: Sequence[str] = CANONICAL_LABELS, window_s: float = 30.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        self._window_s = float(window_s)
        self._capacity = ring_capacity(self._window_s)
        self._labels: tuple[str, ...] = ()
        self._selected: int | None = None
        self._context = ""
        self._valence_curve: pg.PlotDataItem | None = None
        self._event_lines: list[pg.InfiniteLine] = []
        self._baseline_region: pg.LinearRegionItem | None = None
        self._baselines: dict[int, np.ndarray] = {}  # face -> resting probabilities per label (NaN: absent)
        self._centre_t: float | None = None

        self.plot_widget = pg.PlotWidget(parent=self)
        self.plot_item: pg.PlotItem = self.plot_widget.getPlotItem()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget)

        plot = self.plot_item
        plot.setLabel("bottom", "media time", units="s")
        # Plain seconds: pyqtgraph would otherwise relabel the axis "ks" once a video passes 1000 s.
        plot.getAxis("bottom").enableAutoSIPrefix(False)
        plot.setLabel("left", "probability")
        # Some headroom: with the grid on, pyqtgraph drops a tick label that would stick out of the view
        # box, and "1.0" right at the top edge would vanish from the scale.
        plot.setYRange(0.0, 1.0, padding=0.05)
        # The x range is driven by the data clock (a scrolling window); the user zooming or the view
        # auto-ranging would fight it on every refresh.
        plot.setMouseEnabled(x=False, y=False)
        plot.disableAutoRange()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.showGrid(x=True, y=True, alpha=0.15)
        for name in ("left", "bottom"):
            # No third, finest tick level: its grid lines are dense clutter and, redrawn on every scroll
            # step, cost ~15 ms per frame on a software-rendered window (~2.5 ms without them).
            plot.getAxis(name).setStyle(maxTickLevel=1)
        plot.setClipToView(True)
        plot.setDownsampling(auto=True, mode="peak")
        # Outside the view box, below the x axis: a legend inside it would hide the top of the lines,
        # which is exactly where the dominant emotion is drawn.
        # the frame on screen (playback), drawn over the lines; hidden until there is one. Made before the
        # legend: a palette change delivered from here on (changeEvent) recolours both
        self._cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((255, 255, 255, 150), width=1))
        self._cursor.hide()
        plot.addItem(self._cursor, ignoreBounds=True)
        self.legend = pg.LegendItem(colCount=4, horSpacing=6, labelTextSize=f"{LEGEND_PT}pt", frame=False)
        plot.layout.addItem(self.legend, 4, 1)

        self.curves: dict[str, pg.PlotDataItem] = {}
        self._set_labels(labels)
        self._apply_palette()
        self._update_title()
        self._fit_to_size()

    # ---- public API -------------------------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def capacity(self) -> int:
        """Samples each ring holds (constant for a given window: memory does not grow with run time)."""
        return self._capacity

    @property
    def selected(self) -> int | None:
        """The face (track ID) shown, or None for the mean of all faces."""
        return self._selected

    @property
    def track_ids(self) -> list[int]:
        """The faces with data in memory (seen within the last window), in ID order."""
        return sorted(self._tracks)

    @property
    def title(self) -> str:
        return MEAN_TITLE if self._selected is None else f"Face #{self._selected}"

    def set_labels(self, labels: Sequence[str]) -> None:
        """Show these labels (the model changed); clears all data, since old rows have another layout."""
        self._set_labels(labels)
        self._apply_palette()  # the new legend labels need the text colour
        self._fit_to_size()
        self.refresh()

    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` of media time; resizes the rings when the needed capacity changes."""
        if not seconds > 0:
            raise ValueError(f"window must be > 0 seconds, got {seconds!r}")
        self._window_s = float(seconds)
        capacity = ring_capacity(self._window_s)
        if capacity != self._capacity:
            self._capacity = capacity
            self._tracks = {tid: ring.resized(capacity) for tid, ring in self._tracks.items()}
            self._mean = self._mean.resized(capacity)
        self._dirty = True

    def add_result(self, result: FrameResult) -> None:
        """Store one frame's smoothed probabilities (cheap; drawing happens in refresh())."""
        t = float(result.time_s)
        if not math.isfinite(t):
            log.debug("frame %d has no finite time (%r); not graphed", result.index, result.time_s)
            return
        if t < self._latest_t:
            self._rewind(t)
        if self._origin_t is None:
            self._origin_t = t

        n = len(self._labels)
        index = self._label_index
        rows = np.full((len(result.faces), n), np.nan)
        for k, face in enumerate(result.faces):
            row = rows[k]
            for label, p in face.smoothed.items():
                j = index.get(label)
                if j is not None:  # labels the model lacks stay NaN: no line rather than a false zero
                    row[j] = p
            ring = self._tracks.get(face.track_id)
            if ring is None:
                ring = self._tracks[face.track_id] = SampleRing(n, self._capacity)
            elif self._prev_t is not None and ring.last_time() < self._prev_t:
                # The face was missing from the previous frame: break its line instead of bridging the gap.
                ring.append(self._prev_t, self._nan_row)
            ring.append(t, row)

        if rows.shape[0]:
            finite = np.isfinite(rows)
            total = np.where(finite, rows, 0.0).sum(axis=0)
            seen = finite.sum(axis=0)
            mean = np.divide(total, seen, out=np.full(n, np.nan), where=seen > 0)
        else:
            mean = self._nan_row  # no face in this frame: a gap in the mean line
        self._mean.append(t, mean)

        self._latest_t = self._prev_t = t
        self._drop_stale(t)
        self._dirty = True

    def select(self, track_id: int | None) -> None:
        """Show one face (its track ID) or, with None, the mean of all faces; redraws at once."""
        self._selected = None if track_id is None else int(track_id)
        self._update_title()
        self._dirty = True
        self.refresh()  # a user action: answer now rather than on the next timer tick

    def refresh(self) -> None:
        """Push the visible window of the selected series into the curves (no-op without new data)."""
        if not self._dirty:
            return
        self._dirty = False
        ring = self._mean if self._selected is None else self._tracks.get(self._selected)
        t0 = self._view()[0]
        if ring is not None and ring.count:
            times, values = ring.since(t0)
        else:
            times, values = np.empty(0), np.empty((len(self._labels), 0))
        for j, label in enumerate(self._labels):
            self.curves[label].setData(times, values[j])
        if self._valence_curve is not None:
            base = None if self._selected is None else self._baselines.get(self._selected)
            self._valence_curve.setData(times, self._valence_of(values if base is None else self._calibrated(values, base)))
            label = self.legend.getLabel(self._valence_curve)
            if label is not None:  # say which probabilities the line is read from, as the report does
                label.setText(VALENCE_NAME + (" (calibrated)" if base is not None else ""))
        self._update_x_range()

    # ---- valence and event markers ---------------------------------------------------------------

    def set_valence_visible(self, visible: bool) -> None:
        """A valence line (happiness minus the strongest negative emotion, FaceReader's definition, from
        the shown probabilities) on a -1 … 1 scale; off by default."""
        if visible == (self._valence_curve is not None):
            return
        if visible:
            self._valence_curve = pg.PlotDataItem(
                pen=pg.mkPen(color=self.palette().color(QPalette.ColorRole.WindowText), width=2, style=Qt.PenStyle.DashLine),
                name=VALENCE_NAME,
                connect="finite",
                skipFiniteCheck=True,
            )
            self.plot_item.addItem(self._valence_curve)
            self.legend.addItem(self._valence_curve, VALENCE_NAME)
            self.plot_item.setYRange(-1.0, 1.0, padding=0.05)
            self.plot_item.setLabel("left", "probability · valence")
        else:
            self.plot_item.removeItem(self._valence_curve)
            self.legend.removeItem(self._valence_curve)
            self._valence_curve = None
            self.plot_item.setYRange(0.0, 1.0, padding=0.05)
            self.plot_item.setLabel("left", "probability")
        self._dirty = True
        self.refresh()

    @property
    def valence_visible(self) -> bool:
        return self._valence_curve is not None

    def set_baselines(self, baselines: Mapping[int, Mapping[str, float]]) -> None:
        """Each face's resting probabilities (core.baseline.face_baselines): the valence line of a selected
        face with a baseline is read from its calibrated probabilities, as in the exports and the session's
        valence_mean; the mean of all faces and faces without a baseline stay on smoothed probabilities."""
        self._baselines = {
            int(face_id): np.array([float(probs.get(label, math.nan)) for label in self._labels])
            for face_id, probs in baselines.items()
        }
        self._dirty = True
        self.refresh()

    @property
    def calibrated_faces(self) -> tuple[int, ...]:
        return tuple(sorted(self._baselines))

    def _calibrated(self, values: np.ndarray, base: np.ndarray) -> np.ndarray:
        """core.baseline.calibrate per column (neutral left out: valence does not read it): the part of each
        probability above the face's resting level; without a neutral label the values stay as they are."""
        if "neutral" not in self._label_index:
            return values
        total = np.nansum(values, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = values / np.where(total > 0, total, np.nan)
        return np.maximum(share - np.nan_to_num(base)[:, None], 0.0)

    def valence_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, valence) as the valence line draws them for the shown face (tests, the PNG)."""
        ring = self._mean if self._selected is None else self._tracks.get(self._selected)
        if ring is None or not ring.count:
            return np.empty(0), np.empty(0)
        times, values = ring.since(-math.inf)
        base = None if self._selected is None else self._baselines.get(self._selected)
        return times, self._valence_of(values if base is None else self._calibrated(values, base))

    def set_baseline(self, interval: object | None) -> None:
        """The baseline interval (start_s, end_s) as a shaded band on the time axis (None: none)."""
        if self._baseline_region is not None:
            self.plot_item.removeItem(self._baseline_region)
            self._baseline_region = None
        if interval is not None:
            self._baseline_region = pg.LinearRegionItem(
                values=(interval.start_s, interval.end_s), movable=False, brush=pg.mkBrush(90, 170, 255, 50)
            )
            self.plot_item.addItem(self._baseline_region, ignoreBounds=True)

    def _valence_of(self, values: np.ndarray) -> np.ndarray:
        index = self._label_index
        negatives = [index[label] for label in NEGATIVE if label in index]
        if POSITIVE not in index or not negatives or values.shape[1] == 0:
            return np.full(values.shape[1], np.nan)
        stacked = values[negatives]
        # a sample without any negative label (a gap) has no valence: NaN, without nanmax's warning
        seen = np.isfinite(stacked).any(axis=0)
        worst = np.full(values.shape[1], np.nan)
        worst[seen] = np.nanmax(stacked[:, seen], axis=0)
        return np.clip(values[index[POSITIVE]] - worst, -1.0, 1.0)

    # ---- following playback -----------------------------------------------------------------------

    def set_cursor(self, time_s: float | None, *, centre: bool = False) -> None:
        """A line at the frame on screen; with ``centre`` the view is centred on it (reviewing stored
        results) instead of following the newest sample (a running analysis, a live source)."""
        if time_s is None:
            self._cursor.hide()
        else:
            self._cursor.setValue(time_s)
            self._cursor.show()
        centre_t = time_s if centre else None
        if centre_t != self._centre_t:
            self._centre_t = centre_t
            self._dirty = True

    def data_span(self) -> tuple[float, float] | None:
        """Media time of the oldest and newest sample held (all faces), or None when empty."""
        if not self._mean.count or self._origin_t is None:
            return None
        times, _ = self._mean.since(-math.inf)
        finite = times[np.isfinite(times)]
        return (float(finite[0]), float(finite[-1])) if finite.size else None

    def load(self, results: Sequence[FrameResult]) -> None:
        """Replace the data with ``results`` (in frame order), keeping the selected face: stored results
        around the playback position, read back from the run or the saved session."""
        selected = self._selected
        self.clear()
        for result in results:
            self.add_result(result)
        self._selected = selected
        self._update_title()
        self._dirty = True
        self.refresh()

    def set_events(self, events: Sequence[Event]) -> None:
        """Event markers as vertical lines on the time axis, labelled."""
        for line in self._event_lines:
            self.plot_item.removeItem(line)
        colour = QColor(255, 196, 0)
        self._event_lines = []
        for event in events:
            line = pg.InfiniteLine(
                pos=event.time_s,
                angle=90,
                movable=False,
                pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                label=event.label,
                labelOpts={"position": 0.92, "color": colour, "anchors": [(0, 0), (0, 0)]},
            )
            self.plot_item.addItem(line, ignoreBounds=True)
            self._event_lines.append(line)

    @property
    def event_times(self) -> list[float]:
        return [float(line.value()) for line in self._event_lines]

    def clear(self) -> None:
        """Forget all data (a new source); the selection goes back to all faces."""
        self._tracks: dict[int, SampleRing] = {}
        self._mean = SampleRing(len(self._labels), self._capacity)
        self._latest_t = -math.inf
        self._prev_t: float | None = None
        self._origin_t: float | None = None
        self._selected = None
        self._baselines = {}
        if getattr(self, "_baseline_region", None) is not None:
            self.set_baseline(None)
        self._update_title()
        self._dirty = True
        self.refresh()

    def memory_bytes(self) -> int:
        """Bytes held by the ring buffers (for diagnostics and the memory-bound test)."""
        return self._mean.nbytes + sum(r.nbytes for r in self._tracks.values())

    def set_context(self, text: str) -> None:
        """What the exported PNG names besides the face and the time range (the emotion model)."""
        self._context = text

    def time_range(self) -> tuple[float, float] | None:
        """The media time the selected series spans in the shown window, or None without data."""
        ring = self._mean if self._selected is None else self._tracks.get(self._selected)
        if ring is None or not ring.count:
            return None
        times, _ = ring.since(self._latest_t - self._window_s)
        finite = times[np.isfinite(times)]
        return (float(finite[0]), float(finite[-1])) if finite.size else None

    def export_title(self) -> str:
        """Face, model and time range: a PNG found on its own still says what it shows."""
        parts = [self.title]
        if self._context:
            parts.append(self._context)
        span = self.time_range()
        if span is not None:
            parts.append(f"{span[0]:.1f}–{span[1]:.1f} s")
        return " · ".join(parts)

    def render_png(self) -> bytes:
        """The graph as PNG bytes, at least EXPORT_MIN_WIDTH pixels wide, with axis titles and a title
        naming the face, the model and the time range. Qt painting: call on the GUI thread; writing the
        bytes to a file is left to the caller (the window does it off the GUI thread)."""
        self.refresh()
        item = self.plot_item
        shown = item.geometry()
        colour = self.palette().color(QPalette.ColorRole.WindowText).name()
        try:
            # Lay the plot out at the export size and render 1:1, instead of letting the exporter scale a
            # small on-screen plot up: scaling gives fat text and lines, and the legend (drawn ignoring
            # transformations) would not scale with the rest.
            size = self._export_size(shown.width(), shown.height())
            self._fit_legend(size[0])
            for name in ("left", "bottom"):
                item.getAxis(name).showLabel(True)  # the on-screen compact mode hides them; a file never does
            item.setTitle(self.export_title(), color=colour, size="11pt")
            item.setGeometry(0, 0, *size)
            item.layout.activate()
            exporter = ImageExporter(item)
            params = exporter.parameters()
            params["width"] = max(EXPORT_MIN_WIDTH, int(params["width"]))  # the height follows the aspect
            # Opaque, so the file reads the same in any viewer, whatever the window's theme.
            params["background"] = self.palette().color(QPalette.ColorRole.Window)
            image = exporter.export(toBytes=True)
        except Exception as exc:  # pyqtgraph raises bare Exceptions
            raise OutputError(f"cannot render the emotion graph: {exc}") from exc
        finally:
            item.setGeometry(shown)
            self._update_title()
            self._fit_to_size()
        if image is None or image.isNull():
            raise OutputError("cannot render the emotion graph: empty image")
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not image.save(buffer, "PNG"):
            raise OutputError("cannot encode the emotion graph as PNG")
        log.info("graph rendered (%dx%d)", image.width(), image.height())
        return bytes(buffer.data())

    def export_png(self, path: Path) -> Path:
        """Render (see render_png) and write ``path``; returns the path. For scripts and tests: the window
        renders on the GUI thread and writes on its job thread."""
        path = Path(path)
        data = self.render_png()
        if not path.parent.is_dir():
            raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
        with atomic_file(path) as out:
            out.write(data)
        return path

    # ---- internals --------------------------------------------------------------------------------

    def _set_labels(self, labels: Sequence[str]) -> None:
        self._labels = tuple(labels)
        self._label_index = {label: j for j, label in enumerate(self._labels)}
        self._nan_row = np.full(len(self._labels), np.nan)
        self._nan_row.setflags(write=False)
        for curve in self.curves.values():
            self.plot_item.removeItem(curve)
        self.legend.clear()
        self.curves = {}
        for label in self._labels:
            curve = pg.PlotDataItem(
                pen=pg.mkPen(color=emotion_rgb(label), width=2),
                name=label,
                # 'finite' breaks the line at NaN (gaps, labels a model lacks); the rings never hold inf,
                # so pyqtgraph's per-refresh finite scan can be skipped.
                connect="finite",
                skipFiniteCheck=True,
            )
            self.plot_item.addItem(curve)
            self.legend.addItem(curve, label)
            self.curves[label] = curve
        if self._valence_curve is not None:
            self.legend.addItem(self._valence_curve, VALENCE_NAME)  # the legend was cleared with the labels
        self.clear()

    def _rewind(self, t: float) -> None:
        """Time went backwards (a seek): drop what lies at or after ``t`` and break every line there."""
        log.debug("media time went back from %.3f s to %.3f s; graph history after it dropped", self._latest_t, t)
        for ring in (*self._tracks.values(), self._mean):
            ring.truncate_from(t)
            if ring.count:
                ring.append(t, self._nan_row)
        self._tracks = {tid: ring for tid, ring in self._tracks.items() if ring.count}
        self._latest_t = t
        self._prev_t = None
        if self._origin_t is not None and t < self._origin_t:
            self._origin_t = t

    def _drop_stale(self, now: float) -> None:
        cutoff = now - self._window_s
        stale = [tid for tid, ring in self._tracks.items() if ring.last_time() < cutoff]
        for tid in stale:
            del self._tracks[tid]
        if stale:
            log.debug("dropped graph history of faces %s (not seen for %.0f s)", stale, self._window_s)

    def _view(self) -> tuple[float, float]:
        """The time range shown: centred on the playback cursor when following it, else the window ending
        at the newest sample (filled from the left until a whole window has passed)."""
        if self._centre_t is not None and math.isfinite(self._latest_t) and self._origin_t is not None:
            # centred on the cursor, but never past either end of the data: no empty seconds shown
            hi = min(self._centre_t + self._window_s / 2.0, self._latest_t)
            lo = max(self._origin_t, hi - self._window_s)
            hi = max(hi, min(lo + self._window_s, self._latest_t), lo + MIN_SPAN_S)
            return lo, hi
        if not math.isfinite(self._latest_t):
            return 0.0, self._window_s
        hi = self._latest_t
        lo = hi - self._window_s
        if self._origin_t is not None and lo < self._origin_t:
            # Until a full window has passed, span the data only: the axis starts where the data does
            # and ends at the newest sample, instead of showing seconds that hold nothing yet.
            lo, hi = self._origin_t, max(hi, self._origin_t + MIN_SPAN_S)
        return lo, hi

    def _update_x_range(self) -> None:
        lo, hi = self._view()
        self.plot_item.setXRange(lo, hi, padding=0)

    def _update_title(self) -> None:
        colour = self.palette().color(QPalette.ColorRole.WindowText).name()
        self.plot_item.setTitle(self.title, color=colour, size="11pt")

    def _apply_palette(self) -> None:
        """Follow the widget palette (light or dark Fusion) for background, axes, grid, title and legend."""
        pal = self.palette()
        background = pal.color(QPalette.ColorRole.Window)
        text = pal.color(QPalette.ColorRole.WindowText)
        self.plot_widget.setBackground(background)
        axis_colour = QColor(text)
        axis_colour.setAlpha(160)  # axes and grid a step quieter than the text and the data
        for name in ("left", "bottom"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(pg.mkPen(axis_colour))
            axis.setTextPen(pg.mkPen(text))
        cursor = QColor(text)
        cursor.setAlpha(170)
        self._cursor.setPen(pg.mkPen(cursor, width=1))
        self.legend.setLabelTextColor(text)
        for _sample, label_item in self.legend.items:
            # setLabelTextColor only stores the colour; the text is rendered again only by setText.
            label_item.setText(label_item.text, color=text)
        self._update_title()

    @staticmethod
    def _export_size(width: float, height: float) -> tuple[int, int]:
        """At least EXPORT_MIN_WIDTH wide, keeping the on-screen shape unless it is odd (or never shown)."""
        w = max(EXPORT_MIN_WIDTH, int(width))
        aspect = width / height if height > 0 else 0.0
        if not 1.2 <= aspect <= 4.0:
            aspect = 2.0
        return w, round(w / aspect)

    def _fit_legend(self, width: float) -> None:
        """As many legend columns as fit the width: one row when wide, so the lines keep the height."""
        font = QFont(self.font())
        font.setPointSizeF(LEGEND_PT)
        text = max((QFontMetrics(font).horizontalAdvance(label) for label in self._labels), default=40)
        entry = 20 + 6 + text + 24  # sample line, spacing, text, gap to the next entry
        columns = max(1, min(len(self._labels), int((width - 60) // entry)))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)

    def _fit_to_size(self) -> None:
        self._fit_legend(self.width())
        compact = self.height() < COMPACT_HEIGHT
        for name in ("left", "bottom"):
            self.plot_item.getAxis(name).showLabel(not compact)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_to_size()

    def changeEvent(self, event: QEvent) -> None:
        # hasattr: Qt may deliver a palette change while __init__ is still building the plot.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange) and hasattr(self, "legend"):
            self._apply_palette()
        super().changeEvent(event)
