"""Execution providers: the one place that decides where a model runs.

``auto`` asks for CUDA when onnxruntime offers it and falls back to the CPU; ``cpu`` forces the CPU;
``cuda`` and ``tensorrt`` are demands, and fail with one line naming what is missing when they cannot be
met. TensorRT is never chosen by ``auto``: it builds an engine per input shape on first use (minutes).
What a session really got is read back from onnxruntime, never assumed.

Threading is decided here too, once for every model (``plan_runtime``): onnxruntime's intra-op pool is
sized from the cores this process may use (``os.sched_getaffinity``, which honours taskset and container
CPU sets, unlike ``os.cpu_count``), leaving one core to the decoding thread, and its threads do not
spin-wait. Spinning is onnxruntime's default: idle pool threads busy-poll for the next op, which on a
machine with few cores steals the time the decoder and the other model need (measured on 2 cores:
spinning off cut CPU time by ~45 % and wall time by ~25 % on the 1080p crowd clip).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

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


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


# beyond this, more intra-op threads only add synchronisation for graphs this small (a 640x640 detector
# run is a few ms; an emotion crop well under one)
MAX_INTRA_OP_THREADS = 8


@dataclass(frozen=True)
class RuntimeOptions:
    """The onnxruntime threading a model's session was created with; recorded in the session file."""

    intra_op_threads: int
    inter_op_threads: int
    spinning: bool  # session.intra_op/inter_op.allow_spinning
    cores: int  # cores the process was allowed to use when the session was made

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan_runtime(threads: int | None = None, *, reserve_decoder: bool = True) -> RuntimeOptions:
    """How many intra-op threads a session gets: ``threads`` when given, else the usable cores less one
    for decoding (``reserve_decoder``; never below 1, at most ``MAX_INTRA_OP_THREADS``)."""
    cores = usable_cores()
    if threads:
        intra = int(threads)
    else:
        intra = cores - 1 if reserve_decoder and cores > 1 else cores
        intra = max(1, min(intra, MAX_INTRA_OP_THREADS))
    # one graph at a time per session (sequential execution): an inter-op pool would only add threads
    return RuntimeOptions(intra_op_threads=intra, inter_op_threads=1, spinning=False, cores=cores)


@dataclass(frozen=True)
class LoadedSession:
    session: object  # onnxruntime.InferenceSession
    providers: tuple[str, ...]  # what onnxruntime actually runs the graph on, in priority order
    runtime: RuntimeOptions | None = None  # the threading it was created with

    @property
    def device(self) -> str:
        return short_name(self.providers[0])


def _missing_library(device: str, ep_output: str) -> str:
    """What onnxruntime said was missing, in one line, from its captured 'EP Error' report."""
    if device == "tensorrt":
        what, how = "the TensorRT libraries (libnvinfer, TensorRT 10)", "install TensorRT and put it on LD_LIBRARY_PATH"
    else:
        what, how = "the CUDA 13 / cuDNN 9 libraries", "pip install 'emodesk[cuda]', or install them system-wide"
    if "EP Error" in ep_output:
        return f"{what} could not be loaded ({how})"
    return f"{what} are missing or do not match this onnxruntime build ({how})"


def create_session(
    path: Path, device: str = "auto", *, threads: int | None = None, reserve_decoder: bool = True
) -> LoadedSession:
    """An InferenceSession on the best provider ``device`` allows, with what it really got.

    onnxruntime reports a provider that fails to start with a multi-line "EP Error" block printed on
    stdout (then retries the next provider); that output is captured here and summarised in the one-line
    error, so a CLI's stdout stays clean for the results.
    """
    ort = _ort()
    wanted = requested_providers(device)
    runtime = plan_runtime(threads, reserve_decoder=reserve_decoder)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # det_500m warns on every non-640 run (declared output shapes)
    options.intra_op_num_threads = runtime.intra_op_threads
    options.inter_op_num_threads = runtime.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if runtime.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    # without CUDA libraries onnxruntime logs an ERROR and falls back; we report the fallback ourselves
    ort.set_default_logger_severity(4)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path}: onnxruntime cannot load this model ({first})") from exc
    finally:
        ort.set_default_logger_severity(3)
    if printed.getvalue().strip():
        log.debug("onnxruntime while loading %s: %s", path.name, printed.getvalue().strip())
    got = tuple(session.get_providers())
    if device in ("cuda", "tensorrt") and got[0] != wanted[0]:
        raise ProviderError(
            f"device {device!r} requested for {path.name}, but {_missing_library(device, printed.getvalue())}; "
            f"onnxruntime could only start {got[0]} (use --device auto to fall back)"
        )
    if device == "auto" and wanted[0] != got[0]:
        log.info("%s: %s unavailable, running on %s", path.name, wanted[0], got[0])
    return LoadedSession(session=session, providers=got, runtime=runtime)
