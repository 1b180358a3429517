"""PDF report of a session, drawn with matplotlib's Agg/PDF backends (headless, fonts embedded).

Pages: an overview (source, status and warnings, models with licences and providers, settings, baseline,
events); one page per face, most seen first (the top ``max_faces``; the others in a table on a page of
their own): thumbnail, time on screen, emotion timeline, valence timeline, top-emotion distribution as
bars and as a pie, and a table of mean probability and confidence per emotion; then, when the session
has events, each face's mean of every emotion and of valence within each event against its baseline.

Layout is in inches from the page's top-left corner, so A4 and Letter both come out readable: only the
page size changes. Fonts are embedded as TrueType (``pdf.fonttype`` 42) so that text stays text
(searchable, ``pdftotext``-readable) on every viewer.
"""

from __future__ import annotations

import logging
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Figure + PdfPages draw with Agg/PDF canvases directly: no pyplot, no GUI backend, and a notebook's own
# backend choice is left alone
from matplotlib import rc_context
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from emodesk import __version__
from emodesk.atomic import atomic_file
from emodesk.core.export import figures
from emodesk.core.export.view import (
    FaceSummary,
    Progress,
    SessionView,
    as_view,
    check_cancel,
)
from emodesk.core.sources import VideoFileSource, read_image
from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)

PAPER_INCHES = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
MARGIN_IN = 0.6
MAX_FACES = 8  # faces with a page of their own; the rest share a table
MAX_EVENT_ROWS = 40  # on the overview page; the per-event page lists every event
THUMB_PX = 240

RC = {
    "pdf.fonttype": 42,  # embed TrueType: text stays selectable and pdftotext-readable
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
}


class _Page:
    """A page laid out top to bottom: ``take(h)`` reserves ``h`` inches below what is already there."""

    def __init__(self, paper: str, title: str, footer: str) -> None:
        self.w, self.h = PAPER_INCHES[paper]
        self.fig = Figure(figsize=(self.w, self.h))
        self.y = MARGIN_IN  # inches from the top already used
        self.fig.text(MARGIN_IN / self.w, 1 - 0.35 / self.h, footer, fontsize=6.5, color="#666666", va="center")
        self.text(title, size=14, weight="bold", gap=0.12)

    @property
    def width(self) -> float:
        return self.w - 2 * MARGIN_IN

    def room(self) -> float:
        return self.h - MARGIN_IN - self.y

    def take(self, height: float) -> float:
        top = self.y
        self.y += height
        return top

    def axes(self, height: float, *, left: float = 0.0, width: float | None = None, top: float | None = None) -> Any:
        """Axes ``height`` inches tall at ``top`` (default: the next free line), ``left`` inches in."""
        top = self.take(height) if top is None else top
        width = self.width - left if width is None else width
        x, w = (MARGIN_IN + left) / self.w, width / self.w
        return self.fig.add_axes((x, 1 - (top + height) / self.h, w, height / self.h))

    def text(self, text: str, *, size: float = 8, weight: str = "normal", gap: float = 0.04, left: float = 0.0,
             colour: str = "black") -> None:  # fmt: skip
        line = size / 72 * 1.35
        top = self.take(line + gap)
        self.fig.text((MARGIN_IN + left) / self.w, 1 - (top + line * 0.8) / self.h, text, fontsize=size,
                      weight=weight, color=colour, va="baseline")  # fmt: skip

    def lines(self, lines: Sequence[str], *, size: float = 8, width_chars: int = 110, indent: str = "") -> None:
        """Each line wrapped to the page; ``indent`` starts its continuation lines (lists of items)."""
        for line in lines:
            for part in textwrap.wrap(line, width_chars, subsequent_indent=indent) or [""]:
                self.text(part, size=size, gap=0.0)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]], *, size: float = 7.5,
              widths: Sequence[float] | None = None, colours: Sequence[Any] | None = None) -> None:  # fmt: skip
        ax = self.axes(size / 72 * 2.0 * (len(rows) + 1))
        figures.draw_table(ax, header, rows, fontsize=size, widths=widths, colours=colours)
        self.take(0.08)


