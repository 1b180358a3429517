"""Input expansion for `emodesk analyze` (local and --cluster): folders, globs and --inputs-from lists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emodesk.core.inputs import expand_input, gather_inputs, read_input_list
from emodesk.errors import SourceError
from tests.conftest import PHOTOS, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """study/{b.mp4, a.MOV, notes.txt, sub/c.mp4} and photos/{x.jpg, y.png}: links to the shared media."""
    (tmp_path / "study" / "sub").mkdir(parents=True)
    for name in ("b.mp4", "a.MOV", "sub/c.mp4"):
        (tmp_path / "study" / name).symlink_to(CLIP)
    (tmp_path / "study" / "notes.txt").write_text("not media")
    (tmp_path / "photos").mkdir()
    photo = sorted(PHOTOS.glob("*.jpg"))[0]
    for name in ("x.jpg", "y.png"):
        (tmp_path / "photos" / name).symlink_to(photo)
    return tmp_path


def test_a_folder_of_videos_is_one_input_per_video_but_a_folder_of_images_stays_one(study: Path) -> None:
    folder = str(study / "study")
    assert expand_input(folder) == [f"{folder}/a.MOV", f"{folder}/b.mp4"]  # sorted, own files only
    assert expand_input(str(study / "photos")) == [str(study / "photos")]


def test_a_folder_with_videos_and_images_keeps_the_images_as_one_more_input(study: Path) -> None:
    (study / "study" / "frame.jpg").symlink_to(study / "photos" / "x.jpg")
    folder = str(study / "study")
    assert expand_input(folder) == [f"{folder}/a.MOV", f"{folder}/b.mp4", folder]


def test_globs_expand_sorted_and_recursively_and_an_unmatched_one_stays_to_fail_as_missing(study: Path) -> None:
    assert expand_input(str(study / "study" / "*.mp4")) == [str(study / "study" / "b.mp4")]
    assert expand_input(str(study / "study" / "**" / "*.mp4")) == [str(study / "study" / "b.mp4"), str(study / "study" / "sub" / "c.mp4")]
    assert expand_input(str(study / "nothing-*.mp4")) == [str(study / "nothing-*.mp4")]


def test_cameras_and_streams_pass_through() -> None:
    for target in ("0", "/dev/video2", "rtsp://cam.local/stream?x=*"):
        assert expand_input(target) == [target]


def test_input_list_one_path_a_line_relative_to_the_list(study: Path) -> None:
    listing = study / "lists" / "inputs.txt"
    listing.parent.mkdir()
    listing.write_text(f"# session 1\n../study/b.mp4\n\n{CLIP}\n../photos\n0\n")
    assert read_input_list(listing) == [str(listing.parent / "../study/b.mp4"), str(CLIP), str(listing.parent / "../photos"), "0"]


def test_input_list_as_csv_uses_the_path_column(study: Path) -> None:
    listing = study / "inputs.csv"
    listing.write_text("\ufeffparticipant,Path,condition\np01,study/b.mp4,a\np02,,b\np03,\"study/x, y.mp4\",c\n")
    assert read_input_list(listing) == [str(study / "study/b.mp4"), str(study / "study/x, y.mp4")]
    listing.write_text("participant,file\np01,study/b.mp4\n")
    with pytest.raises(SourceError, match="no 'path' column"):
        read_input_list(listing)
    with pytest.raises(SourceError, match="cannot read the input list"):
        read_input_list(study / "absent.txt")


def test_gather_puts_the_command_line_first_then_the_list_each_expanded(study: Path) -> None:
    listing = study / "inputs.txt"
    listing.write_text("study\n")
    assert gather_inputs([str(CLIP)], listing) == [str(CLIP), str(study / "study" / "a.MOV"), str(study / "study" / "b.mp4")]


def test_cli_inputs_from_runs_locally_and_no_input_at_all_is_a_usage_error(tmp_path: Path) -> None:
    listing = tmp_path / "inputs.csv"
    listing.write_text(f"path,who\n{CLIP},p01\n{tmp_path / 'gone.mp4'},p02\n")
    run = subprocess.run(
        [sys.executable, "-m", "emodesk", "analyze", "--inputs-from", str(listing), "--out", str(tmp_path / "out"), "--device", "cpu", "--max-frames", "5", "-q"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [f"emodesk: error: {tmp_path / 'gone.mp4'}: no such file or folder"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["liveportrait_d19.session.json"]
    empty = subprocess.run([sys.executable, "-m", "emodesk", "analyze", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 2 and empty.stderr.startswith("emodesk: usage error: no INPUT given")
    alone = subprocess.run([sys.executable, "-m", "emodesk", "analyze", str(CLIP), "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert alone.returncode == 2 and "need --cluster" in alone.stderr
    # a missing list is a usage error, as a missing --events file is (nothing is analysed)
    missing = subprocess.run([sys.executable, "-m", "emodesk", "analyze", str(CLIP), "--inputs-from", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "none")],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert missing.returncode == 2, missing.stderr
    assert "nope.txt" in missing.stderr and "Traceback" not in missing.stderr and not (tmp_path / "none").exists()


def test_cli_progress_in_a_log_has_no_bar_without_a_total(tmp_path: Path) -> None:
    # stderr is a pipe here, as in a log file: no "0frame [00:00, ?frame/s]" line from a bar with no total
    from tests.conftest import TEST_IMAGES

    photo = TEST_IMAGES / "single_smile.jpg"
    run = subprocess.run(
        [sys.executable, "-m", "emodesk", "analyze", str(photo), str(CLIP), "--out", str(tmp_path), "--device", "cpu", "--max-frames", "5"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "0frame [" not in run.stderr, run.stderr
    assert "0/5 [" in run.stderr  # a bar with its total is still drawn, now and then, into a log
