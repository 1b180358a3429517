"""Finding, verifying and downloading model files.

Search order: ``$EMODESK_MODEL_DIR`` (several folders joined with os.pathsep), the project's own
``models/`` folder, then the per-user data folder. A file whose sha256 does not match the manifest is
never used. A missing model is downloaded into the per-user folder unless downloads are off
(``EMODESK_OFFLINE=1`` or ``allow_download=False``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emodesk.errors import ModelError
from emodesk.inference.manifest import ModelSpec, bundled_models_dir

log = logging.getLogger(__name__)

ENV_MODEL_DIR = "EMODESK_MODEL_DIR"
ENV_OFFLINE = "EMODESK_OFFLINE"
PIN_SUFFIX = ".sha256"  # trust-on-first-use pin for models whose manifest has no checksum

ProgressCallback = Callable[[int, int | None], None]  # (bytes done, bytes total or None)


def user_models_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("emodesk", appauthor=False)) / "models"


def search_dirs() -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get(ENV_MODEL_DIR, "")
    dirs.extend(Path(p).expanduser().absolute() for p in env.split(os.pathsep) if p.strip())
    dirs.append(bundled_models_dir())
    dirs.append(user_models_dir())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def downloads_allowed() -> bool:
    return os.environ.get(ENV_OFFLINE, "").strip().lower() not in {"1", "true", "yes", "on"}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_verified: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = sha256_of(path)
    return _verified[key]


def expected_sha256(spec: ModelSpec, path: Path) -> str | None:
    """The manifest's checksum, or the local pin written when an unpinned model was first downloaded."""
    if spec.sha256:
        return spec.sha256
    pin = path.with_name(path.name + PIN_SUFFIX)
    if pin.is_file():
        return pin.read_text(encoding="ascii").split()[0].strip()
    return None


@dataclass(frozen=True)
class ModelStatus:
    spec: ModelSpec
    path: Path | None  # the verified file, when present
    problem: str | None  # why a candidate file was rejected, or why the model is missing

    @property
    def present(self) -> bool:
        return self.path is not None


def locate(spec: ModelSpec) -> ModelStatus:
    """Find a verified copy of ``spec``'s file without downloading anything."""
    problems = []
    for folder in search_dirs():
        candidate = folder / spec.file
        try:
            if not candidate.is_file():
                continue
        except OSError as exc:  # a search folder this user may not enter (another user's data dir)
            log.debug("cannot look in %s: %s", folder, exc)
            continue
        try:
            actual = _cached_sha256(candidate)
        except OSError as exc:
            problems.append(f"{candidate}: unreadable ({exc.strerror})")
            continue
        expected = expected_sha256(spec, candidate)
        if expected is None:
            log.warning("%s has no pinned checksum; using it unverified (sha256 %s)", candidate, actual)
            return ModelStatus(spec, candidate, None)
        if actual == expected:
            return ModelStatus(spec, candidate, None)
        problems.append(f"{candidate}: sha256 {actual[:12]}… does not match the expected {expected[:12]}…")
        log.warning("ignoring %s: checksum mismatch", candidate)
    return ModelStatus(spec, None, "; ".join(problems) or None)


def missing_message(spec: ModelSpec, status: ModelStatus, reason: str) -> str:
    where = ", ".join(str(d) for d in search_dirs())
    url = spec.url or spec.upstream or "no public download"
    member = f" (member {spec.zip_member} of the zip)" if spec.zip_member else ""
    found = f" Rejected: {status.problem}." if status.problem else ""
    return (
        f"model {spec.id!r} ({spec.file}) is missing: {reason}. Looked in {where}.{found} "
        f"Get it from {url}{member} and put {spec.file} in one of those folders, or set {ENV_MODEL_DIR}."
    )


def resolve(
    spec: ModelSpec,
    *,
    allow_download: bool | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Path of a verified copy of the model, downloading it if allowed. Raises ModelError otherwise."""
    status = locate(spec)
    if status.path is not None:
        return status.path
    if allow_download is None:
        allow_download = downloads_allowed()
    if not spec.url:
        raise ModelError(missing_message(spec, status, "it has no automatic download"))
    if not allow_download:
        raise ModelError(missing_message(spec, status, f"downloads are off ({ENV_OFFLINE}=1 or --offline)"))
    return download(spec, progress=progress)


def download(spec: ModelSpec, *, progress: ProgressCallback | None = None, timeout: float = 30.0) -> Path:
    """Download ``spec`` into the per-user folder: temp file, checksum, then an atomic rename."""
    if not spec.url:
        raise ModelError(missing_message(spec, locate(spec), "it has no automatic download"))
    target_dir = user_models_dir()
    target = target_dir / spec.file
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the model folder {target_dir} ({exc.strerror})") from exc
    log.info("downloading %s from %s", spec.id, spec.url)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".download-") as tmp:
        fetched = Path(tmp) / "fetched"
        try:
            _fetch(spec.url, fetched, progress=progress, timeout=timeout)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
            raise ModelError(
                missing_message(spec, locate(spec), f"the download from {spec.url} failed ({reason})")
            ) from exc
        payload = fetched
        if spec.zip_member:
            payload = Path(tmp) / spec.file
            try:
                _extract_member(fetched, spec.zip_member, payload)
            except (zipfile.BadZipFile, KeyError) as exc:
                raise ModelError(f"{spec.url}: downloaded archive has no usable {spec.zip_member} ({exc})") from exc
        actual = sha256_of(payload)
        if spec.sha256 and actual != spec.sha256:
            raise ModelError(
                f"{spec.url}: downloaded {spec.file} has sha256 {actual}, expected {spec.sha256}; not saved"
            )
        os.replace(payload, target)
        if not spec.sha256:
            target.with_name(target.name + PIN_SUFFIX).write_text(actual + "\n", encoding="ascii")
            log.warning("%s has no published checksum; pinned the downloaded sha256 %s", spec.id, actual)
    return target


def _fetch(url: str, dest: Path, *, progress: ProgressCallback | None, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "emodesk"})
    with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
        total = response.headers.get("Content-Length")
        total_bytes = int(total) if total and total.isdigit() else None
        done = 0
        while chunk := response.read(1 << 16):
            out.write(chunk)
            done += len(chunk)
            if progress:
                progress(done, total_bytes)


def _extract_member(archive: Path, member: str, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        # release zips sometimes nest the files in a folder named after the pack
        match = next((n for n in names if n == member or n.endswith("/" + member)), None)
        if match is None:
            raise KeyError(f"{member} not among {len(names)} members")
        with zf.open(match) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out)
