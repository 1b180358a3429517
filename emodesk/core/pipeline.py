"""The engine: frames in, frozen per-frame results out, as a plain generator.

    with Pipeline(Settings()) as pipeline:
        for result in pipeline.run("clip.mp4"):
            ...

The CLI, the GUI worker and notebooks all drive this one class.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emodesk.core.reader import FrameReader, FrameSampler, SourceCounts
from emodesk.core.results import FaceResult, FrameResult, StageTimings
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

log = logging.getLogger(__name__)

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
    ) -> None:
        self.settings = settings = settings or Settings()
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
        Breaking out of the loop, or closing the generator, stops the reader thread too.
        ``keep_images`` attaches each decoded frame to its result (``result.image``) for display.
        """
        counts = counts if counts is not None else SourceCounts()
        own_source = not isinstance(source, FrameSource)
        src = open_source(source, realtime=bool(live)) if own_source else source
        live = src.info.live if live is None else live
        still = src.info.kind in STILL_KINDS
        tracker = FaceTracker(max_age_s=self.settings.track_max_age_s)
        smoother = ProbabilitySmoother(half_life_s=self.settings.smoothing)
        sampler = FrameSampler(self.settings.sample_fps) if not still else None
        # edited footage has cuts; a camera never does, and a person stepping close must not reset IDs
        cuts = ShotCutDetector() if self.settings.shot_cuts and src.info.kind in ("video", "stream") else None
        reader = FrameReader(src, live=live, stop=stop, counts=counts)
        processed = 0
        in_hand = 0
        pending_cut = False  # a cut seen on a frame the sampling skipped applies to the next analysed one
        frames = iter(reader)
        try:
            for item in frames:
                in_hand = 1  # taken from the reader, not yet accounted for
                if stop is not None and stop.is_set():
                    break
                # stills are unrelated pictures, and a shot cut starts new ones: no identity carries over;
                # skipped frames are still compared, so a cut between two sampled frames is not missed
                cut = cuts is not None and cuts.is_cut(item.frame.image)
                if sampler is not None and not sampler.take(item.frame.time_s):
                    counts.skipped += 1
                    in_hand = 0
                    pending_cut = pending_cut or cut
                    continue
                cut, pending_cut = cut or pending_cut, False
                if still or cut:
                    tracker.reset()
                    smoother.reset()
                detect = still or cut or processed % self.settings.detect_every == 0
                result = self._process(item.frame, tracker, smoother, detect=detect, dropped=item.dropped_before)
                if cut or keep_images:
                    result = dataclasses.replace(
                        result, shot_cut=cut, image=item.frame.image if keep_images else None
                    )
                processed += 1
                counts.processed += 1
                in_hand = 0
                yield result
        finally:
            frames.close()  # joins the reader thread now, not whenever the generator is collected
            # after the join, so the reader thread no longer writes ``dropped``: a frame taken but not
            # analysed (the run stopped, or analysing it raised) is dropped
            counts.dropped += in_hand
            if own_source:
                src.close()

    def analyze_image(self, image: np.ndarray) -> FrameResult:
        """Detect and classify the faces of one BGR image (no tracking history)."""
        frame = Frame(0, 0.0, image, time.monotonic(), 0.0)
        return self._process(frame, FaceTracker(), ProbabilitySmoother(0.0), detect=True, dropped=0)

    def _process(
        self,
        frame: Frame,
        tracker: FaceTracker,
        smoother: ProbabilitySmoother,
        *,
        detect: bool,
        dropped: int,
    ) -> FrameResult:
        t0 = time.perf_counter()
        if detect:
            detections = self.detector.detect(frame.image)
            t1 = time.perf_counter()
            faces: list[TrackedFace] = tracker.update(detections, frame.time_s)
        else:
            t1 = time.perf_counter()
            faces = tracker.predict(frame.time_s)
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
        smoother.prune(tracker.active_ids)
        t4 = time.perf_counter()
        timings = StageTimings(
            decode_ms=frame.decode_ms,
            detect_ms=(t1 - t0) * 1000.0,
            track_ms=(t2 - t1) * 1000.0,
            classify_ms=(t3 - t2) * 1000.0,
            total_ms=frame.decode_ms + (t4 - t0) * 1000.0,
        )
        return FrameResult(
            index=frame.index,
            time_s=frame.time_s,
            faces=tuple(results),
            timings=timings,
            detected=detect,
            dropped=dropped,
            captured_at=frame.captured_at,
            frame_shape=(int(frame.image.shape[0]), int(frame.image.shape[1])),
        )
