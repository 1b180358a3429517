"""emodesk: facial-emotion analysis of webcam video, video files and stills.

The engine is usable from Python without the GUI::

    import emodesk

    settings = emodesk.Settings(detector="yunet_n", smoothing=0.25)
    with emodesk.Pipeline(settings) as pipeline:
        for result in pipeline.run("clip.mp4"):
            for face in result.faces:
                print(result.index, face.track_id, face.emotion, face.confidence)

    session_path = emodesk.analyze_file("clip.mp4", out_dir="sessions")

Everything public is imported lazily so that ``import emodesk`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Settings": "emodesk.core.settings",
    "Pipeline": "emodesk.core.pipeline",
    "FrameResult": "emodesk.core.results",
    "FaceResult": "emodesk.core.results",
    "open_source": "emodesk.core.sources",
    "analyze_file": "emodesk.core.analyze",
    "load_session": "emodesk.core.session_model",
    "Session": "emodesk.core.session_model",
    "SessionRun": "emodesk.core.run",
    "RunStatus": "emodesk.core.run",
    "Event": "emodesk.core.events",
    "write_session_from_journal": "emodesk.core.session",
    "CANONICAL_LABELS": "emodesk.inference.labels",
    "EmodeskError": "emodesk.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'emodesk' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
