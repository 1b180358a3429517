"""A video damaged in the middle is read past the damage: the gap is recorded, the rest is analysed, and
FFmpeg's own decoder messages never reach the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from emodesk.core.sources import Gap, open_source
from tests.conftest import VIDEOS
from tests.media import faststart_mp4, write_avi

CLIP = VIDEOS / "liveportrait_d19.mp4"  # 250 frames at 30 fps


def randomise(src: Path, dst: Path, start: float = 0.45, end: float = 0.55, seed: int = 0) -> Path:
    """Overwrite bytes start..end (fractions of the file) with random bytes, as a bad disk or transfer does."""
    data = bytearray(src.read_bytes())
    a, b = int(len(data) * start), int(len(data) * end)
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def damaged_mp4(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("damaged")
    return randomise(faststart_mp4(CLIP, folder / "faststart.mp4"), folder / "damaged.mp4")


@pytest.fixture(scope="module")
def damaged_avi(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("damaged_avi")
    return randomise(write_avi(CLIP, folder / "clip.avi", frames=250), folder / "damaged.avi")


def frames_before_first_failure(path: Path) -> int:
    """What a reader that stops at the first failed read gets (emodesk before this fix: 'truncated')."""
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


def test_reading_continues_past_a_damaged_stretch(damaged_mp4: Path) -> None:
    with open_source(damaged_mp4) as source:
        indices = [frame.index for frame in source.frames()]
        expected = source.info.frame_count
        gaps = list(source.gaps)
    stopped_at = frames_before_first_failure(damaged_mp4)
    assert stopped_at < expected - 1  # the damage really stops a naive reader
    assert len(indices) > stopped_at  # frames after the damage are read too
    assert indices[-1] >= expected - 2 and not source.truncated  # to the end of the file
    assert gaps and all(isinstance(g, Gap) and g.first_frame <= g.last_frame for g in gaps)
    assert indices == sorted(set(indices))  # in order, never a frame twice
    # every frame index up to the last is either decoded or inside a recorded gap
    covered = set(indices)
    for gap in gaps:
        assert not covered & set(range(gap.first_frame, gap.last_frame + 1))
        covered |= set(range(gap.first_frame, gap.last_frame + 1))
        assert gap.start_s == pytest.approx(gap.first_frame / source.info.fps, abs=1e-3)
        assert gap.end_s == pytest.approx((gap.last_frame + 1) / source.info.fps, abs=1e-3)
    assert covered == set(range(indices[-1] + 1))
    # timestamps stay media time: a frame after the gap keeps its place in the clip
    assert any(i > gaps[0].last_frame for i in indices)


def test_a_damaged_avi_says_how_early_later_times_may_be(damaged_avi: Path) -> None:
    # FFmpeg resyncs an AVI after damage as if no frame had been lost; only the frame count tells
    with open_source(damaged_avi) as source:
        indices = [frame.index for frame in source.frames()]
    assert source.gaps and len(indices) > frames_before_first_failure(damaged_avi)
    missing = source.info.frame_count - indices[-1] - 1
    assert missing > 0
    [warning] = source.warnings
    assert f"{missing} more frames were lost" in warning and f"{missing / source.info.fps:.2f} s early" in warning


def test_an_intact_file_has_no_gap_and_the_same_frames_as_before(tmp_path: Path) -> None:
    fast = faststart_mp4(CLIP, tmp_path / "fast.mp4")
    with open_source(fast) as source:
        indices = [frame.index for frame in source.frames()]
    assert source.gaps == [] and not source.truncated
    assert indices == list(range(frames_before_first_failure(fast)))


def _run_cli(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}  # as a user's shell has it
    return subprocess.run(
        # sampling keeps the test quick: the whole file is still decoded, so the gap is still found
        [sys.executable, "-m", "emodesk", "analyze", str(path), "--out", str(out), "--device", "cpu",
         "--sample-fps", "2", "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )


@pytest.mark.parametrize("kind", ["mp4", "avi"])
def test_damaged_session_says_where_and_only_emodesk_speaks(kind: str, damaged_mp4: Path, damaged_avi: Path, tmp_path: Path) -> None:
    path = damaged_mp4 if kind == "mp4" else damaged_avi
    run = _run_cli(path, tmp_path)
    # FFmpeg's "[h264 @ 0x…] Invalid NAL unit size" / "[mjpeg @ 0x…] bad vlc" lines stay out of the terminal
    assert "@ 0x" not in run.stderr + run.stdout, run.stderr
    assert all(line.startswith("emodesk: ") for line in run.stderr.splitlines()), run.stderr
    assert run.returncode == 1  # like a truncated file: the session is written, and scripts notice
    session = json.loads((tmp_path / "damaged.session.json").read_text())
    assert session["status"] == "damaged"
    gap_lines = [w for w in session["warnings"] if "damaged: frames" in w]
    assert gap_lines and any("damaged: frames" in line for line in run.stderr.splitlines())
    assert "could not be decoded" in gap_lines[0] and " s)" in gap_lines[0]
