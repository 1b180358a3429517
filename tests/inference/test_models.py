"""Manifest, resolver (search order, checksums, downloads) and execution providers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from emodesk.errors import ModelError, ProviderError
from emodesk.inference import providers, store
from emodesk.inference.base import families, load_classifier, load_detector
from emodesk.inference.manifest import CLASSIFIER, DETECTOR, load_manifest, parse_manifest
from tests.conftest import SHARED


def test_manifest_covers_every_shared_model_with_matching_checksums() -> None:
    shared = json.loads((SHARED / "models" / "manifest.json").read_text())["models"]
    ours = {s.file: s for s in load_manifest().models}
    for entry in shared:
        spec = ours[entry["file"]]
        assert (spec.sha256, spec.size) == (entry["sha256"], entry["size"])
        assert spec.licence and spec.kind == entry["kind"]
    download_only = {"scrfd_10g", "fer_mobilefacenet", "hsemotion_enet_b0_8_afew", "hsemotion_enet_b2_8"}
    assert download_only <= {s.id for s in load_manifest().models}
    assert load_manifest().get("scrfd_10g").zip_member == "det_10g.onnx"


def test_every_family_in_the_manifest_has_an_adapter() -> None:
    for spec in load_manifest().models:
        kind = DETECTOR if spec.kind == DETECTOR else CLASSIFIER
        assert spec.family in families(kind), spec.id
    assert load_manifest().default(DETECTOR).commercial_use
    # the default emotion model is ours, trained on research-use data: a permissive alternative must exist
    assert any(s.commercial_use and s.sha256 for s in load_manifest().of_kind(CLASSIFIER))


def test_bad_manifests_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text("{ nope")
    with pytest.raises(ModelError, match="not valid JSON"):
        parse_manifest(path)
    entry = {"id": "x", "kind": "emotion_classifier", "family": "f", "file": "x.onnx", "sha256": None, "size": None,
             "url": None, "licence": "MIT", "commercial_use": True}
    path.write_text(json.dumps({"models": [entry]}))
    with pytest.raises(ModelError, match="label order"):
        parse_manifest(path)
    path.write_text(json.dumps({"models": [dict(entry, labels=["happy"]), dict(entry, labels=["sad"])]}))
    with pytest.raises(ModelError, match="duplicate model ids: x"):
        parse_manifest(path)
    with pytest.raises(ModelError, match="unknown model 'zzz'"):
        load_manifest().get("zzz")


@pytest.fixture()
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No shared models, an empty user folder, downloads allowed."""
    user = tmp_path / "user"
    monkeypatch.setattr(store, "user_models_dir", lambda: user)
    monkeypatch.setenv(store.ENV_MODEL_DIR, str(tmp_path / "env"))
    monkeypatch.delenv(store.ENV_OFFLINE, raising=False)
    (tmp_path / "env").mkdir()
    return tmp_path


def _spec_for(payload: bytes, **changes):  # noqa: ANN202
    spec = load_manifest().get("yunet_n")
    return dataclasses.replace(spec, sha256=hashlib.sha256(payload).hexdigest(), size=len(payload), **changes)


def test_search_order_env_first_and_checksum_mismatch_is_skipped(isolated: Path) -> None:
    payload = (SHARED / "models" / "yunet_n_dynamic.onnx").read_bytes()
    spec = load_manifest().get("yunet_n")
    env, user = isolated / "env", isolated / "user"
    user.mkdir()
    (user / spec.file).write_bytes(payload)
    assert store.locate(spec).path == user / spec.file
    (env / spec.file).write_bytes(b"corrupt" + payload[7:])
    status = store.locate(spec)
    assert status.path == user / spec.file  # the corrupt copy earlier in the order is not used
    (user / spec.file).unlink()
    status = store.locate(spec)
    assert status.path is None and "does not match" in status.problem


def test_offline_missing_model_message(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(store.ENV_OFFLINE, "1")
    spec = load_manifest().get("scrfd_10g")
    with pytest.raises(ModelError) as err:
        store.resolve(spec)
    message = str(err.value)
    assert "'scrfd_10g'" in message and "downloads are off" in message
    assert str(isolated / "env") in message and str(isolated / "user") in message
    assert "buffalo_l.zip" in message and "det_10g.onnx" in message
    assert "\n" not in message


def test_download_plain_file_with_progress(isolated: Path) -> None:
    payload = b"onnx bytes" * 1000
    served = isolated / "served.onnx"
    served.write_bytes(payload)
    spec = _spec_for(payload, url=served.as_uri())
    seen = []
    path = store.resolve(spec, progress=lambda done, total: seen.append(done))
    assert path == isolated / "user" / spec.file and path.read_bytes() == payload
    assert seen[-1] == len(payload)
    assert store.locate(spec).path == path  # found without downloading next time


def test_download_zip_member(isolated: Path) -> None:
    payload = b"the detector" * 500
    archive = isolated / "pack.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("pack/other.onnx", b"x")
        zf.writestr("pack/wanted.onnx", payload)
    spec = _spec_for(payload, url=archive.as_uri(), zip_member="wanted.onnx", file="wanted.onnx")
    assert store.download(spec).read_bytes() == payload


def test_download_with_wrong_checksum_leaves_nothing(isolated: Path) -> None:
    served = isolated / "served.onnx"
    served.write_bytes(b"tampered")
    spec = _spec_for(b"original", url=served.as_uri())
    with pytest.raises(ModelError, match="expected"):
        store.download(spec)
    assert [p.name for p in (isolated / "user").iterdir()] == []


def test_unpinned_model_is_pinned_on_first_download(isolated: Path) -> None:
    served = isolated / "served.onnx"
    served.write_bytes(b"first")
    spec = dataclasses.replace(_spec_for(b"first", url=served.as_uri()), sha256=None)
    path = store.download(spec)
    assert path.with_name(path.name + ".sha256").read_text().strip() == hashlib.sha256(b"first").hexdigest()
    path.write_bytes(b"changed later")
    assert store.locate(spec).path is None  # the pin now protects it


def test_unreachable_url_is_one_line(isolated: Path) -> None:
    spec = _spec_for(b"x", url=(isolated / "nowhere.onnx").as_uri())
    with pytest.raises(ModelError, match="download from .* failed") as err:
        store.resolve(spec)
    assert "\n" not in str(err.value)


def test_cpu_provider_is_recorded() -> None:
    det = load_detector("yunet_n", device="cpu")
    assert det.providers == ("CPUExecutionProvider",) and det.info.providers == det.providers
    emo = load_classifier(device="auto")
    assert emo.providers[-1] == "CPUExecutionProvider"
    assert emo.info.licence == load_manifest().default(CLASSIFIER).licence
    assert emo.info.sha256 == load_manifest().default(CLASSIFIER).sha256


def test_forced_cuda_without_a_gpu_fails_clearly() -> None:
    import onnxruntime as ort

    path = store.resolve(load_manifest().get("yunet_n"))
    try:
        got = providers.create_session(path, "cuda")
    except ProviderError as exc:
        assert "cuda" in str(exc).lower() and "\n" not in str(exc)
    else:  # a machine with a working GPU
        assert got.providers[0] == "CUDAExecutionProvider"
        assert "CUDAExecutionProvider" in ort.get_available_providers()
    with pytest.raises(ProviderError, match="unknown device"):
        providers.requested_providers("gpu")


def test_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="bad.onnx: onnxruntime cannot load"):
        providers.create_session(bad, "cpu")
