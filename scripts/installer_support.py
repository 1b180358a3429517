"""Build-time helpers for build_installer.spec (kept out of the spec so they can be tested).

- which models ship: the manifest's defaults (read at build time, never hard-coded) plus this project's own
  committed weights, each found on the normal model search path and verified by its sha256;
  third-party models under non-commercial terms are refused unless asked for explicitly;
- which Python distributions belong in the bundle: emodesk's declared run-time dependencies (and the
  extras asked for), followed through their own requirements; every other installed package is excluded;
- which shared libraries are NVIDIA/CUDA ones (left out of the CPU build);
- the THIRD_PARTY_LICENSES file and the bundle's build record.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from emodesk.inference.manifest import ModelSpec

REPO = Path(__file__).resolve().parents[1]

# shared libraries that are NVIDIA's runtime or onnxruntime's GPU providers (Linux and Windows names)
_CUDA_LIB = re.compile(
    r"(onnxruntime_providers_(cuda|tensorrt))|^(lib)?(cudart|cublas|cublaslt|cudnn|cufft|curand|cusparse|cusolver"
    r"|nvrtc|nvjitlink|nvrtc-builtins|cupti|nvinfer|nvonnxparser|nvtx|nvblas)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BundledModel:
    spec: ModelSpec  # the manifest entry
    source: Path  # the verified file found on the model search path
    own: bool  # weights trained by this project (a manifest entry with a model card), committed in models/

    def __getattr__(self, name: str):  # id, file, sha256, licence … read through to the manifest entry
        return getattr(self.spec, name)


class BuildError(RuntimeError):
    """A build input is wrong; the message is one line naming it."""


def select_models(
    models_dir: Path = REPO / "models",
    *,
    extra_ids: Sequence[str] = (),
    allow_noncommercial: bool = False,
) -> list[BundledModel]:
    """The models to ship, each located and sha256-verified on the model search path (store.locate)."""
    from emodesk.inference import store
    from emodesk.inference.manifest import KINDS, parse_manifest

    manifest = parse_manifest(models_dir / "manifest.json")
    # the project's own models carry a model card (the same rule as hatch_build.py for the wheel)
    own = {s.file for s in manifest.models if s.card and (models_dir / s.file).is_file()}
    wanted = [manifest.default(kind) for kind in KINDS]
    wanted += [s for s in manifest.models if s.file in own]
    wanted += [manifest.get(i) for i in extra_ids]
    chosen, seen = [], set()
    for spec in wanted:
        if spec.id in seen:
            continue
        seen.add(spec.id)
        is_own = spec.file in own
        if not spec.commercial_use and not is_own and not allow_noncommercial:
            raise BuildError(
                f"model {spec.id!r} is under {spec.licence!r}: not bundled unless --allow-noncommercial is given"
            )
        if not spec.sha256:
            raise BuildError(f"model {spec.id!r} has no sha256 in {manifest.path}: only verified files are bundled")
        status = store.locate(spec)
        if status.path is None:
            where = ", ".join(str(d) for d in store.search_dirs())
            why = f" ({status.problem})" if status.problem else ""
            raise BuildError(
                f"model {spec.id!r} ({spec.file}) is not on the model search path{why}; looked in {where}. "
                f"Run `emodesk models download {spec.id}` or set EMODESK_MODEL_DIR"
            )
        chosen.append(BundledModel(spec=spec, source=status.path, own=is_own))
    return chosen


def runtime_distributions(
    extras: Iterable[str] = (), roots: Sequence[str] = ("emodesk",)
) -> dict[str, md.Distribution]:
    """The run-time dependency closure of ``roots`` (the first with ``extras``), from the installed metadata,
    by canonical name."""
    env = default_environment()
    found: dict[str, md.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending: list[tuple[str, frozenset[str]]] = [(roots[0], frozenset(extras))]
    pending += [(r, frozenset()) for r in roots[1:]]
    while pending:
        name, wanted_extras = pending.pop()
        key = canonicalize_name(name)
        if (key, wanted_extras) in visited:
            continue
        visited.add((key, wanted_extras))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional requirement whose marker held but is not installed: nothing to bundle
        found[key] = dist
        for raw in dist.requires or ():
            req = Requirement(raw)
            # a requirement applies if its marker holds with no extra or with one of the extras asked for
            if req.marker is not None and not any(
                req.marker.evaluate({**env, "extra": e}) for e in ("", *wanted_extras)
            ):
                continue
            pending.append((req.name, frozenset(req.extras)))
    return found


def undeclared_imports(package_dir: Path, closure: dict[str, md.Distribution]) -> list[str]:
    """Distributions whose modules the package imports at module level but its metadata does not require (a dependency
    someone forgot to declare in pyproject.toml): bundled anyway, with a warning, so the app still runs."""
    import ast

    imported: set[str] = set()
    for source in package_dir.rglob("*.py"):
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        # module-level imports only: a function-local import is an optional feature (pandas for to_dataframe)
        nodes = list(tree.body)
        while nodes:
            node = nodes.pop()
            if isinstance(node, (ast.If, ast.Try)):
                nodes += node.body + node.orelse + getattr(node, "finalbody", []) + [
                    n for h in getattr(node, "handlers", []) for n in h.body
                ]
            elif isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    owners = md.packages_distributions()
    declared = set(closure)
    missing = set()
    for name in imported - set(sys.stdlib_module_names):
        dists = {canonicalize_name(d) for d in owners.get(name, ())}
        if dists and not dists & declared:
            missing |= dists
    return sorted(missing)


def top_level_names(dist: md.Distribution) -> set[str]:
    """The top-level folders and modules a distribution installs into site-packages."""
    names = set()
    for f in dist.files or ():
        parts = Path(str(f)).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".egg-info")):
            continue
        top = parts[0]
        if len(parts) == 1:
            if top.endswith(".pth"):
                continue
            top = top.split(".")[0]
        names.add(top)
    return names


def excluded_modules(closure: dict[str, md.Distribution]) -> list[str]:
    """Top-level import names of installed distributions outside the closure (tests, training, other extras)."""
    keep: set[str] = set()
    for dist in closure.values():
        keep |= top_level_names(dist)
    drop: set[str] = set()
    for dist in md.distributions():
        name = canonicalize_name(dist.metadata["Name"] or "")
        if name in closure or name == "pyinstaller":
            continue
        drop |= top_level_names(dist)
    stdlib = set(sys.stdlib_module_names)
    return sorted(n for n in drop - keep - stdlib if n.isidentifier())


def is_cuda_binary(dest: str) -> bool:
    """True for NVIDIA runtime libraries and onnxruntime's CUDA/TensorRT providers (by bundle path)."""
    parts = Path(dest).parts
    return (bool(parts) and parts[0] == "nvidia") or bool(_CUDA_LIB.search(Path(dest).name))


