"""``emodesk bench``: how fast the engine runs on a clip, stage by stage, against decoding alone.

Every figure is measured in this process on the clip given, with the settings given:

- decode only: frames per second of reading and decoding the file, nothing else (the ceiling);
- detection only / classification: the detector's milliseconds per run and the emotion model's per face,
  on decoded frames (decoding not counted);
- pipeline: ``Pipeline.run`` end to end (decode, detect, track, classify, smooth), overlapped as the app
  runs it and, for comparison, sequential (``overlap=False``); its ratio to decode-only; the share of
  time per stage (summed stage times of the sequential pass); the process's peak RSS;
- live (``live_size``): the clip replayed as a virtual camera at its frame rate, resized to a camera
  resolution, each result drawn with the core annotator as the window does; capture-to-overlay latency
  p50/p95 (from the frame leaving the decoder to the annotated image being ready), analysed FPS and
  the share of delivered frames dropped by the latest-wins slot;
- ``fer`` (``vs_fer``): the ``fer`` package (Haar cascade + mini-Xception on TensorFlow Lite) on the same
  frames, in a child process (its TensorFlow never loads into ours), and emodesk's ratio to it.

Machines are noisy: compare ratios, run twice. No test asserts any of these numbers.
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2

from emodesk.core.annotate import annotate
from emodesk.core.pipeline import Pipeline
from emodesk.core.reader import SourceCounts
from emodesk.core.sources import Frame, FrameSource, SourceInfo, VideoFileSource
from emodesk.errors import EmodeskError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveFigures:
    width: int
    height: int
    seconds: float
    delivered: int
    processed: int
    dropped: int
    analysed_fps: float
    latency_p50_ms: float
    latency_p95_ms: float

    @property
    def drop_rate(self) -> float:
        return self.dropped / self.delivered if self.delivered else 0.0


@dataclass(frozen=True)
class FerFigures:
    frames: int
    fps: float  # fer's detect_emotions loop, model loading excluded
    cpu_ms_per_frame: float  # CPU time of that loop (all its threads) per frame
    process_s: float  # its whole child process, imports and model loading included
    version: str


@dataclass(frozen=True)
class ClipFigures:
    clip: str
    width: int
    height: int
    frames: int  # frames measured (the clip, or the first --frames)
    faces_per_frame: float
    decode_fps: float
    detect_ms: float  # one detector run, decoding excluded
    classify_ms_per_face: float
    pipeline_fps: float  # overlapped, as the app runs
    sequential_fps: float  # the same work, one stage after the other
    cpu_ms_per_frame: float  # process CPU time per frame of the overlapped run: less load-sensitive than FPS
    stage_ms: dict[str, float]  # mean per frame, from the sequential pass
    peak_rss_mb: float
    settings: dict[str, Any]
    runtime: dict[str, Any] | None
    live: LiveFigures | None = None
    fer: FerFigures | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def decode_ratio(self) -> float:
        return self.pipeline_fps / self.decode_fps if self.decode_fps else 0.0

    @property
    def slowest_stage_ms(self) -> float:
        """The busiest of the three overlapped threads (decode | detect + track | classify): the floor
        of the pipeline's time per frame, where the sum of the stages is its ceiling."""
        ms = self.stage_ms
        return max(ms["decode"], ms["detect"] + ms["track"], ms["classify"])

    @property
    def stage_share(self) -> dict[str, float]:
        total = sum(self.stage_ms.values())
        return {k: (v / total if total else 0.0) for k, v in self.stage_ms.items()}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["decode_ratio"] = self.decode_ratio
        out["stage_share"] = self.stage_share
        out["slowest_stage_ms"] = self.slowest_stage_ms
        if self.live is not None:
            out["live"]["drop_rate"] = self.live.drop_rate
        if self.fer is not None:
            out["fer"]["emodesk_ratio"] = (
                self.pipeline_fps / self.fer.fps if self.fer.fps else None
            )
        return out


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _frames(path: Path, limit: int | None) -> Iterator[Frame]:
    with VideoFileSource(path) as src:
        for frame in src.frames():
            if limit is not None and frame.index >= limit:
                return
            yield frame


def decode_fps(path: Path, limit: int | None) -> tuple[int, float]:
    start = time.perf_counter()
    n = sum(1 for _ in _frames(path, limit))
    return n, n / max(time.perf_counter() - start, 1e-9)


def model_times(
    pipeline: Pipeline, path: Path, limit: int | None
) -> tuple[float, float, float]:
    """(detector ms per frame, classifier ms per face, faces per frame) on decoded frames."""
    detect_s = classify_s = 0.0
    frames = faces = 0
    for frame in _frames(path, limit):
        t0 = time.perf_counter()
        detections = pipeline.detector.detect(frame.image)
        t1 = time.perf_counter()
        if detections:
            pipeline.classifier.classify(frame.image, detections)
        classify_s += time.perf_counter() - t1
        detect_s += t1 - t0
        frames += 1
        faces += len(detections)
    return (
        detect_s * 1e3 / max(frames, 1),
        classify_s * 1e3 / max(faces, 1),
        faces / max(frames, 1),
    )


