"""The charts of the PDF report, drawn with matplotlib onto axes the caller gives (or new figures).

The report composes them into pages; ``emodesk.plot`` returns them as figures for notebooks, so a
researcher gets exactly the report's charts. Figures are made with ``matplotlib.figure.Figure`` rather
than pyplot: no GUI backend, no global figure list, safe off the main thread and headless.
Colours are the window's (core/palette.py): one per emotion everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from emodesk.core.export.view import FaceSummary, SessionView
from emodesk.core.palette import emotion_rgb

EVENT_COLOUR = "#333333"
BASELINE_COLOUR = "#9aa5b1"
POSITIVE_COLOUR = "#2e9e5b"
NEGATIVE_COLOUR = "#d1495b"
MAX_POINTS = 2000  # per line on a page; longer series are drawn as means of equal runs
MAX_EVENT_NAMES = 15  # more event lines than this are drawn without their names (they would overlap)


def emotion_colour(label: str) -> tuple[float, float, float]:
    r, g, b = emotion_rgb(label)
    return r / 255, g / 255, b / 255


def draw_events(ax: Axes, view: SessionView, *, names: bool = True) -> None:
    """Each event as a vertical line at its start (a light band over an interval with a duration), its
    name along the top; the baseline interval as a grey band."""
    if view.baseline is not None:
        ax.axvspan(view.baseline.start_s, view.baseline.end_s, color=BASELINE_COLOUR, alpha=0.18, lw=0, zorder=0)
    top = blended_transform_factory(ax.transData, ax.transAxes)
    named = len(view.spans) <= MAX_EVENT_NAMES
    for span in view.spans:
        if span.event.duration_s:
            ax.axvspan(span.start_s, span.end_s, color=EVENT_COLOUR, alpha=0.06, lw=0, zorder=0)
        # many events: fainter lines, so that the curves stay visible between them
        ax.axvline(span.start_s, color=EVENT_COLOUR, lw=0.8 if named else 0.4, ls="--", alpha=1.0 if named else 0.4, zorder=1)
        if named and names:
            ax.text(span.start_s, 0.98, f" {span.event.label}", transform=top, fontsize=6.5, color=EVENT_COLOUR,
                    va="top", ha="left", rotation=90, clip_on=True)  # fmt: skip


def _time_axis(ax: Axes, view: SessionView) -> None:
    ax.set_xlim(0, max(view.duration_s, 1e-3))
    ax.set_xlabel("time (s)")
    ax.grid(True, lw=0.3, alpha=0.5)


def _thin(t: np.ndarray, *ys: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, ...]:
    """Long series as the means of ``max_points`` equal runs of samples: an hour at 30 fps is 108,000
    points per line, more than a page can show, and a PDF that large renders slowly in every viewer."""
    if len(t) <= max_points:
        return (t, *ys)
    edges = np.linspace(0, len(t), max_points + 1).astype(int)
    out = [np.add.reduceat(t, edges[:-1]) / np.diff(edges)]
    with np.errstate(invalid="ignore"):
        for y in ys:
            finite = ~np.isnan(y)
            sums = np.add.reduceat(np.where(finite, y, 0.0), edges[:-1])
            counts = np.add.reduceat(finite.astype(float), edges[:-1])
            out.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
    return tuple(out)


def _break_gaps(view: SessionView, t: np.ndarray, *ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """A NaN between samples further apart than a few analysed frames (or a 500th of the session), so a
    face that left and came back is drawn as two lines, not one bridging the time it was away."""
    if len(t) < 2:
        return (t, *ys)
    gap = max(3 * view.frame_step_s, view.duration_s / 500)
    cuts = np.nonzero(np.diff(t) > gap)[0] + 1
    return tuple(np.insert(a.astype(float), cuts, np.nan) for a in (t, *ys))


def draw_timeline(ax: Axes, view: SessionView, face_id: int, *, values: str = "smoothed", legend: bool = True) -> None:
    """Probability of each emotion over time for one face (``values``: smoothed or calibrated); for a
    still image (one analysed frame) the probabilities of that frame as bars."""
    series = view.series(face_id)
    if view.is_still:
        probs = [float(series[f"{values}_{label}"][0]) for label in view.labels]
        ax.bar(range(len(view.labels)), np.nan_to_num(probs), color=[emotion_colour(label) for label in view.labels],
               edgecolor="#555555", lw=0.4)  # fmt: skip
        ax.set_xticks(range(len(view.labels)), list(view.labels), fontsize=6.5)
        ax.set_ylim(0, 1.02)
        ax.set_ylabel(f"{values} probability")
        ax.grid(True, axis="y", lw=0.3, alpha=0.5)
        return
    t, *ys = _break_gaps(view, *_thin(series["time_s"], *(series[f"{values}_{label}"] for label in view.labels)))
    for label, y in zip(view.labels, ys):
        if np.isnan(y).all():
            continue
        ax.plot(t, y, color=emotion_colour(label), lw=1.1, label=label, marker="." if len(t) < 3 else None)
    draw_events(ax, view)
    _time_axis(ax, view)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(f"{values} probability")
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False, borderaxespad=0)


def draw_valence(ax: Axes, view: SessionView, face_id: int) -> None:
    """Valence over time, green above zero and red below; for a still image, its one value as a bar."""
    series = view.series(face_id)
    basis = "calibrated" if face_id in view.baselines else "smoothed"
    if view.is_still:
        value = float(series["valence"][0])
        if not np.isnan(value):
            ax.barh([0], [value], color=POSITIVE_COLOUR if value >= 0 else NEGATIVE_COLOUR, height=0.5)
            ax.text(value, 0, f" {value:+.2f} ", va="center", ha="left" if value >= 0 else "right", fontsize=8)
        ax.axvline(0, color="#777777", lw=0.6)
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_xlabel(f"valence ({basis})")
        return
    t, v = _break_gaps(view, *_thin(series["time_s"], series["valence"]))
    ax.axhline(0, color="#777777", lw=0.6)
    if not np.isnan(v).all():
        ax.plot(t, v, color="#222222", lw=1.0, marker="." if len(t) < 3 else None)
        ax.fill_between(t, v, 0, where=v >= 0, color=POSITIVE_COLOUR, alpha=0.35, lw=0, interpolate=True)
        ax.fill_between(t, v, 0, where=v < 0, color=NEGATIVE_COLOUR, alpha=0.35, lw=0, interpolate=True)
    else:
        ax.text(0.5, 0.5, "no valence: the model lacks happiness or the negative emotions", transform=ax.transAxes,
                ha="center", va="center", fontsize=8)  # fmt: skip
    draw_events(ax, view, names=False)
    _time_axis(ax, view)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel(f"valence ({basis})")


def draw_distribution_bars(ax: Axes, summary: FaceSummary, labels: Sequence[str]) -> None:
    """Frames in which each emotion was the face's top (smoothed) emotion."""
    counts = [summary.dominant_counts.get(label, 0) for label in labels]
    total = max(sum(counts), 1)
    bars = ax.bar(range(len(labels)), counts, color=[emotion_colour(label) for label in labels], edgecolor="#555555", lw=0.4)
    for bar, count in zip(bars, counts):
        if count:
            ax.annotate(f"{100 * count / total:.0f}%", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=6.5, xytext=(0, 1), textcoords="offset points")  # fmt: skip
    # horizontal names: rotated ones collide with the axis and the table below; 6.5 pt fits 8 labels
    ax.set_xticks(range(len(labels)), list(labels), fontsize=6.5)
    ax.set_ylabel("frames as top emotion")
    ax.set_ylim(0, max(counts + [1]) * 1.15)
    ax.grid(True, axis="y", lw=0.3, alpha=0.5)