def nvidia_wheel_binaries() -> list[tuple[str, str]]:
    """(source, dest folder) for every library of the installed nvidia-* wheels (the `cuda` extra), kept in
    their nvidia/<component>/lib layout: onnxruntime.preload_dlls() looks for them there, beside onnxruntime/."""
    out = []
    for dist in md.distributions():
        if not canonicalize_name(dist.metadata["Name"] or "").startswith("nvidia-"):
            continue
        for f in dist.files or ():
            rel = Path(str(f))
            if rel.parts[:1] == ("nvidia",) and (".so" in rel.name or rel.suffix == ".dll"):
                out.append((str(dist.locate_file(f)), str(rel.parent)))
    return out


def licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    text = (meta.get("License") or "").strip()
    if text and "\n" not in text and len(text) < 100:
        return text
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or () if c.startswith("License ::")]
    if classifiers:
        return " / ".join(classifiers)
    return "see the licence text below" if licence_files(dist) else "not declared in the package metadata"


def licence_files(dist: md.Distribution) -> list[Path]:
    files = []
    for f in dist.files or ():
        name = Path(str(f)).name.upper()
        if name.startswith(("LICENSE", "LICENCE", "COPYING", "NOTICE")) and not name.endswith((".PY", ".PYC")):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                files.append(path)
    return files