def pipeline_fps(
    pipeline: Pipeline, path: Path, limit: int | None, *, overlap: bool
) -> tuple[float, dict[str, float], float]:
    """Frames per second of a whole ``Pipeline.run`` (reader start-up included), mean stage ms, and the
    process CPU ms per frame (every thread: on a loaded machine wall time lies, CPU time much less)."""
    runner = Pipeline(
        pipeline.settings,
        detector=pipeline.detector,
        classifier=pipeline.classifier,
        overlap=overlap,
    )
    sums = {"decode": 0.0, "detect": 0.0, "track": 0.0, "classify": 0.0}
    counts = SourceCounts()
    start = time.perf_counter()
    cpu_start = time.process_time()
    run = runner.run(VideoFileSource(path), live=False, counts=counts)
    try:
        for result in run:
            t = result.timings
            sums["decode"] += t.decode_ms
            sums["detect"] += t.detect_ms
            sums["track"] += t.track_ms
            sums["classify"] += t.classify_ms
            if limit is not None and counts.processed + counts.skipped >= limit:
                break
    finally:
        run.close()
    elapsed = time.perf_counter() - start
    # frames of the clip gone through per second: with sample_fps the skipped ones count, as decode-only's do
    n = counts.processed + counts.skipped
    cpu_ms = (time.process_time() - cpu_start) * 1e3 / max(n, 1)
    per_frame = {k: v / max(counts.processed, 1) for k, v in sums.items()}
    return n / max(elapsed, 1e-9), per_frame, cpu_ms


class _Resized(FrameSource):
    """A source's frames resized to a camera resolution (done in the reader thread, as a driver would)."""

    def __init__(self, inner: FrameSource, size: tuple[int, int]) -> None:
        super().__init__()
        self.inner = inner
        self.size = size
        self.info = SourceInfo(
            **{**inner.info.to_json(), "width": size[0], "height": size[1]}
        )

    def frames(self) -> Iterator[Frame]:
        for f in self.inner.frames():
            image = f.image
            if (image.shape[1], image.shape[0]) != self.size:
                image = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
            yield Frame(f.index, f.time_s, image, f.captured_at, f.decode_ms, f.name)

    def close(self) -> None:
        self.inner.close()


def live_figures(
    pipeline: Pipeline, path: Path, size: tuple[int, int], seconds: float | None
) -> LiveFigures:
    """The clip as a virtual camera through the live path, each result drawn as the window draws it."""
    counts = SourceCounts()
    latencies: list[float] = []
    source = _Resized(VideoFileSource(path, realtime=True), size)
    start = time.monotonic()
    run = pipeline.run(source, live=True, keep_images=True, counts=counts)
    try:
        for result in run:
            assert result.image is not None
            annotate(result.image, result)
            latencies.append((time.monotonic() - result.captured_at) * 1e3)
            if seconds is not None and time.monotonic() - start >= seconds:
                break
    finally:
        run.close()
        source.close()
    elapsed = time.monotonic() - start
    q = (
        statistics.quantiles(latencies, n=20, method="inclusive")
        if len(latencies) >= 2
        else latencies * 19
    )
    return LiveFigures(
        width=size[0],
        height=size[1],
        seconds=round(elapsed, 3),
        delivered=counts.delivered,
        processed=counts.processed,
        dropped=counts.dropped,
        analysed_fps=counts.processed / max(elapsed, 1e-9),
        latency_p50_ms=statistics.median(latencies) if latencies else 0.0,
        latency_p95_ms=q[18] if q else 0.0,
    )