class _Report:
    def __init__(self, view: SessionView, paper: str, max_faces: int) -> None:
        if paper not in PAPER_INCHES:
            raise EmodeskError(f"paper {paper!r} is not one of {', '.join(PAPER_INCHES)}")
        self.view, self.paper, self.max_faces = view, paper, max_faces
        doc = view.document
        self.name = Path(str(view.source.get("path") or "session")).name
        self.footer = (
            f"emodesk {doc.get('app_version', '?')} report of {self.name} · session created {doc.get('created', '?')} · "
            f"report by emodesk {__version__}"
        )
        self.pages: list[Figure] = []

    def page(self, title: str) -> _Page:
        page = _Page(self.paper, title, self.footer)
        self.pages.append(page.fig)
        return page

    # ------------------------------------------------------------------ page 1
    def overview(self) -> None:
        view, doc = self.view, self.view.document
        src = view.source
        p = self.page(f"Emotion analysis report: {self.name}")
        p.text("Source", size=10, weight="bold", gap=0.06)
        size = f"{src.get('width', '?')}×{src.get('height', '?')} px"
        if view.is_still:  # a photo: no duration or frame rate to speak of
            p.lines([f"name: {self.name}    ({src.get('kind', '?')})", f"path: {src.get('path', '?')}", f"size: {size}"])
        else:
            fps = f"{src['fps']:g} fps" if src.get("fps") else "frame rate unknown"
            frames = f"{src['frame_count']} frames" if src.get("frame_count") else "frame count unknown"
            p.lines([
                f"name: {self.name}    ({src.get('kind', '?')}{', live' if src.get('live') else ''})",
                f"path: {src.get('path', '?')}",
                f"duration: {view.duration_s:.2f} s    size: {size}    {fps}    {frames}",
            ])  # fmt: skip
        p.take(0.08)
        p.text("Status", size=10, weight="bold", gap=0.06)
        counts = doc.get("counts") or {}
        p.lines([
            (f"status: {doc.get('status', '?')}    frames analysed: {doc.get('frames_processed', len(view.frames))} "
             f"({_analysis_mode(doc)})    dropped: {doc.get('frames_dropped', 0)}"
             + (f"    skipped by sampling: {counts['skipped']}" if counts.get("skipped") else "")),
            f"faces tracked: {len(view.summaries)}    face-frames: {view.face_count}",
        ])  # fmt: skip
        warnings = doc.get("warnings") or []
        p.lines([f"warning: {w}" for w in warnings] or ["warnings: none"], indent="    ")
        p.take(0.08)
        p.text("Models", size=10, weight="bold", gap=0.06)
        models = doc.get("models") or []
        p.table(
            ["model", "kind", "licence", "commercial use", "ran on"],
            [[m.get("id", "?"), m.get("kind", "?").replace("_", " "), m.get("licence", "?"),
              "yes" if m.get("commercial_use") else "no", ", ".join(m.get("providers") or [])] for m in models],
        )  # fmt: skip
        p.text("Settings", size=10, weight="bold", gap=0.06)
        settings = doc.get("settings") or {}
        pairs = [f"{k}: {_value(v)}" for k, v in settings.items()]
        half = (len(pairs) + 1) // 2
        top = p.y
        for column, chunk in enumerate((pairs[:half], pairs[half:])):
            p.y = top
            for line in chunk:
                p.text(line, left=column * p.width / 2, gap=0.0)
        p.y = top + half * (8 / 72 * 1.35)
        p.take(0.08)
        p.text("Baseline", size=10, weight="bold", gap=0.06)
        if view.baseline is None:
            p.lines(["none: no calibrated values; valence is computed from the smoothed probabilities"])
        else:
            seen = ", ".join(f"#{b.face_id} ({b.frames} frames)" for b in view.baselines.values()) or "no face"
            p.lines([
                f"interval: {view.baseline.start_s:g} s to {view.baseline.end_s:g} s; faces seen in it: {seen}",
                ("calibrated p = max(p - baseline, 0) per emotion, the rest neutral (README: Baseline calibration); "
                 "faces not seen in the interval have no calibrated values"),
            ])  # fmt: skip
        p.take(0.08)
        p.text(f"Events ({len(view.events)})", size=10, weight="bold", gap=0.06)
        if not view.events:
            p.lines(["none"])
        else:
            spans = view.spans
            shown = spans[:MAX_EVENT_ROWS]
            rows_fit = max(1, int((p.room() - 0.3) / (7.5 / 72 * 2.0)) - 1)
            shown = shown[:rows_fit]
            p.table(["time (s)", "label", "duration (s)", "active until (s)", "source"],
                    [[f"{s.start_s:.2f}", s.event.label, "–" if s.event.duration_s is None else f"{s.event.duration_s:g}",
                      f"{s.end_s:.2f}", s.event.source] for s in shown],
                    widths=[0.12, 0.46, 0.14, 0.16, 0.12])  # fmt: skip
            if len(shown) < len(spans):
                p.lines([f"… and {len(spans) - len(shown)} more (every event is on the per-event page and in the CSV)"])

    # ------------------------------------------------------------------ one page per face
    def face_page(self, summary: FaceSummary, thumb: Any) -> None:
        view = self.view
        p = self.page(f"Face #{summary.face_id}")
        head_top = p.y
        thumb_in = 1.55
        ax = p.axes(thumb_in, width=thumb_in, top=head_top)
        if thumb is not None:
            ax.imshow(thumb[:, :, ::-1], interpolation="lanczos")  # BGR → RGB
        else:
            ax.set_facecolor("#eeeeee")
            ax.text(0.5, 0.5, "source video\nnot available", ha="center", va="center", fontsize=7, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        share = 100 * summary.frames_seen / max(len(view.frames), 1)
        basis = "calibrated" if summary.baseline is not None else "smoothed"
        if view.baseline is None:
            baseline = "no baseline set"
        elif summary.baseline is None:
            baseline = "not seen during the baseline: no calibrated values"
        else:
            baseline = f"baseline from {summary.baseline.frames} frames in {view.baseline.start_s:g}-{view.baseline.end_s:g} s"
        facts = [
            f"time on screen: {summary.time_on_screen_s:.2f} s ({summary.frames_seen} analysed frames, {share:.0f}% of them)",
            f"first seen {summary.first_time_s:.2f} s, last seen {summary.last_time_s:.2f} s",
        ] if not view.is_still else ["seen in the single analysed image"]
        facts += [
            f"most common emotion: {summary.most_common or '–'}",
            f"valence mean: {_signed(summary.valence_mean)} (from {basis} probabilities)",
            baseline,
        ]
        p.y = head_top
        for line in facts:
            p.text(line, size=8.5, left=thumb_in + 0.2, gap=0.05)
        p.y = max(p.y, head_top + thumb_in) + 0.25

        legend_w = 1.0
        header, rows = figures.probability_table_rows(summary, view.labels)
        # the charts share what the table and the gaps leave: the same page on A4 and on (shorter) Letter
        table_h = (len(rows) + 1) * 7.5 / 72 * 2.0 + 0.08 + 0.15
        gaps = 0.4 + 0.5 + 0.3
        unit = (p.room() - table_h - gaps) / (2.35 + 1.25 + 2.0)
        timeline_h, valence_h, dist_h = 2.35 * unit, 1.25 * unit, 2.0 * unit
        ax = p.axes(timeline_h, width=p.width - legend_w)
        figures.draw_timeline(ax, view, summary.face_id)
        if view.is_still:
            ax.set_title("emotion probabilities (smoothed = raw for a single image)", loc="left")
        else:
            ax.set_title("emotion timeline (smoothed probabilities; dashed lines: events; grey band: baseline)", loc="left")
            ax.set_xlabel("")  # the valence chart below has the same time axis, labelled
        p.take(0.4)
        ax = p.axes(valence_h, width=p.width - legend_w)
        figures.draw_valence(ax, view, summary.face_id)
        ax.set_title("valence = happiness − max(anger, disgust, fear, sadness)", loc="left")
        p.take(0.5)
        top = p.y
        bars = p.axes(dist_h, width=p.width * 0.55, top=top)
        figures.draw_distribution_bars(bars, summary, view.labels)
        bars.set_title("top emotion per frame", loc="left")
        pie = p.axes(dist_h, left=p.width * 0.62, width=p.width * 0.38, top=top)
        figures.draw_distribution_pie(pie, summary, view.labels)
        p.y = top + dist_h + 0.3
        p.table(header, rows, colours=[figures.emotion_colour(label) for label in view.labels])
        p.lines(["mean confidence: mean top probability over the frames where that emotion was on top"], size=6.5)

    def table_pages(self, p: _Page, title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *,
                    size: float = 7.5, widths: Sequence[float] | None = None) -> _Page:  # fmt: skip
        """A table continued on new pages (header repeated) when it does not fit; returns the last page."""
        row_h = size / 72 * 2.0
        start = 0
        while start < len(rows):
            fit = int((p.room() - 0.15) / row_h) - 1
            if fit < min(3, len(rows) - start):  # not even a few rows left here: start a fresh page
                p = self.page(title)
                continue
            p.table(header, rows[start : start + fit], size=size, widths=widths)
            start += fit
        return p

    def other_faces(self, rest: Sequence[FaceSummary]) -> None:
        title = f"Other faces ({len(rest)})"
        p = self.page(title)
        p.lines([f"Faces seen less often than the {self.max_faces} above, most seen first."])
        p.take(0.05)
        rows = [[f"#{s.face_id}", str(s.frames_seen), f"{s.time_on_screen_s:.2f}", f"{s.first_time_s:.2f}",
                 f"{s.last_time_s:.2f}", s.most_common or "–", _signed(s.valence_mean)] for s in rest]  # fmt: skip
        header = ["face", "frames", "on screen (s)", "first (s)", "last (s)", "most common", "valence mean"]
        self.table_pages(p, f"{title}, continued", header, rows)

    def event_pages(self, faces: Sequence[FaceSummary]) -> None:
        title = "Emotions within each event"
        p = self.page(title)
        p.lines([
            ("Mean smoothed probability of each emotion (%) and mean valence of each face while each event was active; "
             "in brackets the difference from the face's baseline (percentage points; for valence, units), or from its "
             "whole session when it has no baseline. An event without a duration lasts until the next event starts. "
             "Events in which a face was not seen are left out of its table."),
        ])  # fmt: skip
        p.take(0.1)
        widths = figures.event_table_widths(len(self.view.labels))
        for summary in faces:
            header, rows = figures.event_means_rows(self.view, summary.face_id)
            rows = [rows[0]] + [r for r in rows[1:] if r[1] != "0"]
            if len(rows) == 1:
                continue
            if p.room() < 0.4 + 4 * (6.5 / 72 * 2.0):  # a heading never ends a page
                p = self.page(f"{title}, continued")
            p.text(f"Face #{summary.face_id}", size=9.5, weight="bold", gap=0.05)
            p = self.table_pages(p, f"{title}, continued (face #{summary.face_id})", header, rows, size=6.5, widths=widths)


def face_thumbnails(view: SessionView, face_ids: Sequence[int], size: int = THUMB_PX) -> dict[int, Any]:
    """Face id → a square BGR crop from the source video or image (the face's largest detected box, so
    the most detail), or nothing for every face when the source is not available."""
    from emodesk.core.annotate import face_thumbnail

    try:
        path = view.source_path()
    except EmodeskError:
        path = None
    if path is None:
        return {}
    best: dict[int, tuple[float, int, Any]] = {}
    wanted = set(face_ids)
    for record in view.frames:
        for face in record["faces"]:
            if face["id"] not in wanted:
                continue
            x1, y1, x2, y2 = face["box"]
            key = (0.0 if face.get("tracked") else 1.0) * 1e12 + (x2 - x1) * (y2 - y1)
            if face["id"] not in best or key > best[face["id"]][0]:
                best[face["id"]] = (key, record["index"], face["box"])
    if view.source.get("kind") == "image":
        image = read_image(path)
        return {face_id: face_thumbnail(image, box, size=size) for face_id, (_key, _index, box) in best.items()}
    out = {}
    for face_id, (_key, index, box) in best.items():
        source = VideoFileSource(path, start_frame=index)
        try:
            frame = next(iter(source.frames()), None)
        finally:
            source.close()
        if frame is not None:
            out[face_id] = face_thumbnail(frame.image, box, size=size)
    return out


def write_report(
    session: Any,
    path: Path,
    *,
    paper: str = "a4",
    max_faces: int = MAX_FACES,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **view_options: Any,
) -> Path:
    """Write the PDF report to ``path`` atomically and return it (see the module docstring).

    Raises OutputError naming ``path`` when it cannot be written, ExportCancelled when ``cancel`` is set.
    """
    path = Path(path)
    view = as_view(session, **view_options)
    report = _Report(view, paper, max_faces)
    faces = list(view.summaries)
    top, rest = faces[:max_faces], faces[max_faces:]
    total = 2 + len(top) + (1 if rest else 0) + (1 if view.events else 0)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        check_cancel(cancel)
        if progress:
            progress(done, total)

    with rc_context(RC):
        thumbs = face_thumbnails(view, [s.face_id for s in top])
        step()
        report.overview()
        step()
        for summary in top:
            report.face_page(summary, thumbs.get(summary.face_id))
            step()
        if rest:
            report.other_faces(rest)
            step()
        if view.events:
            report.event_pages(top)
            step()
        # no creation date: the same session gives the same file, whichever command wrote it
        metadata = {"Title": f"emodesk report: {report.name}", "Creator": f"emodesk {__version__}", "CreationDate": None}
        with atomic_file(path) as out, PdfPages(out, metadata=metadata) as pdf:
            for fig in report.pages:
                pdf.savefig(fig)
    log.info("wrote a %d-page report to %s", len(report.pages), path)
    return path


def _analysis_mode(doc: dict[str, Any]) -> str:
    analysis = doc.get("analysis") or {}
    sample = analysis.get("sample_fps") or (doc.get("settings") or {}).get("sample_fps")
    if analysis.get("mode") == "latest_frame":
        return "live: the latest frame wins, the others are dropped"
    return f"sampled at {sample:g} frames per second" if sample else "every frame"


def _value(value: Any) -> str:
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    return str(value)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"