def bundled_distributions(closure: dict[str, md.Distribution], toc_names: set[str]) -> list[md.Distribution]:
    """The closure's distributions that really have files in the bundle."""
    return sorted(
        (d for d in closure.values() if top_level_names(d) & toc_names),
        key=lambda d: canonicalize_name(d.metadata["Name"]),
    )


def toc_top_names(*tocs: Iterable[tuple]) -> set[str]:
    """First path component (or top-level module) of every entry of PyInstaller TOCs."""
    names = set()
    for toc in tocs:
        for dest, *_ in toc:
            first = Path(dest).parts[0] if "/" in dest or "\\" in dest else dest.split(".")[0]
            names.add(first)
    return names


def system_libraries(binaries: Iterable[tuple]) -> list[tuple[str, str]]:
    """(bundle name, source path) of shared libraries collected from the OS rather than from a wheel."""
    site_roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    out = []
    for dest, src, *_ in binaries:
        if not src or any(str(src).startswith(r) for r in site_roots):
            continue
        if Path(dest).suffix == ".so" or ".so." in Path(dest).name or dest.lower().endswith((".dll", ".dylib")):
            out.append((dest, str(src)))
    return sorted(out)


def _debian_package(path: str) -> tuple[str, Path | None] | None:
    """(package, copyright file) from dpkg for a system library, where the OS has dpkg."""
    if shutil.which("dpkg") is None:
        return None
    real = str(Path(path).resolve())
    for candidate in dict.fromkeys((path, real, real.replace("/usr/lib/", "/lib/", 1))):
        res = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if res.returncode == 0:
            package = res.stdout.split(":")[0].strip()
            copyright_file = Path("/usr/share/doc") / package / "copyright"
            return package, copyright_file if copyright_file.is_file() else None
    return None


def _dep5_licences(copyright_file: Path) -> list[str]:
    """The License: values of a machine-readable (DEP-5) Debian copyright file."""
    found: list[str] = []
    for line in copyright_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("License:"):
            value = line.split(":", 1)[1].strip()
            if value and value not in found:
                found.append(value)
    return found


