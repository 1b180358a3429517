"""Annotated video: the source with the window's overlays (core/annotate.py), frame for frame.

Every decoded source frame is written, at the source's frame rate, so the export stays in sync with the
original (same frame count, same size). Analysed frames get their own result drawn. A frame that was
not analysed (a session sampled at N fps) shows the overlays of the last analysed frame before it, for
at most 1.5 sampling intervals; frames before the first analysed frame, and after the analysis ended (a
stopped or truncated run), are written unannotated.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import statistics
import threading
from pathlib import Path
from typing import Any

from emodesk.core.annotate import annotate
from emodesk.core.export.view import Progress, as_view, check_cancel
from emodesk.core.recording import VideoRecorder, check_video_path
from emodesk.core.results import FrameResult
from emodesk.core.sources import VideoFileSource
from emodesk.errors import OutputError, SourceError

log = logging.getLogger(__name__)


def write_annotated_video(
    session: Any,
    path: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **view_options: Any,
) -> Path:
    """Write the annotated video to ``path`` (.mp4, .mov, .mkv or .avi) and return it.

    The source is the view's ``source_path()`` (``source=`` to point at a moved file). Raises SourceError
    when there is no source video, OutputError when ``path`` cannot be written, ExportCancelled when
    ``cancel`` is set (the partial file is removed; an existing file at ``path`` is kept).
    """
    path = check_video_path(path)  # before anything is opened: the error names ``path``, not the temporary file
    view = as_view(session, **view_options)
    kind = view.source.get("kind")
    if kind not in (None, "video"):
        raise SourceError(f"{view.source.get('path')}: an annotated video needs a video source; this session's source kind is {kind}")
    source_path = view.source_path()
    if source_path is None:
        where = view.source.get("path") or "the session's source"
        raise SourceError(f"{where}: source video not found (give it with --source VIDEO)")
    by_index = {record["index"]: record for record in view.frames}
    indices = sorted(by_index)
    steps = [b - a for a, b in itertools.pairwise(indices)]
    # a sampled result stands for the frames up to the next analysed one: sampling at 4 fps of 29.97 fps
    # alternates gaps of 7 and 8 frames, hence the margin; every-frame sessions hold nothing
    step = statistics.median(steps) if steps else 1
    hold = 0 if step <= 1 else math.ceil(1.5 * step) - 1
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    source: VideoFileSource | None = None
    recorder: VideoRecorder | None = None
    written = total = 0
    try:
        # opened inside the try, so that a failure of either still closes the other
        source = VideoFileSource(source_path)
        recorder = VideoRecorder(tmp, source.info.fps or 30.0)
        total = source.info.frame_count
        last, last_index = None, -1
        for frame in source.frames():
            record = by_index.get(frame.index)
            if record is not None:
                last, last_index = FrameResult.from_json(record), frame.index
            image = frame.image
            if last is not None and frame.index - last_index <= hold or record is not None:
                image = annotate(image, last)
            recorder.write(image)
            written += 1
            if written % 25 == 0:
                check_cancel(cancel)
                if progress:
                    progress(written, total)
        recorder.close()
        if written == 0:
            raise SourceError(f"{source_path}: no frame could be decoded")
        if source.truncated:
            log.warning("%s: the source stopped decoding after %d frames; the video has those", source_path, written)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except OutputError as exc:  # the recorder names the temporary file; the user asked for ``path``
        if recorder is not None:
            recorder.close()
        tmp.unlink(missing_ok=True)
        raise OutputError(str(exc).replace(str(tmp), str(path))) from exc
    except BaseException:
        if recorder is not None:
            recorder.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if source is not None:
            source.close()
    if progress:
        progress(written, total)
    log.info("wrote %d annotated frames to %s", written, path)
    return path
