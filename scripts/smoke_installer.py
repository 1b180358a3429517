#!/usr/bin/env python3
"""Build the frozen app and check it as a new user on a machine with no network would meet it.

    .venv/bin/python scripts/smoke_installer.py                 # build dist/emodesk (CPU build), then check it
    .venv/bin/python scripts/smoke_installer.py --no-build      # check an existing dist/emodesk
    .venv/bin/python scripts/smoke_installer.py --record        # ... and record the build inputs' hash on success

The build needs the default models on the model search path (EMODESK_MODEL_DIR=../shared/models here).
Every check then runs the bundle with HOME and the XDG_* folders pointed at an empty temporary folder,
EMODESK_OFFLINE=1, no EMODESK_MODEL_DIR and no Python variables:

1. ``emodesk --version`` (start-up time: median of 3);
2. ``emodesk models list`` (the defaults are found inside the bundle; the providers line) and ``models verify``;
3. ``emodesk analyze CLIP``: the session validates against the schema and its frames[] equal those of a
   ``pip install .`` of the same checkout (a fresh venv; models from EMODESK_MODEL_DIR there);
4. the window under Xvfb: time from process start to the first visible window, then Ctrl+Q (xdotool) must
   close it with exit status 0; again with the clip as argument, a screenshot after a few seconds, Ctrl+Q;
5. the contents: THIRD_PARTY_LICENSES names every bundled model and package, a CPU build holds no CUDA
   library, no test or training package ships, the desktop entry and icons are beside the executable;
   on Linux install-desktop-entry.sh adds a valid menu entry for this executable and --uninstall removes it.

Prints the bundle size and the timings; ``--report`` writes them as JSON. Exit status 0 when every check
passed, 1 otherwise (each failure on one line). Needs Xvfb and xdotool for step 4.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import installer_support as support

REPO = support.REPO
DEFAULT_CLIP = REPO.parent / "shared" / "data" / "videos" / "liveportrait_d19.mp4"


class SmokeFailure(Exception):
    pass


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of a new user: empty home and per-user folders, offline, nothing of this venv's."""
    drop = ("EMODESK_", "XDG_", "QT_", "PYTHON", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "DISPLAY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    runtime = home / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_RUNTIME_DIR=str(runtime),
        EMODESK_OFFLINE="1",
    )
    return env