def write_licences(
    path: Path,
    *,
    models: Sequence[BundledModel],
    dists: Sequence[md.Distribution],
    system_libs: Sequence[tuple[str, str]],
    app_version: str,
    variant: str,
) -> None:
    lines = [
        f"emodesk {app_version} ({variant} build): every model and library in this folder, and its licence.",
        "emodesk itself is MIT-licensed. Generated by build_installer.spec from models/manifest.json and the",
        "installed packages' metadata when the bundle was built.",
        "",
        "MODELS",
        "",
    ]
    for m in models:
        origin = "trained by emodesk" if m.own else f"third party, from {m.url or m.upstream}"
        use = "commercial use allowed" if m.commercial_use else "NOT cleared for commercial use"
        lines += [
            f"- {m.id} ({m.kind}{', default' if m.default else ''}): {m.file}",
            f"  licence: {m.licence} ({use}); {origin}",
            f"  sha256: {m.sha256}",
        ]
        if m.licence_note:
            lines.append(f"  note: {m.licence_note}")
    py = f"{platform.python_implementation()} {platform.python_version()}"
    lines += [
        "",
        "RUNTIME",
        "",
        f"- {py}: PSF-2.0 (Python Software Foundation License)",
        "- PyInstaller bootloader: GPL-2.0-or-later WITH the PyInstaller bootloader exception (allows any licence for the bundled program)",
        "",
        "PYTHON PACKAGES",
        "",
    ]
    for d in dists:
        lines.append(f"- {d.metadata['Name']} {d.version}: {licence_of(d)}")
    copyrights: dict[str, Path] = {}
    if system_libs:
        lines += ["", "SHARED LIBRARIES FROM THE BUILD MACHINE'S OPERATING SYSTEM", ""]
        for dest, src in system_libs:
            package = _debian_package(src)
            if package is None:
                lines.append(f"- {dest} (from {src}): not from a Debian package; see its origin")
                continue
            name, copyright_file = package
            licences = _dep5_licences(copyright_file) if copyright_file else []
            if copyright_file:
                copyrights[name] = copyright_file
            lines.append(f"- {dest}: Debian package {name}: {', '.join(licences) or 'licence text below'}")
    python_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if python_licence.is_file():
        lines += ["", "=" * 100, f"{py}: LICENSE.txt", "=" * 100, python_licence.read_text(encoding="utf-8").rstrip()]
    lines += ["", "LICENCE TEXTS OF THE PYTHON PACKAGES", ""]
    for d in dists:
        for lic in licence_files(d):
            lines += [
                "=" * 100,
                f"{d.metadata['Name']} {d.version}: {lic.name}",
                "=" * 100,
                lic.read_text(encoding="utf-8", errors="replace").rstrip(),
                "",
            ]
    if copyrights:
        lines += ["", "LICENCE TEXTS OF THE OPERATING-SYSTEM PACKAGES", ""]
        for name, copyright_file in sorted(copyrights.items()):
            text = copyright_file.read_text(encoding="utf-8", errors="replace").rstrip()
            lines += ["=" * 100, f"Debian package {name}: copyright", "=" * 100, text, ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_build_info(path: Path, *, variant: str, models: Sequence[BundledModel], nvidia: str, app_version: str) -> None:
    import PyInstaller

    record = {
        "app_version": app_version,
        "variant": variant,
        "nvidia_runtime": nvidia,
        "built": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "pyinstaller": PyInstaller.__version__,
        "models": [{"id": m.id, "file": m.file, "sha256": m.sha256, "licence": m.licence} for m in models],
    }
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def install_wheel_venv(venv_dir: Path, *, deps_from: Path | None = None) -> Path:
    """``pip install .`` (a built wheel, not editable) into a fresh venv at ``venv_dir``; returns its python.

    The wheel is built by this interpreter's pip without build isolation (hatchling comes with the test
    extra), so no network is needed. Dependencies: with ``deps_from`` (a site-packages folder) the fresh venv
    reads them from there through a .pth line, which adds that folder to sys.path *after* the venv's own
    site-packages and does not run its .pth files, so emodesk itself can only come from the wheel; without
    it pip fetches them from the index like a user's install (minutes, network).
    """
    wheel_dir = venv_dir.parent / f"{venv_dir.name}-wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(REPO)],
        check=True,
    )
    wheel = max(wheel_dir.glob("emodesk-*.whl"), key=lambda p: p.stat().st_mtime)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv_dir)], check=True)
    python = venv_python(venv_dir)
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-warn-script-location"]
    if deps_from is not None:
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        Path(site, "_emodesk_test_deps.pth").write_text(str(deps_from) + "\n", encoding="utf-8")
        install += ["--no-deps", "--no-index"]
    subprocess.run([*install, str(wheel)], check=True)
    return python


# what decides the bundle's make-up: a change here means the frozen app must be rebuilt and smoke-tested
HASHED_INPUTS = ("build_installer.spec", "scripts/installer_support.py", "scripts/smoke_installer.py")
BUNDLE_EXTRAS = ("installer", "cuda")  # the extras a build uses; test, train, cluster … never ship
RECORDED_HASH = REPO / "scripts" / "installer.inputs.sha256"


def inputs_hash(root: Path = REPO) -> str:
    """sha256 over the spec, its helpers, pyproject's dependencies and the extras a build uses (not the rest
    of pyproject.toml, which changes for unrelated reasons: tool settings, the test or cluster extras)."""
    import hashlib

    digest = hashlib.sha256()
    for rel in HASHED_INPUTS:
        digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    pyproject = (root / "pyproject.toml").read_bytes()
    try:
        import tomllib

        project = tomllib.loads(pyproject.decode("utf-8"))["project"]
        extras = project.get("optional-dependencies", {})
        deps = {"dependencies": project.get("dependencies", []), "extras": {e: extras.get(e) for e in BUNDLE_EXTRAS}}
        digest.update(json.dumps(deps, sort_keys=True).encode())
    except ImportError:  # Python 3.10 has no tomllib: hash the whole file (a rebuild too many, never one too few)
        digest.update(pyproject)
    return digest.hexdigest()


def recorded_hash() -> str | None:
    if not RECORDED_HASH.is_file():
        return None
    first = RECORDED_HASH.read_text(encoding="utf-8").split()
    return first[0] if first else None