def draw_distribution_pie(ax: Axes, summary: FaceSummary, labels: Sequence[str]) -> None:
    """The same distribution as a pie; slices under 4 % are left unnamed (the bars give them)."""
    items = [(label, summary.dominant_counts.get(label, 0)) for label in labels]
    items = [(label, n) for label, n in items if n > 0]
    if not items:
        ax.text(0.5, 0.5, "no emotion", ha="center", va="center", transform=ax.transAxes)
        ax.axis("off")
        return
    total = sum(n for _, n in items)
    names = [label if n / total >= 0.04 else "" for label, n in items]
    ax.pie([n for _, n in items], labels=names, colors=[emotion_colour(label) for label, _ in items],
           autopct=lambda pct: f"{pct:.0f}%" if pct >= 4 else "", pctdistance=0.7, labeldistance=1.08,
           startangle=90, counterclock=False, wedgeprops={"edgecolor": "white", "linewidth": 0.8},
           textprops={"fontsize": 7})  # fmt: skip
    ax.set_aspect("equal")


def probability_table_rows(summary: FaceSummary, labels: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-emotion table: top-emotion frames, mean raw / smoothed probability, the
    face's baseline and mean calibrated probability (when it has a baseline), and mean confidence (over
    the frames where that emotion was on top)."""
    header = ["emotion", "frames on top", "mean raw p", "mean smoothed p"]
    if summary.baseline is not None:
        header.append("baseline p")
    if summary.mean_calibrated is not None:
        header.append("mean calibrated p")
    header.append("mean confidence")
    rows = []
    for label in labels:
        row = [label, str(summary.dominant_counts.get(label, 0)), _num(summary.mean_probs.get(label)),
               _num(summary.mean_smoothed.get(label))]  # fmt: skip
        if summary.baseline is not None:
            row.append(_num(summary.baseline.probs.get(label)))
        if summary.mean_calibrated is not None:
            row.append(_num(summary.mean_calibrated.get(label)))
        row.append(_num(summary.mean_confidence.get(label)))
        rows.append(row)
    return header, rows


def draw_table(ax: Axes, header: Sequence[str], rows: Sequence[Sequence[str]], *, fontsize: float = 7.5,
               widths: Sequence[float] | None = None, colours: Sequence[Any] | None = None) -> None:  # fmt: skip
    """A table filling ``ax`` (axes hidden). Column ``widths`` default to the longest text of each column;
    ``colours`` tint the first cell of each row (the emotion's colour)."""
    ax.axis("off")
    if not rows:
        return
    if widths is None:
        longest = [max(len(str(c)) for c in col) + 2 for col in zip(header, *rows)]
        widths = [n / sum(longest) for n in longest]
    table = ax.table(cellText=[list(map(str, r)) for r in rows], colLabels=list(header), colWidths=list(widths),
                     bbox=(0, 0, 1, 1), cellLoc="left")  # fmt: skip
    table.auto_set_font_size(False)
    table.set_fontsize(fontsize)
    for (r, _c), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        cell.PAD = 0.02
        if r == 0:
            cell.set_facecolor("#e8ecf0")
            cell.set_text_props(weight="bold")
    for r, colour in enumerate(colours or (), start=1):
        if colour is not None:
            table[r, 0].set_facecolor((*colour, 0.35))


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


# ---------------------------------------------------------------------- whole figures (notebooks)


def timeline_figure(view: SessionView, face_id: int, *, values: str = "smoothed") -> Figure:
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.add_subplot()
    draw_timeline(ax, view, face_id, values=values)
    ax.set_title(f"Face #{face_id}: {values} emotion probabilities")
    return fig


def valence_figure(view: SessionView, face_id: int) -> Figure:
    fig = Figure(figsize=(9, 2.4), layout="constrained")
    ax = fig.add_subplot()
    draw_valence(ax, view, face_id)
    ax.set_title(f"Face #{face_id}: valence")
    return fig


def distribution_figure(view: SessionView, face_id: int) -> Figure:
    summary = view.summary(face_id)
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    bars, pie = fig.subplots(1, 2, width_ratios=[1.4, 1])
    draw_distribution_bars(bars, summary, view.labels)
    draw_distribution_pie(pie, summary, view.labels)
    fig.suptitle(f"Face #{face_id}: top emotion per frame ({summary.frames_seen} frames)")
    return fig


def event_means_rows(view: SessionView, face_id: int) -> tuple[list[str], list[list[str]]]:
    """Rows: the reference (the baseline, or the whole session without one), then each event, with the
    mean smoothed probability of each emotion in percent and the mean valence; event rows add, in
    brackets, the difference from the reference (percentage points; valence units)."""
    ref_name, ref_means, ref_valence = view.reference_means(face_id)
    header = ["interval", "frames", *[f"{label[:5]} %" for label in view.labels], "valence"]
    reference = [ref_name, "", *[_pct(ref_means[label]) for label in view.labels], _num(ref_valence, 2)]
    rows = [reference]
    for label, start, end, means, val, n in view.event_means(face_id):
        cells = [f"{label} ({start:.1f}-{end:.1f} s)", str(n)]
        for emotion in view.labels:
            value, ref = means[emotion], ref_means[emotion]
            cells.append(_pct(value) if value is None or ref is None else f"{_pct(value)} ({round(100 * (value - ref)):+d})")
        cells.append(_num(val, 2) if val is None or ref_valence is None else f"{val:+.2f} ({val - ref_valence:+.2f})")
        rows.append(cells)
    return header, rows


def event_table_widths(labels: int) -> list[float]:
    """Interval name, frame count, one column per emotion, valence."""
    return [0.25, 0.06] + [0.56 / labels] * labels + [0.13]


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}"


def event_means_figure(view: SessionView, face_id: int) -> Figure:
    header, rows = event_means_rows(view, face_id)
    fig = Figure(figsize=(11, 0.5 + 0.22 * (len(rows) + 1)), layout="constrained")
    ax = fig.add_subplot()
    draw_table(ax, header, rows, fontsize=7, widths=event_table_widths(len(view.labels)))
    ax.set_title(f"Face #{face_id}: mean per event (difference from {rows[0][0]})", fontsize=9)
    return fig
