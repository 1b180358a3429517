"""Where emodesk's own files are, whichever way it was installed, and what the installed build can run on.

Three layouts share one package: a checkout (``models/`` and ``resources/`` beside the package), a wheel
(hatch force-includes them as ``emodesk/_models`` and ``emodesk/_resources``) and the PyInstaller bundle
(the same ``emodesk/_models`` / ``emodesk/_resources`` folders inside ``sys._MEIPASS``, plus ``_build.json``
written by build_installer.spec). No Qt here: the CLI uses it too.
"""

from __future__ import annotations

import json
import logging
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
BUILD_INFO = "_build.json"  # written into the frozen bundle's emodesk/ folder by build_installer.spec

# onnxruntime lists the providers it was compiled with, whether or not their shared library is present
# (a CPU bundle leaves libonnxruntime_providers_cuda out); these need their library beside onnxruntime's.
_PROVIDER_LIBRARIES = {
    "CUDAExecutionProvider": "onnxruntime_providers_cuda",
    "TensorrtExecutionProvider": "onnxruntime_providers_tensorrt",
}


def frozen() -> bool:
    """True inside the PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def resources_dir() -> Path:
    """The project's ``resources/`` folder: the checkout's in development, the packaged copy otherwise."""
    checkout = PACKAGE_DIR.parent / "resources"
    if (checkout / "session.schema.json").is_file():
        return checkout
    return PACKAGE_DIR / "_resources"


def icon_path(size: int = 256) -> Path | None:
    """The application icon as a PNG of ``size`` pixels (falls back to the SVG), or None when not shipped."""
    icons = resources_dir() / "icons"
    for candidate in (icons / f"emodesk-{size}.png", icons / "emodesk.svg"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=1)
def build_info() -> dict[str, Any]:
    """What build_installer.spec recorded about this bundle (variant, bundled models); {} outside one."""
    path = PACKAGE_DIR / BUILD_INFO
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable: %s", path, exc)
        return {}


def usable_providers() -> list[str]:
    """onnxruntime's providers whose libraries are really installed (in a pip install or in this bundle)."""
    import onnxruntime as ort

    capi = Path(ort.__file__).resolve().parent / "capi"
    present = {p.name for p in capi.iterdir()} if capi.is_dir() else set()
    usable = []
    for provider in ort.get_available_providers():
        library = _PROVIDER_LIBRARIES.get(provider)
        if library is None or any(library in name for name in present):
            usable.append(provider)
    return usable


def describe_runtime() -> str:
    """One line for ``emodesk models list``: the onnxruntime build, the providers whose libraries are installed,
    and the one a model really starts on here (the default detector is loaded once to find out)."""
    import onnxruntime as ort

    from emodesk.errors import EmodeskError
    from emodesk.inference import store
    from emodesk.inference.manifest import DETECTOR, load_manifest
    from emodesk.inference.providers import create_session

    info = build_info()
    variant = f", frozen {info.get('variant', '?')} build" if frozen() or info else ""
    installed = ", ".join(p.removesuffix("ExecutionProvider") for p in usable_providers())
    line = f"onnxruntime {ort.__version__}{variant}: providers installed: {installed}"
    try:
        located = store.locate(load_manifest().default(DETECTOR))
        if located.path is not None:
            started = create_session(located.path, "auto").providers[0]
            line += f"; models start on: {started.removesuffix('ExecutionProvider')} (--device auto)"
    except EmodeskError as exc:  # a broken default model is reported by `models verify`, not here
        log.debug("provider probe failed: %s", exc)
    return line
