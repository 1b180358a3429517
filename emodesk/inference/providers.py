"""Execution providers: the one place that decides where a model runs.

``auto`` asks for CUDA when onnxruntime offers it and falls back to the CPU; ``cpu`` forces the CPU;
``cuda`` and ``tensorrt`` are demands, and fail loudly when they cannot be met. TensorRT is never chosen
by ``auto``: it builds an engine per input shape on first use, which takes minutes.
What a session really got is read back from onnxruntime, never assumed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from emodesk.errors import ModelError, ProviderError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "tensorrt")
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_SHORT = {CPU: "cpu", CUDA: "cuda", TENSORRT: "tensorrt"}
_preloaded = False


def short_name(provider: str) -> str:
    return _SHORT.get(provider, provider.removesuffix("ExecutionProvider").lower())


def _ort():
    import onnxruntime as ort

    global _preloaded
    if not _preloaded:
        _preloaded = True
        ort.set_default_logger_severity(3)
        preload = getattr(ort, "preload_dlls", None)
        # only the nvidia-* wheels of the `cuda` extra need preloading; preload_dlls prints to stdout
        if preload is not None and importlib.util.find_spec("nvidia") is not None:
            sink = io.StringIO()
            try:
                with contextlib.redirect_stdout(sink):
                    preload()
            except Exception as exc:  # noqa: BLE001 - missing libraries only mean "no CUDA here"
                log.debug("onnxruntime.preload_dlls failed: %s", exc)
            log.debug("onnxruntime.preload_dlls: %s", sink.getvalue().strip())
    return ort


def requested_providers(device: str) -> list[str]:
    """The ordered provider list to ask onnxruntime for."""
    if device not in DEVICES:
        raise ProviderError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    available = _ort().get_available_providers()
    if device == "cpu":
        return [CPU]
    if device == "tensorrt":
        if TENSORRT not in available:
            raise ProviderError(f"device 'tensorrt' requested, but this onnxruntime build offers only {available}")
        return [TENSORRT, CUDA, CPU]
    if device == "cuda":
        if CUDA not in available:
            raise ProviderError(
                f"device 'cuda' requested, but this onnxruntime build offers only {available} "
                "(install onnxruntime-gpu, e.g. pip install 'emodesk[cuda]')"
            )
        return [CUDA, CPU]
    return [CUDA, CPU] if CUDA in available else [CPU]


@dataclass(frozen=True)
class LoadedSession:
    session: object  # onnxruntime.InferenceSession
    providers: tuple[str, ...]  # what onnxruntime actually runs the graph on, in priority order

    @property
    def device(self) -> str:
        return short_name(self.providers[0])


def create_session(path: Path, device: str = "auto", *, threads: int | None = None) -> LoadedSession:
    """An InferenceSession on the best provider ``device`` allows, with what it really got."""
    ort = _ort()
    wanted = requested_providers(device)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # det_500m warns on every non-640 run (declared output shapes)
    if threads:
        options.intra_op_num_threads = threads
    # without CUDA libraries onnxruntime logs an ERROR and falls back; we report the fallback ourselves
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: onnxruntime cannot load this model ({first})") from exc
    finally:
        ort.set_default_logger_severity(3)
    got = tuple(session.get_providers())
    if device in ("cuda", "tensorrt") and got[0] != wanted[0]:
        raise ProviderError(
            f"device {device!r} requested for {path.name}, but onnxruntime could only start {got[0]} "
            "(are CUDA 13 and cuDNN 9 installed? pip install 'emodesk[cuda]')"
        )
    if device == "auto" and wanted[0] != got[0]:
        log.info("%s: %s unavailable, running on %s", path.name, wanted[0], got[0])
    return LoadedSession(session=session, providers=got)
