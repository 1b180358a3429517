"""The frozen app (build_installer.spec) and the helpers that decide what goes into it.

The helpers are checked on every run (cheap). The bundle itself is built and smoke-tested by
scripts/smoke_installer.py, which takes about 1.5 minutes on 2 cores (a 40-60 s PyInstaller build, then
the CLI, a pip-install comparison and the window under Xvfb). It runs:
- when EMODESK_INSTALLER_SMOKE=1 (forced, e.g. before a release), or
- in CI (CI=true) when the bundle's inputs changed: the hash of the spec, its helpers and pyproject's
  dependency lists differs from scripts/installer.inputs.sha256, which `smoke_installer.py --record` updates
  after a passing run. Otherwise it is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emodesk.inference.store import sha256_of
from tests.conftest import REPO, SHARED

sys.path.insert(0, str(REPO / "scripts"))
import installer_support as support

MANIFEST_FILE = REPO / "models" / "manifest.json"


def write_manifest(folder: Path, change) -> Path:  # type: ignore[no-untyped-def]
    data = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    change(data["models"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def make_default(models: list[dict], kind: str, model_id: str) -> None:
    for m in models:
        if m["kind"] == kind:
            m["default"] = m["id"] == model_id


def test_bundled_models_are_the_manifests_defaults_and_our_own_weights() -> None:
    chosen = support.select_models()
    manifest = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))["models"]
    defaults = {m["id"] for m in manifest if m["default"]}
    own = {m["id"] for m in manifest if m.get("card")}
    assert {m.id for m in chosen} == defaults | own
    for m in chosen:
        assert m.source.is_file() and sha256_of(m.source) == m.sha256
        assert m.commercial_use or m.own  # no third-party non-commercial weights by default


def test_a_changed_default_is_what_gets_bundled(tmp_path: Path) -> None:
    # the spec reads the defaults at build time: switching the manifest switches the bundle
    folder = write_manifest(tmp_path, lambda ms: make_default(ms, "emotion_classifier", "fer_mobilefacenet_int8"))
    ids = {m.id for m in support.select_models(folder)}
    assert "fer_mobilefacenet_int8" in ids and "yunet_n" in ids


def test_non_commercial_models_are_refused_unless_allowed(tmp_path: Path) -> None:
    folder = write_manifest(tmp_path, lambda ms: make_default(ms, "face_detector", "scrfd_2.5g"))
    with pytest.raises(support.BuildError, match="non-commercial|--allow-noncommercial"):
        support.select_models(folder)
    assert "scrfd_2.5g" in {m.id for m in support.select_models(folder, allow_noncommercial=True)}
    with pytest.raises(support.BuildError, match="--allow-noncommercial"):
        support.select_models(extra_ids=["scrfd_500m"])


def test_a_default_missing_from_the_search_path_stops_the_build(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("EMODESK_MODEL_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with pytest.raises(support.BuildError, match="yunet_n.*not on the model search path"):
        support.select_models()


def test_only_declared_runtime_packages_ship() -> None:
    closure = support.runtime_distributions()
    assert {"numpy", "pyqtgraph", "platformdirs", "opencv-python-headless"} <= set(closure)
    assert "pytest" not in closure and "jsonschema" not in closure
    excluded = support.excluded_modules(closure)
    assert "pytest" in excluded and "jsonschema" in excluded
    assert not {"numpy", "cv2", "PySide6", "onnxruntime", "emodesk"} & set(excluded)


@pytest.mark.parametrize(
    ("dest", "cuda"),
    [
        ("onnxruntime/capi/libonnxruntime_providers_cuda.so", True),
        ("onnxruntime/capi/libonnxruntime_providers_tensorrt.so", True),
        ("onnxruntime\\capi\\onnxruntime_providers_cuda.dll", True),
        ("libcudart.so.13", True),
        ("cudnn64_9.dll", True),
        ("nvidia/cublas/lib/libcublasLt.so.13", True),
        ("onnxruntime/capi/libonnxruntime_providers_shared.so", False),
        ("onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so", False),
        ("libQt6Gui.so.6", False),
        ("libcups.so.2", False),
    ],
)
def test_cuda_libraries_are_recognised(dest: str, cuda: bool) -> None:
    assert support.is_cuda_binary(dest) is cuda


def test_the_inputs_hash_follows_the_spec_and_the_dependencies(tmp_path: Path) -> None:
    for rel in (*support.HASHED_INPUTS, "pyproject.toml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, tmp_path / rel)
    before = support.inputs_hash(tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8") + "\n# a comment\n", encoding="utf-8")
    assert support.inputs_hash(tmp_path) == before  # unrelated pyproject edits do not force a rebuild
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('"pytest>=7.4"', '"pytest>=7.5"'), encoding="utf-8"
    )
    assert support.inputs_hash(tmp_path) == before  # nor do the test extra's
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace('"tqdm>=4.60"', '"tqdm>=4.61"'), encoding="utf-8"
    )
    after_deps = support.inputs_hash(tmp_path)
    assert after_deps != before
    spec = tmp_path / "build_installer.spec"
    spec.write_text(spec.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert support.inputs_hash(tmp_path) != after_deps


def smoke_reason() -> str | None:
    """Why the bundle smoke test does not run now (None: it runs)."""
    if os.environ.get("EMODESK_INSTALLER_SMOKE") == "1":
        return None
    changed = support.inputs_hash() != support.recorded_hash()
    if os.environ.get("CI") and changed:
        return None
    state = "changed since" if changed else "match"
    return (
        f"the bundle's inputs {state} scripts/installer.inputs.sha256 and CI runs it only on a change; "
        "EMODESK_INSTALLER_SMOKE=1 runs the ~1.5 min build and smoke test"
    )


@pytest.mark.slow
@pytest.mark.skipif(smoke_reason() is not None, reason=smoke_reason() or "")
def test_frozen_bundle_smoke(tmp_path: Path) -> None:
    report_file = tmp_path / "report.json"
    cmd = [
        sys.executable, str(REPO / "scripts" / "smoke_installer.py"),
        "--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "work"),
        "--report", str(report_file), "--screenshot", str(tmp_path / "window.png"),
        "--clip", str(SHARED / "data" / "videos" / "liveportrait_d19.mp4"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, cwd=REPO, check=False)
    print(proc.stdout)
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert proc.returncode == 0 and report["ok"], report.get("error") or proc.stderr[-2000:]
    assert report["frames_equal_to_pip_install"] and report["faces"] > 0
    defaults = {m["id"] for m in json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))["models"] if m["default"]}
    assert defaults <= set(report["bundled_models"])
    assert report["cuda_libraries"] == 0 and "CPU" in report["providers_line"]
    assert (tmp_path / "window.png").stat().st_size > 10_000


def test_the_app_finds_its_icon_and_resources_in_a_checkout() -> None:
    from emodesk import bundle

    assert bundle.resources_dir() == REPO / "resources"
    icon = bundle.icon_path(256)
    assert icon is not None and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bundle.build_info() == {}  # only a frozen bundle has _build.json
    assert not bundle.frozen()


def test_providers_without_their_library_are_not_reported(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    from emodesk import bundle

    # a CPU bundle: onnxruntime still lists CUDA (compiled in), but its provider library was left out
    capi = tmp_path / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (capi / "libonnxruntime_providers_shared.so").write_bytes(b"")
    monkeypatch.setattr(ort, "__file__", str(tmp_path / "onnxruntime" / "__init__.py"))
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert bundle.usable_providers() == ["CPUExecutionProvider"]
    (capi / "libonnxruntime_providers_cuda.so").write_bytes(b"")
    assert bundle.usable_providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_models_list_ends_with_the_runtime_line() -> None:
    from emodesk import bundle

    line = bundle.describe_runtime()
    assert "providers installed:" in line and "CPU" in line
    # the default detector is present in the tests, so the probe runs: CPU here, CUDA on a GPU machine
    assert "models start on: " in line