# run in a child process with the interpreter that has ``fer`` (its TensorFlow stays out of this process)
_FER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    t_process = time.perf_counter()
    import cv2
    import fer
    try:
        from fer import FER
    except ImportError:  # fer >= 25 no longer re-exports it
        from fer.fer import FER
    detector = FER(mtcnn=False)
    cap = cv2.VideoCapture(sys.argv[1])
    limit = int(sys.argv[2])
    frames, busy, cpu = 0, 0.0, 0.0
    while limit <= 0 or frames < limit:
        ok, image = cap.read()
        if not ok:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        detector.detect_emotions(image)
        busy += time.perf_counter() - t0
        cpu += time.process_time() - c0
        frames += 1
    version = getattr(fer, "__version__", "?")
    print(json.dumps({"frames": frames, "busy_s": busy, "cpu_s": cpu, "process_s": time.perf_counter() - t_process, "version": version}))
    """
)


def fer_figures(path: Path, limit: int | None, python: str | None = None) -> FerFigures:
    """Run the ``fer`` peer on the same clip; EmodeskError when it is not installed for ``python``."""
    python = python or sys.executable
    try:
        done = subprocess.run(
            [python, "-c", _FER_SCRIPT, str(path), str(limit or 0)],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmodeskError(f"fer peer: cannot run {python}: {exc}") from exc
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if "ModuleNotFoundError" in done.stderr:
            raise EmodeskError(
                f"fer peer: not installed for {python} ({last}); pip install fer tensorflow"
            )
        raise EmodeskError(f"fer peer failed: {last}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return FerFigures(
        frames=data["frames"],
        fps=data["frames"] / max(data["busy_s"], 1e-9),
        cpu_ms_per_frame=data["cpu_s"] * 1e3 / max(data["frames"], 1),
        process_s=data["process_s"],
        version=str(data["version"]),
    )


def bench_clip(
    pipeline: Pipeline,
    path: Path,
    *,
    limit: int | None = None,
    live_size: tuple[int, int] | None = None,
    live_seconds: float | None = None,
    vs_fer: bool = False,
    fer_python: str | None = None,
) -> ClipFigures:
    """Every figure for one clip (see the module docstring)."""
    with VideoFileSource(path) as src:
        width, height = src.info.width, src.info.height
    n, decode = decode_fps(path, limit)
    if n == 0:
        raise EmodeskError(f"{path}: no frame could be decoded")
    detect_ms, classify_ms, faces = model_times(pipeline, path, limit)
    sequential, stage_ms, _ = pipeline_fps(pipeline, path, limit, overlap=False)
    overlapped, _, cpu_ms = pipeline_fps(pipeline, path, limit, overlap=True)
    live = live_figures(pipeline, path, live_size, live_seconds) if live_size else None
    notes: list[str] = []
    fer = None
    if vs_fer:
        try:
            fer = fer_figures(path, limit, fer_python)
        except EmodeskError as exc:
            log.debug("fer peer figures failed", exc_info=True)  # the report gets the one line
            notes.append(str(exc))
    runtime = pipeline.detector.info.runtime
    return ClipFigures(
        clip=str(path),
        width=width,
        height=height,
        frames=n,
        faces_per_frame=faces,
        decode_fps=decode,
        detect_ms=detect_ms,
        classify_ms_per_face=classify_ms,
        pipeline_fps=overlapped,
        sequential_fps=sequential,
        cpu_ms_per_frame=cpu_ms,
        stage_ms=stage_ms,
        peak_rss_mb=peak_rss_mb(),
        settings=pipeline.settings.to_json(),
        runtime=runtime.to_json() if runtime is not None else None,
        live=live,
        fer=fer,
        notes=notes,
    )


def format_figures(fig: ClipFigures, models: str) -> str:
    """The human-readable block ``emodesk bench`` prints for one clip."""
    rt = fig.runtime or {}
    share = " · ".join(f"{k} {v:.0%}" for k, v in fig.stage_share.items())
    lines = [
        f"{Path(fig.clip).name}  {fig.width}x{fig.height}  {fig.frames} frames  {fig.faces_per_frame:.1f} faces/frame",
        f"  models              {models}",
        (
            f"  onnxruntime         {rt.get('intra_op_threads', '?')} intra-op thread(s) of {rt.get('cores', '?')} "
            f"core(s), spinning {'on' if rt.get('spinning') else 'off'}"
        ),
        f"  decode only         {fig.decode_fps:8.1f} fps",
        f"  detection only      {fig.detect_ms:8.2f} ms/frame ({1000 / max(fig.detect_ms, 1e-9):.1f} fps)",
        f"  classification      {fig.classify_ms_per_face:8.2f} ms/face",
        (
            f"  pipeline            {fig.pipeline_fps:8.1f} fps   {fig.decode_ratio:.2f}x decode-only   "
            f"{fig.cpu_ms_per_frame:.1f} ms CPU/frame"
        ),
        f"  pipeline sequential {fig.sequential_fps:8.1f} fps   (overlap gain {fig.pipeline_fps / max(fig.sequential_fps, 1e-9):.2f}x)",
        f"  time per stage      {share}",
        (
            f"  per frame           pipeline {1000 / max(fig.pipeline_fps, 1e-9):.1f} ms · sum of stages "
            f"{sum(fig.stage_ms.values()):.1f} ms · slowest thread {fig.slowest_stage_ms:.1f} ms"
        ),
        f"  peak RSS            {fig.peak_rss_mb:8.0f} MB",
    ]
    if fig.live is not None:
        lv = fig.live
        lines.append(
            f"  live {lv.width}x{lv.height}      p50 {lv.latency_p50_ms:.1f} ms · p95 {lv.latency_p95_ms:.1f} ms "
            f"capture-to-overlay · {lv.analysed_fps:.1f} fps analysed · {lv.drop_rate:.1%} dropped "
            f"({lv.dropped} of {lv.delivered})"
        )
    if fig.fer is not None:
        ratio = fig.pipeline_fps / max(fig.fer.fps, 1e-9)
        cpu_ratio = fig.fer.cpu_ms_per_frame / max(fig.cpu_ms_per_frame, 1e-9)
        lines.append(
            f"  fer {fig.fer.version:<15} {fig.fer.fps:8.1f} fps   {fig.fer.cpu_ms_per_frame:.1f} ms CPU/frame   "
            f"(process {fig.fer.process_s:.1f} s)"
        )
        lines.append(
            f"  emodesk vs fer      {ratio:.1f}x in FPS, {cpu_ratio:.1f}x in CPU time per frame"
        )
    lines += [f"  note: {n}" for n in fig.notes]
    return "\n".join(lines)