def run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def expect(proc: subprocess.CompletedProcess, what: str) -> str:
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise SmokeFailure(f"{what} exited {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout


def build(args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(args.dist), "--workpath", str(args.work), str(REPO / "build_installer.spec")]
    if args.gpu:
        cmd += ["--", "--gpu"]
    print("building:", " ".join(cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SmokeFailure(f"pyinstaller exited {proc.returncode}: {proc.stderr.strip().splitlines()[-3:]}")
    return time.monotonic() - start


def frames_difference(a: list, b: list) -> str | None:
    """None when two frames[] lists are equal (numbers to 1e-6: float printing is the only slack allowed)."""
    if len(a) != len(b):
        return f"{len(a)} frames against {len(b)}"

    def walk(x, y, where: str) -> str | None:
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return f"{where}: keys {sorted(x)} against {sorted(y)}"
            for k in x:
                if (diff := walk(x[k], y[k], f"{where}.{k}")) is not None:
                    return diff
            return None
        if isinstance(x, list) and isinstance(y, list):
            if len(x) != len(y):
                return f"{where}: {len(x)} items against {len(y)}"
            for i, (u, v) in enumerate(zip(x, y)):
                if (diff := walk(u, v, f"{where}[{i}]")) is not None:
                    return diff
            return None
        if isinstance(x, float) or isinstance(y, float):
            return None if abs(float(x) - float(y)) <= 1e-6 else f"{where}: {x} against {y}"
        return None if x == y else f"{where}: {x!r} against {y!r}"

    return walk(a, b, "frames")


def check_cli(exe: Path, env: dict[str, str], home: Path, args: argparse.Namespace, report: dict) -> None:
    times = []
    for _ in range(3):
        start = time.monotonic()
        out = expect(run([str(exe), "--version"], env, home), "emodesk --version")
        times.append(time.monotonic() - start)
    report["version"] = out.strip()
    report["version_seconds"] = round(statistics.median(times), 3)

    listing = expect(run([str(exe), "models", "list"], env, home), "emodesk models list")
    runtime_line = listing.strip().splitlines()[-1]
    report["providers_line"] = runtime_line
    if "providers installed:" not in runtime_line or "frozen" not in runtime_line:
        raise SmokeFailure(f"models list does not report the bundle's providers: {runtime_line!r}")
    rows = json.loads(expect(run([str(exe), "models", "list", "--json"], env, home), "emodesk models list --json"))
    bundle_dir = exe.parent.resolve()
    for row in rows:
        if row["default"] and not (row["status"] == "present" and Path(row["path"]).resolve().is_relative_to(bundle_dir)):
            raise SmokeFailure(f"default model {row['id']} is not found inside the bundle: {row['status']} {row['path']}")
    report["bundled_models"] = [r["id"] for r in rows if r["path"] and Path(r["path"]).resolve().is_relative_to(bundle_dir)]
    expect(run([str(exe), "models", "verify"], env, home), "emodesk models verify")

    out_dir = home / "sessions"
    cmd = [str(exe), "analyze", str(args.clip), "--out", str(out_dir), "--max-frames", str(args.max_frames), "--quiet"]
    start = time.monotonic()
    expect(run(cmd, env, home), "emodesk analyze (bundle)")
    report["analyze_seconds"] = round(time.monotonic() - start, 2)
    session_path = out_dir / f"{args.clip.stem}.session.json"
    session = json.loads(session_path.read_text(encoding="utf-8"))

    import jsonschema

    schema = json.loads((REPO / "resources" / "session.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(session, schema)
    report["frames"] = len(session["frames"])
    report["faces"] = sum(len(f["faces"]) for f in session["frames"])
    if not report["faces"]:
        raise SmokeFailure(f"the bundle found no face in {args.clip.name}")

    # the same clip through a `pip install .` of this checkout: the frozen app must compute the same frames
    ref_home = home.parent / "pip-home"
    ref_home.mkdir()
    python = support.install_wheel_venv(home.parent / "pip-venv", deps_from=Path(sysconfig_purelib()))
    ref_env = isolated_env(ref_home)
    ref_env["EMODESK_MODEL_DIR"] = args.model_dir  # a pip install ships no third-party weights
    pip_exe = python.parent / ("emodesk.exe" if sys.platform == "win32" else "emodesk")  # the console script
    ref_cmd = [str(pip_exe), *cmd[1:4], str(ref_home / "sessions"), *cmd[5:]]
    expect(run(ref_cmd, ref_env, ref_home), "emodesk analyze (pip install)")
    ref = json.loads((ref_home / "sessions" / session_path.name).read_text(encoding="utf-8"))
    diff = frames_difference(session["frames"], ref["frames"])
    if diff is not None:
        raise SmokeFailure(f"the bundle's session differs from the pip install's: {diff}")
    report["frames_equal_to_pip_install"] = True


def sysconfig_purelib() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def free_display() -> int:
    for n in range(90, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise SmokeFailure("no free X display number for Xvfb")


def visible_window(env: dict[str, str]) -> str | None:
    proc = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^emodesk"], env=env,
                          capture_output=True, text=True, check=False)
    ids = proc.stdout.split()
    return ids[0] if ids else None


def launch_window(exe: Path, env: dict[str, str], home: Path, argv: list[str], name: str) -> tuple:
    """Start the app on the Xvfb display; returns (process, window id, seconds from start to a visible window)."""
    log = (home / f"{name}.log").open("w")
    start = time.monotonic()
    app = subprocess.Popen([str(exe), *argv], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT)
    window = None
    while window is None:
        if app.poll() is not None:
            raise SmokeFailure(f"the window exited {app.returncode} before showing: {tail(home / f'{name}.log')}")
        if time.monotonic() - start > 120:
            app.kill()
            raise SmokeFailure("no emodesk window within 120 s")
        window = visible_window(env)
        if window is None:
            time.sleep(0.02)
    return app, window, time.monotonic() - start


def quit_with_ctrl_q(app: subprocess.Popen, window: str, env: dict[str, str], log: Path) -> None:
    subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, check=True, timeout=30)
    subprocess.run(["xdotool", "key", "ctrl+q"], env=env, check=True, timeout=30)
    try:
        rc = app.wait(timeout=30)
    except subprocess.TimeoutExpired:
        app.kill()
        raise SmokeFailure("Ctrl+Q did not close the window within 30 s") from None
    if rc != 0:
        raise SmokeFailure(f"the window exited {rc} after Ctrl+Q: {tail(log)}")
    if "Traceback" in log.read_text(encoding="utf-8", errors="replace"):
        raise SmokeFailure(f"the window logged a traceback: {tail(log)}")


def check_window(exe: Path, env: dict[str, str], home: Path, args: argparse.Namespace, report: dict) -> None:
    """No argument: the window's start-up time, then Ctrl+Q. With the clip: analysis in the window, a
    screenshot (the status bar names the provider), then Ctrl+Q."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            raise SmokeFailure(f"{tool} is not installed (apt-get install xvfb xdotool)")
    display = free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1920x1080x24", "-nolisten", "tcp", "-noreset"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    apps: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{display}").exists():
            if time.monotonic() > deadline or xvfb.poll() is not None:
                raise SmokeFailure("Xvfb did not start")
            time.sleep(0.05)
        genv = {**env, "DISPLAY": f":{display}"}

        app, window, seconds = launch_window(exe, genv, home, [], "window")
        apps.append(app)
        report["window_seconds"] = round(seconds, 2)
        if shutil.which("xprop"):  # the window icon from resources/icons reached the window manager
            prop = subprocess.run(["xprop", "-id", window, "_NET_WM_ICON"], env=genv, capture_output=True,
                                  text=True, check=False).stdout
            report["window_icon"] = "=" in prop and "not found" not in prop
            if not report["window_icon"]:
                raise SmokeFailure("the window has no icon (_NET_WM_ICON)")
        time.sleep(1.0)
        quit_with_ctrl_q(app, window, genv, home / "window.log")

        app, window, _ = launch_window(exe, genv, home, [str(args.clip)], "window-clip")
        apps.append(app)
        time.sleep(args.window_seconds)
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        grab = ("import sys; from PySide6.QtGui import QGuiApplication; a = QGuiApplication(sys.argv[:1]); "
                "sys.exit(0 if a.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)")
        shot_env = {**genv, "QT_QPA_PLATFORM": "xcb"}
        subprocess.run([sys.executable, "-c", grab, str(args.screenshot)], env=shot_env, check=True, timeout=60)
        report["screenshot"] = str(args.screenshot)
        quit_with_ctrl_q(app, window, genv, home / "window-clip.log")
    finally:
        for app in apps:
            if app.poll() is None:
                app.kill()
                app.wait()
        xvfb.terminate()
        xvfb.wait()


def check_desktop_entry(bundle: Path, env: dict[str, str], home: Path, report: dict) -> None:
    """install-desktop-entry.sh adds a menu entry naming this executable and the icons; --uninstall removes them."""
    if not sys.platform.startswith("linux"):
        return
    script = bundle / "install-desktop-entry.sh"
    expect(run([str(script)], env, home), "install-desktop-entry.sh")
    data = Path(env["XDG_DATA_HOME"])
    entry = data / "applications" / "emodesk.desktop"
    text = entry.read_text(encoding="utf-8") if entry.is_file() else ""
    if f'Exec="{bundle.resolve()}/emodesk" %f' not in text:
        raise SmokeFailure(f"{entry} does not start {bundle.resolve()}/emodesk")
    if not (data / "icons" / "hicolor" / "256x256" / "apps" / "emodesk.png").is_file():
        raise SmokeFailure("install-desktop-entry.sh installed no 256 px icon")
    if shutil.which("desktop-file-validate"):
        expect(run(["desktop-file-validate", str(entry)], env, home), "desktop-file-validate")
    expect(run([str(script), "--uninstall"], env, home), "install-desktop-entry.sh --uninstall")
    if entry.exists():
        raise SmokeFailure("install-desktop-entry.sh --uninstall left the entry behind")
    report["desktop_entry"] = True


def check_contents(bundle: Path, variant: str, report: dict) -> None:
    """What ships: the licences name every model and package, no CUDA libraries in a CPU build, no test or
    training packages, the desktop entry and icons beside the executable."""
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    licences = (bundle / "THIRD_PARTY_LICENSES").read_text(encoding="utf-8")
    info = json.loads((bundle / "BUILD-INFO.json").read_text(encoding="utf-8"))
    if info["variant"] != variant:
        raise SmokeFailure(f"BUILD-INFO.json says a {info['variant']} build, expected {variant}")
    for model in info["models"]:
        if f"- {model['id']} (" not in licences or model["sha256"] not in licences:
            raise SmokeFailure(f"THIRD_PARTY_LICENSES does not list the bundled model {model['id']}")
    for package in ("numpy", "onnxruntime", "opencv-python-headless", "PySide6", "pyqtgraph", "Python"):
        if package.lower() not in licences.lower():
            raise SmokeFailure(f"THIRD_PARTY_LICENSES does not list {package}")
    for unwanted in ("pytest", "torch", "jsonschema", "onnx"):
        if (internal / unwanted).exists():
            raise SmokeFailure(f"the bundle contains {unwanted}, which is no run-time dependency")
    cuda = sorted(p.name for p in internal.rglob("*") if support.is_cuda_binary(str(p.relative_to(internal))))
    report["cuda_libraries"] = len(cuda)
    if variant == "cpu" and cuda:
        raise SmokeFailure(f"the CPU build contains CUDA libraries: {', '.join(cuda[:5])}")
    if sys.platform.startswith("linux"):
        for name in ("emodesk.desktop", "install-desktop-entry.sh", "icons/emodesk.svg", "icons/emodesk-256.png"):
            if not (bundle / name).is_file():
                raise SmokeFailure(f"the bundle has no {name}")


def tail(path: Path, lines: int = 3) -> str:
    return " | ".join(path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="PyInstaller's dist folder (default dist/)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "pyinstaller", help="PyInstaller's work folder")
    parser.add_argument("--no-build", action="store_true", help="check an existing DIST/emodesk without building")
    parser.add_argument("--gpu", action="store_true", help="build the GPU variant (see README)")
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="the video to analyse")
    parser.add_argument("--max-frames", type=int, default=90, help="frames of the clip to analyse (default 90)")
    parser.add_argument("--window-seconds", type=float, default=4.0, help="how long the window stays up")
    parser.add_argument("--screenshot", type=Path, default=REPO / "build" / "smoke" / "window.png")
    parser.add_argument("--report", type=Path, help="write the figures and results here as JSON")
    parser.add_argument("--record", action="store_true", help=f"on success, store the inputs' hash in {support.RECORDED_HASH.name}")
    args = parser.parse_args(argv)
    args.dist, args.work, args.clip = args.dist.resolve(), args.work.resolve(), args.clip.resolve()
    args.model_dir = os.environ.get("EMODESK_MODEL_DIR", str(REPO.parent / "shared" / "models"))

    report: dict = {"variant": "gpu" if args.gpu else "cpu", "ok": False}
    exe = args.dist / "emodesk" / ("emodesk.exe" if sys.platform == "win32" else "emodesk")
    try:
        if not args.clip.is_file():
            raise SmokeFailure(f"{args.clip}: no such clip")
        if not args.no_build:
            report["build_seconds"] = round(build(args), 1)
        if not exe.is_file():
            raise SmokeFailure(f"{exe}: no bundle (build it first, or drop --no-build)")
        report["bundle_bytes"] = folder_size(exe.parent)
        report["bundle_mib"] = round(report["bundle_bytes"] / 2**20, 1)
        check_contents(exe.parent, report["variant"], report)
        with tempfile.TemporaryDirectory(prefix="emodesk-smoke-") as tmp:
            home = Path(tmp) / "home"
            home.mkdir()
            env = isolated_env(home)
            check_cli(exe, env, home, args, report)
            check_desktop_entry(exe.parent, env, home, report)
            check_window(exe, env, home, args, report)
        report["ok"] = True
    except (SmokeFailure, subprocess.SubprocessError, OSError, ValueError) as exc:
        report["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SmokeFailure) else str(exc)
        print(f"smoke_installer: FAILED: {report['error']}", file=sys.stderr)
    finally:
        if args.report:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for key in ("bundle_mib", "build_seconds", "version_seconds", "window_seconds", "window_icon", "desktop_entry",
                "analyze_seconds", "frames",
                "faces", "bundled_models", "providers_line", "screenshot"):
        if key in report:
            print(f"{key:>16}: {report[key]}")
    if report["ok"] and args.record:
        support.RECORDED_HASH.write_text(f"{support.inputs_hash()}\n", encoding="utf-8")
        print(f"recorded the build inputs' hash in {support.RECORDED_HASH}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
