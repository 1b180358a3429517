"""The first minutes of a new user: no display, the British spelling, a mistyped command, and README's
Python examples run exactly as written."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from emodesk.cli import main
from emodesk.cli.gui import missing_display
from tests.conftest import REPO, TEST_IMAGES, VIDEOS

NO_DISPLAY = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def test_no_display_is_one_line_that_says_how_to_run_headless() -> None:
    # before the check, Qt's xcb plugin aborted the process (exit 134) with a message about libxcb
    run = subprocess.run([sys.executable, "-m", "emodesk"], capture_output=True, text=True, timeout=120, env=NO_DISPLAY)
    assert run.returncode == 1, run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("emodesk: error: no display found") and "emodesk analyze" in line
    assert run.stdout == ""


@pytest.fixture
def x_display():
    """A socket where an X server would listen (Linux's abstract namespace): what the check connects to."""
    if not sys.platform.startswith("linux"):
        pytest.skip("abstract unix sockets are Linux's")
    number = 900 + os.getpid() % 90
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(f"\0/tmp/.X11-unix/X{number}")
        server.listen(4)
        yield f":{number}"


@pytest.mark.parametrize(
    "env, platform, ok",
    [
        ({}, "linux", False),
        ({"DISPLAY": "LIVE"}, "linux", True),
        ({"DISPLAY": "LIVE.0"}, "linux", True),
        ({"DISPLAY": ":999"}, "linux", False),  # stale: no server there, Qt would abort all the same
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),
        ({"QT_QPA_PLATFORM": "xcb", "DISPLAY": "LIVE"}, "linux", True),
        ({"QT_QPA_PLATFORM": "wayland", "DISPLAY": "LIVE"}, "linux", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_which_environments_have_a_display(env: dict, platform: str, ok: bool, x_display: str) -> None:
    env = {k: v.replace("LIVE", x_display) for k, v in env.items()}
    assert (missing_display(env, platform) is None) == ok


def test_a_stale_display_is_one_line_too() -> None:
    env = {**NO_DISPLAY, "DISPLAY": ":999"}
    run = subprocess.run([sys.executable, "-m", "emodesk"], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert "no X server answers on DISPLAY=:999" in line and "emodesk analyze" in line


def test_analyse_is_accepted_for_analyze(tmp_path: Path, capsys) -> None:
    code = main(["analyse", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(tmp_path), "--device", "cpu",
                 "--max-frames", "2", "--quiet"])
    assert code == 0 and (tmp_path / "liveportrait_d19.session.json").is_file()


def test_a_mistyped_command_is_a_usage_error_that_suggests_the_command(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["analze", "clip.mp4", "--out", "x"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'analyze'" in err


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def _short_clip(dst: Path, frames: int = 30) -> Path:
    """The first frames of a shared clip as an MP4, so the examples run in seconds."""
    cap = cv2.VideoCapture(str(VIDEOS / "liveportrait_d19.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    for _ in range(frames):
        ok, image = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), fps, (image.shape[1], image.shape[0]))
        writer.write(image)
    cap.release()
    writer.release()
    return dst


def test_readme_python_examples_run_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    blocks = _python_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert blocks, "README has no python examples"
    # the files the examples name, as a reader following README would have them
    _short_clip(tmp_path / "clip.mp4")
    shutil.copy(next(p for p in sorted(TEST_IMAGES.iterdir()) if p.suffix.lower() in (".jpg", ".png")), tmp_path / "photo.jpg")
    (tmp_path / "stimuli.csv").write_text("time_s,label,duration_s\n0.1,stimulus,0.3\n0.5,rest,0.2\n")
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "clip.mp4", "--out", "out", "--device", "cpu", "--quiet"]) == 0  # README's first command
    namespace: dict = {"__name__": "__readme__"}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)  # noqa: S102 - README's own code
        except ModuleNotFoundError as exc:  # an optional extra (pandas) that this environment lacks
            if exc.name not in ("pandas",):
                raise
    assert capsys.readouterr().out  # the examples print what they say they print
