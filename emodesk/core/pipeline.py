"""The engine: frames in, frozen per-frame results out, as a plain generator.

    with Pipeline(Settings()) as pipeline:
        for result in pipeline.run("clip.mp4"):
            ...

The CLI, the GUI worker and notebooks all drive this one class.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emodesk.core.reader import (
    FrameReader,
    FrameSampler,
    Prefetch,
    SourceCounts,
    settle_abandoned,
)
from emodesk.core.results import FaceResult, FrameResult, StageTimings
from emodesk.core.schedule import DetectionSchedule, detect_scaled
from emodesk.core.settings import Settings
from emodesk.core.shots import ShotCutDetector
from emodesk.core.smoothing import ProbabilitySmoother
from emodesk.core.sources import Frame, FrameSource, open_source
from emodesk.core.tracker import FaceTracker, TrackedFace
from emodesk.inference.base import (
    EmotionClassifier,
    FaceDetector,
    ModelInfo,
    load_classifier,
    load_detector,
)

STILL_KINDS = ("image", "images")


class Pipeline:
    """Loads the detector and the emotion model once; ``run`` may be called for many sources."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        detector: FaceDetector | None = None,
        classifier: EmotionClassifier | None = None,
        allow_download: bool | None = None,
        overlap: bool = True,
    ) -> None:
        """``overlap=False`` runs detection on the caller's thread too (the sequential reference that the
        tests and ``emodesk bench`` compare with); results are the same either way."""
        self.settings = settings = settings or Settings()
        self.overlap = overlap
        common = {"device": settings.device, "allow_download": allow_download, "threads": settings.threads}
        self.detector = detector or load_detector(
            settings.detector,
            threshold=settings.threshold,
            max_faces=settings.max_faces,
            input_size=settings.det_size,
            **common,
        )
        self.classifier = classifier or load_classifier(settings.emotion, **common)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    @property
    def models(self) -> list[ModelInfo]:
        return [self.detector.info, self.classifier.info]

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release today (onnxruntime frees sessions with their objects); kept for symmetry."""

    def run(
        self,
        source: FrameSource | str | Path | int,
        *,
        live: bool | None = None,
        stop: threading.Event | None = None,
        keep_images: bool = False,
        counts: SourceCounts | None = None,
    ) -> Iterator[FrameResult]:
        """Yield one FrameResult per processed frame until the source ends or ``stop`` is set.

        ``live`` defaults to the source's nature (cameras and streams are live); ``live=True`` on a video
        file path paces it at its frame rate, as a camera would deliver it (the CLI's ``--live``). In file
        mode every frame is processed in order (or, with ``settings.sample_fps``, the sampled ones); in
        live mode the newest frame wins and replaced ones are counted as dropped.
        ``counts`` is filled as the run goes; when the generator ends (exhausted, stopped, closed or
        broken out of) ``processed + dropped + skipped == delivered``.
        Breaking out of the loop, or closing the generator, stops the worker threads too.
        ``keep_images`` attaches each decoded frame to its result (``result.image``) for display.

        Three stages overlap on consecutive frames: decoding (reader thread), detection + tracking
        (detect thread) and classification + smoothing (the caller's thread, inside this generator). Each
        stage handles frames strictly in order and owns its state (the tracker lives in the detect stage,
        the smoother in the classify stage), so results do not depend on thread timing: a file run gives
        the same frames[] as with ``overlap=False``.
        """
        counts = counts if counts is not None else SourceCounts()
        own_source = not isinstance(source, FrameSource)
        src = open_source(source, realtime=bool(live)) if own_source else source
        live = src.info.live if live is None else live
        reader = FrameReader(src, live=live, stop=stop, counts=counts, settle=False)
        detect = _DetectStage(self, src, reader, counts, stop)
        # live: a queue of one, so a detected frame waits at most one classification (latency stays bounded)
        ahead = Prefetch(detect.run, name="emodesk-detect", size=1 if live else 4) if self.overlap else None
        staged = iter(ahead) if ahead is not None else detect.run()
        smoother = ProbabilitySmoother(half_life_s=self.settings.smoothing)
        in_hand = 0
        skipped_wanted = 0  # the frames skipped before the last one analysed: the rest were skipped ahead
        on_purpose = False  # the consumer ended the run (stop, break, close), not an error
        try:
            for item in staged:
                in_hand = 1  # detected, not yet accounted for
                if stop is not None and stop.is_set():
                    on_purpose = True
                    break
                if item.cut or item.still:
                    smoother.reset()
                result = self._classify(item, smoother)
                if keep_images:
                    result = dataclasses.replace(result, image=item.frame.image)
                counts.processed += 1
                skipped_wanted = item.skipped_so_far
                in_hand = 0
                try:
                    yield result
                except GeneratorExit:
                    on_purpose = True  # the caller broke out (a frame or time limit) or closed the run
                    raise
            else:
                on_purpose = stop is not None and stop.is_set()  # the reader saw the stop first
        finally:
            staged.close()  # type: ignore[attr-defined]  # stops and joins the detect and reader threads
            # after the joins, so no other thread writes the counts any more: frames decoded but not
            # analysed (read ahead, between stages, in hand) were unwanted if the run was ended on purpose
            # (off ``delivered``), lost if analysing raised (``dropped``)
            abandoned = in_hand + reader.abandoned + detect.abandoned + (ahead.abandoned if ahead is not None else 0)
            settle_abandoned(counts, abandoned, on_purpose=on_purpose)
            if on_purpose and counts.skipped > skipped_wanted:
                # the detect stage ran ahead of the last analysed frame, sampling as it went: frames it
                # skipped there were no more wanted than those it would have analysed
                ahead_skipped = counts.skipped - skipped_wanted
                counts.skipped -= ahead_skipped
                counts.delivered -= ahead_skipped
            if own_source:
                src.close()

    def analyze_image(self, image: np.ndarray) -> FrameResult:
        """Detect and classify the faces of one BGR image (no tracking history)."""
        frame = Frame(0, 0.0, image, time.monotonic(), 0.0)
        tracker = FaceTracker()
        t0 = time.perf_counter()
        detections = self.detector.detect(frame.image)
        t1 = time.perf_counter()
        faces = tracker.update(detections, frame.time_s)
        staged = _Staged(frame, faces, tracker.active_ids, True, False, True, 0, (t1 - t0) * 1e3, 0.0)
        return self._classify(staged, ProbabilitySmoother(0.0))

    def _classify(self, item: _Staged, smoother: ProbabilitySmoother) -> FrameResult:
        frame, faces = item.frame, item.faces
        t2 = time.perf_counter()
        probs = self.classifier.classify(frame.image, [f.detection for f in faces])
        t3 = time.perf_counter()
        results = []
        for face, raw in zip(faces, probs, strict=True):
            smoothed = smoother.update(face.track_id, raw, frame.time_s)
            emotion = max(smoothed, key=smoothed.__getitem__) if smoothed else None
            det = face.detection
            results.append(
                FaceResult(
                    track_id=face.track_id,
                    box=det.box,
                    score=det.score,
                    landmarks=det.landmarks,
                    probs=raw,
                    smoothed=smoothed,
                    emotion=emotion,
                    confidence=smoothed[emotion] if emotion else 0.0,
                    tracked=face.predicted,
                )
            )
        smoother.prune(item.active_ids)
        t4 = time.perf_counter()
        timings = StageTimings(
            decode_ms=frame.decode_ms,
            detect_ms=item.detect_ms,
            track_ms=item.track_ms,
            classify_ms=(t3 - t2) * 1000.0,
            total_ms=frame.decode_ms + item.detect_ms + item.track_ms + (t4 - t2) * 1000.0,
        )
        return FrameResult(
            index=frame.index,
            time_s=frame.time_s,
            faces=tuple(results),
            timings=timings,
            detected=item.detected,
            dropped=item.dropped,
            captured_at=frame.captured_at,
            frame_shape=(int(frame.image.shape[0]), int(frame.image.shape[1])),
            shot_cut=item.cut,
            file=frame.name,  # folders of images: which picture this frame is (session-core)
        )


@dataclass(frozen=True)
class _Staged:
    """A frame after detection and tracking, on its way to classification."""

    frame: Frame
    faces: list[TrackedFace]
    active_ids: tuple[int, ...]  # the tracker's confirmed IDs after this frame (the smoother keeps those)
    detected: bool
    cut: bool  # a shot cut starts at this frame: tracks were reset before it
    still: bool  # an independent picture: no identity or smoothing carries over
    dropped: int  # live frames replaced in the slot before this one was taken
    detect_ms: float
    track_ms: float
    skipped_so_far: int = 0  # frames the sampling had skipped up to this one (the run's count then)


class _DetectStage:
    """Sampling, shot cuts, detection and tracking, one frame after the other, in one thread."""

    def __init__(
        self,
        pipeline: Pipeline,
        source: FrameSource,
        reader: FrameReader,
        counts: SourceCounts,
        stop: threading.Event | None,
    ) -> None:
        settings = pipeline.settings
        self.pipeline = pipeline
        self.reader = reader
        self.counts = counts
        self.stop = stop
        self.still = source.info.kind in STILL_KINDS
        self.tracker = FaceTracker(max_age_s=settings.track_max_age_s)
        self.sampler = FrameSampler(settings.sample_fps) if not self.still else None
        # edited footage has cuts; a camera never does, and a person stepping close must not reset IDs
        self.cuts = ShotCutDetector() if settings.shot_cuts and source.info.kind in ("video", "stream") else None
        self.detect_every = settings.detect_every
        detector = pipeline.detector
        self.schedule = (
            DetectionSchedule(
                detector_input=tuple(detector.input_size),
                # a detector that letterboxes every frame up to its input size gains nothing from a smaller one
                can_downscale=not getattr(detector, "upscale", True) and not getattr(detector, "fixed", True),
            )
            if settings.adaptive_detection and not self.still
            else None
        )
        self.abandoned = 0  # frames taken from the reader that never left this stage (the run ended)

    def run(self) -> Iterator[_Staged]:
        detector, tracker = self.pipeline.detector, self.tracker
        processed = 0
        pending_cut = False  # a cut seen on a frame the sampling skipped applies to the next analysed one
        in_hand = 0
        frames = iter(self.reader)
        try:
            for item in frames:
                in_hand = 1
                if self.stop is not None and self.stop.is_set():
                    break
                # stills are unrelated pictures, and a shot cut starts new ones: no identity carries over;
                # skipped frames are still compared, so a cut between two sampled frames is not missed
                cut = self.cuts is not None and self.cuts.is_cut(item.frame.image)
                if self.sampler is not None and not self.sampler.take(item.frame.time_s):
                    self.counts.skipped += 1
                    in_hand = 0
                    pending_cut = pending_cut or cut
                    continue
                cut, pending_cut = cut or pending_cut, False
                if self.still or cut:
                    tracker.reset()
                image, time_s = item.frame.image, item.frame.time_s
                t0 = time.perf_counter()
                detect_s = 0.0  # the detector's own time; the rest of this stage counts as tracking
                if self.schedule is not None:
                    tracked = tracker.predict(time_s)
                    predicted = [f.detection for f in tracked]
                    plan = self.schedule.plan(image, time_s, predicted, force=cut)
                    detect = plan.detect
                    if detect:
                        td = time.perf_counter()
                        detections = detect_scaled(detector, image, plan.scale)
                        detect_s = time.perf_counter() - td
                        faces = tracker.update(detections, time_s)
                        self.schedule.observed(image, time_s, plan, predicted, detections)
                    else:
                        faces = tracked
                else:
                    detect = self.still or cut or processed % self.detect_every == 0
                    if detect:
                        td = time.perf_counter()
                        detections = detector.detect(image)
                        detect_s = time.perf_counter() - td
                        faces = tracker.update(detections, time_s)
                    else:
                        faces = tracker.predict(time_s)
                stage_s = time.perf_counter() - t0
                processed += 1
                in_hand = 0
                yield _Staged(
                    item.frame,
                    faces,
                    tracker.active_ids,
                    detect,
                    cut,
                    self.still,
                    item.dropped_before,
                    detect_s * 1000.0,
                    (stage_s - detect_s) * 1000.0,
                    self.counts.skipped,
                )
        finally:
            frames.close()  # joins the reader thread
            self.abandoned += in_hand
