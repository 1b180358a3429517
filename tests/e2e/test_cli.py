"""The emodesk command on the real shared media: sessions, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import PHOTOS, REPO, TEST_IMAGES, VIDEOS
from tests import media

SCHEMA = json.loads((REPO / "resources" / "session.schema.json").read_text())
VIDEO_FILES = sorted(VIDEOS.glob("*.mp4"))


def emodesk(*args: str, user: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "emodesk", *args]
    if user:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]  # numeric ids: names vary
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd, env=os.environ.copy())


def validate(path: Path) -> dict:
    data = json.loads(path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("emodesk: error:")]


@pytest.fixture(scope="module")
def video_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("sessions")
    run = emodesk("analyze", *map(str, VIDEO_FILES), "--out", str(out), "--device", "cpu")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return {p.name: validate(out / f"{p.stem}.session.json") for p in VIDEO_FILES} | {"_stdout": run.stdout}


@pytest.mark.parametrize("video", [p.name for p in VIDEO_FILES])
def test_every_frame_of_every_shared_video_is_in_a_valid_session(video_sessions: dict, video: str) -> None:
    data = video_sessions[video]
    expected = data["source"]["frame_count"]
    assert data["status"] == "complete"
    assert data["frames_processed"] == expected == len(data["frames"])
    assert [f["index"] for f in data["frames"]] == list(range(expected))
    fps = data["source"]["fps"]
    assert all(abs(f["time_s"] - f["index"] / fps) < 1e-5 for f in data["frames"])
    assert {m["kind"] for m in data["models"]} == {"face_detector", "emotion_classifier"}
    assert all(m["providers"] == ["CPUExecutionProvider"] for m in data["models"])
    assert "contempt" not in data["labels"]  # the default model has 7 classes
    # summaries agree with the frames
    seen: dict[int, int] = {}
    for frame in data["frames"]:
        for face in frame["faces"]:
            seen[face["id"]] = seen.get(face["id"], 0) + 1
            assert abs(sum(face["probs"].values()) - 1.0) < 1e-3
    assert {f["id"]: f["frames_seen"] for f in data["faces"]} == seen


def test_talking_head_is_one_face_id_for_the_whole_clip(video_sessions: dict) -> None:
    data = video_sessions["liveportrait_d19.mp4"]
    ids = {face["id"] for frame in data["frames"] for face in frame["faces"]}
    assert ids == {1}
    with_face = sum(1 for f in data["frames"] if f["faces"])
    assert with_face >= 0.98 * len(data["frames"])
    # neutral at the start, broad smile at the end (videos.csv)
    assert data["frames"][-1]["faces"][0]["emotion"] == "happiness"


def test_shot_cuts_get_new_ids_but_faces_keep_theirs_within_a_shot(video_sessions: dict) -> None:
    data = video_sessions["short_hamilton_clip.mp4"]
    cuts = [f["index"] for f in data["frames"] if f["shot_cut"]]
    assert cuts == [20, 82, 211]
    shot_of = {}
    for frame in data["frames"]:
        shot = sum(1 for c in cuts if c <= frame["index"])
        for face in frame["faces"]:
            assert shot_of.setdefault(face["id"], shot) == shot, f"face {face['id']} crosses a cut"
    # the performer's close-up (frames 82-210) is one face throughout
    assert max(face["frames_seen"] for face in data["faces"]) >= 120
    # the audience shot: four faces, each followed through the whole shot
    audience = [f for f in data["faces"] if f["first_frame"] == 211 and f["last_frame"] == 274]
    assert len(audience) >= 4


def test_summary_line_reports_speed_per_stage(video_sessions: dict) -> None:
    lines = [line for line in video_sessions["_stdout"].splitlines() if line.startswith("complete")]
    assert len(lines) == 3
    assert all("frames/s" in line and "detect" in line and "classify" in line for line in lines)


def test_two_runs_of_a_file_give_the_same_frames(tmp_path: Path) -> None:
    clip = str(VIDEOS / "short_hamilton_clip.mp4")
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert emodesk("analyze", clip, "--out", str(out), "--max-frames", "60", "--quiet").returncode == 0
    first, second = (validate(d / "short_hamilton_clip.session.json") for d in (a, b))
    assert first["frames"] == second["frames"]
    assert first["faces"] == second["faces"]


def test_max_frames_stops_early(tmp_path: Path) -> None:
    run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(tmp_path), "--max-frames", "10", "-q")
    data = validate(tmp_path / "liveportrait_d19.session.json")
    assert data["frames_processed"] == 10
    assert data["status"] == "complete"  # the user asked for 10 frames and got them
    assert run.returncode == 0


def test_stills_folder_and_image_inputs(tmp_path: Path) -> None:
    blank = media.blank_image(tmp_path / "nobody.png")
    run = emodesk("analyze", str(TEST_IMAGES), str(PHOTOS / "insightface_t1.jpg"), str(blank), "--out", str(tmp_path / "o"), "-q")
    assert run.returncode == 0, run.stderr
    folder = validate(tmp_path / "o" / "test_images.session.json")
    assert folder["source"]["kind"] == "images"
    # each frame names its picture, so frame numbers never have to match file positions
    assert [f["file"] for f in folder["frames"]] == sorted(p.name for p in TEST_IMAGES.iterdir() if p.suffix == ".jpg")
    assert [len(f["faces"]) for f in folder["frames"]] == [6, 1]  # group6, then single_smile
    ids = [face["id"] for f in folder["frames"] for face in f["faces"]]
    assert len(ids) == len(set(ids)) == 7  # unrelated pictures never share an ID
    photo = validate(tmp_path / "o" / "insightface_t1.session.json")
    assert len(photo["frames"][0]["faces"]) == 6
    nobody = validate(tmp_path / "o" / "nobody.session.json")
    assert nobody["frames_processed"] == 1 and nobody["frames"][0]["faces"] == [] and nobody["faces"] == []


def test_options_reach_the_session(tmp_path: Path) -> None:
    run = emodesk(
        "analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(tmp_path), "-q",
        "--detector", "scrfd_500m", "--emotion", "mini_xception", "--device", "cpu",
        "--detect-every", "3", "--smoothing", "0", "--threshold", "0.55", "--max-faces", "1", "--det-size", "320x320",
    )
    assert run.returncode == 0, run.stderr
    data = validate(tmp_path / "liveportrait_d19.session.json")
    assert [m["id"] for m in data["models"]] == ["scrfd_500m", "mini_xception"]
    s = data["settings"]
    assert (s["detect_every"], s["smoothing"], s["threshold"], s["max_faces"], s["det_size"]) == (3, 0, 0.55, 1, [320, 320])
    assert [f["detected"] for f in data["frames"][:6]] == [True, False, False, True, False, False]
    assert all(face["probs"] == face["smoothed"] for f in data["frames"] for face in f["faces"])
    assert {face["id"] for f in data["frames"] for face in f["faces"]} == {1}


def test_one_bad_input_does_not_stop_the_others(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    zero = tmp_path / "zero.mp4"
    zero.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    good = VIDEOS / "liveportrait_d19.mp4"
    run = emodesk(
        "analyze", str(tmp_path / "missing.mp4"), str(empty), str(zero), str(text), str(good),
        "--out", str(tmp_path / "out"), "--max-frames", "5", "-q",
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = error_lines(run.stderr)
    assert len(errors) == 4, run.stderr
    assert "missing.mp4: no such file" in errors[0]
    assert "empty: folder has no images" in errors[1]
    assert "zero.mp4: empty file (0 bytes)" in errors[2]
    assert "notes.mp4: not a video OpenCV can open" in errors[3]
    assert validate(tmp_path / "out" / "liveportrait_d19.session.json")["frames_processed"] == 5
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["liveportrait_d19.session.json"]


def test_mp4_cut_before_its_index_is_named_as_truncated(tmp_path: Path) -> None:
    half = media.cut(VIDEOS / "liveportrait_d19.mp4", tmp_path / "half.mp4")
    run = emodesk("analyze", str(half), "--out", str(tmp_path), "-q")
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert "half.mp4: truncated MP4" in line and "moov" in line


@pytest.mark.parametrize("kind", ["faststart-mp4", "avi"])
def test_truncated_video_keeps_what_decodes(tmp_path: Path, kind: str) -> None:
    src = VIDEOS / "liveportrait_d19.mp4"
    if kind == "avi":
        whole = media.write_avi(src, tmp_path / "whole.avi", frames=40)
    else:
        whole = media.faststart_mp4(src, tmp_path / "whole.mp4")
    half = media.cut(whole, tmp_path / f"half{whole.suffix}")
    run = emodesk("analyze", str(half), "--out", str(tmp_path / "out"), "-q")
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "NAL" not in run.stderr
    assert any("truncated: decoded" in line for line in run.stderr.splitlines())
    data = validate(tmp_path / "out" / "half.session.json")
    assert data["status"] == "truncated"
    assert 5 < data["frames_processed"] < data["source"]["frame_count"]
    assert [f["index"] for f in data["frames"]] == list(range(data["frames_processed"]))
    assert any("truncated" in w for w in data["warnings"])


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["analyze"], ["analyze", "x.mp4", "--threshold", "2"], ["analyze", "x.mp4", "--bogus"],
                 ["analyze", "x.mp4", "--det-size", "big"], ["models", "bogus"]):
        run = emodesk(*args)
        assert run.returncode == 2, args
        assert "usage error" in run.stderr and "Traceback" not in run.stderr


def test_unknown_model_is_one_line(tmp_path: Path) -> None:
    run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--emotion", "nope", "--out", str(tmp_path))
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert "unknown model 'nope'" in line and "fer_mobilefacenet_int8" in line


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(blocker))
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert "not a folder" in line


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="permission checks run the CLI as an unprivileged user, which needs root and setpriv",
)


@needs_root
def test_permission_problems_as_an_ordinary_user() -> None:
    import tempfile

    nobody = "65534"
    # pytest's own tmp folders are private to root; this one the unprivileged user can traverse
    with tempfile.TemporaryDirectory(prefix="emodesk-perm-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        secret = base / "secret.mp4"
        shutil.copy(VIDEOS / "liveportrait_d19.mp4", secret)
        secret.chmod(0o000)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        writable = base / "ok"
        writable.mkdir()
        writable.chmod(0o777)
        run = emodesk("analyze", str(secret), "--out", str(writable), user=nobody, cwd=base)
        assert run.returncode == 1, run.stderr
        [line] = error_lines(run.stderr)
        assert "secret.mp4: permission denied" in line
        run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(locked / "sub"), user=nobody, cwd=base)
        assert run.returncode == 1, run.stderr
        [line] = error_lines(run.stderr)
        assert "cannot be written" in line and "locked" in line
        assert list(writable.iterdir()) == []


def test_version_and_help() -> None:
    from emodesk import __version__

    assert emodesk("--version").stdout.strip() == f"emodesk {__version__}"
    help_text = emodesk("analyze", "--help").stdout
    for word in ("examples:", "--detect-every", "--smoothing", "--device", "--threshold", "--quiet", "--out"):
        assert word in help_text


def test_models_commands() -> None:
    listing = emodesk("models", "list", "--json")
    assert listing.returncode == 0
    rows = {r["id"]: r for r in json.loads(listing.stdout)}
    assert rows["yunet_n"]["status"] == "present" and rows["yunet_n"]["default"]
    assert rows["scrfd_10g"]["status"] == "missing"
    assert emodesk("models", "verify").returncode == 0
    run = emodesk("models", "download", "scrfd_10g")  # tests run with EMODESK_OFFLINE=1
    assert run.returncode == 1
    [line] = error_lines(run.stderr)
    assert "scrfd_10g" in line and "buffalo_l.zip" in line and "Looked in" in line


def test_absent_camera_and_unreachable_stream_are_one_line_each(tmp_path: Path) -> None:
    # nothing listens on the loopback discard port; index 97 is no camera on any test machine
    run = emodesk("analyze", "97", "rtsp://127.0.0.1:9/none", "--out", str(tmp_path), "-q")
    assert run.returncode == 1
    assert run.stderr.splitlines() == error_lines(run.stderr)  # nothing but our two lines
    camera, stream = error_lines(run.stderr)
    assert "97: cannot open the camera" in camera
    assert "rtsp://127.0.0.1:9/none: cannot open the stream" in stream


# ------------------------------------------------------------------ sampling, signals, crashes, recovery


def popen_emodesk(*args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "emodesk", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(), **kw,
    )


def wait_for_frames(journal: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120.0) -> int:
    """Frame lines on disk in ``journal`` once there are at least ``n`` (the run is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            count = journal.read_bytes().count(b'"type":"frame"')
            if count >= n:
                return count
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {n} frames were journaled: {proc.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    pytest.fail(f"{journal}: fewer than {n} frames after {timeout} s")


def test_sample_fps_option_records_the_mode_and_the_counts(tmp_path: Path) -> None:
    run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--sample-fps", "2", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    data = validate(tmp_path / "liveportrait_d19.session.json")
    total = data["source"]["frame_count"]
    assert data["status"] == "complete"  # every sampled frame was analysed
    assert data["analysis"] == {"mode": "sample_fps", "sample_fps": 2.0}
    assert data["counts"]["processed"] == len(data["frames"]) < total
    assert data["counts"]["processed"] + data["counts"]["skipped"] == data["counts"]["delivered"] == total
    assert f"of {total} ({total - len(data['frames'])} skipped" in run.stdout
    assert emodesk("analyze", "x.mp4", "--sample-fps", "0").returncode == 2


def test_sigterm_writes_a_stopped_session_and_exits_143(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = popen_emodesk("analyze", str(VIDEOS / "facenet-pytorch_video.mp4"), str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(out), "-q")
    try:
        wait_for_frames(out / "facenet-pytorch_video.journal.jsonl", 3, proc)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    data = validate(out / "facenet-pytorch_video.session.json")
    assert data["status"] == "stopped" and data["frames_processed"] >= 3
    assert data["counts"]["processed"] + data["counts"]["dropped"] == data["counts"]["delivered"]
    assert sorted(p.name for p in out.iterdir()) == ["facenet-pytorch_video.session.json"]  # no next input, no journal


def test_kill_9_keeps_the_journal_a_new_run_never_deletes_it_and_recover_makes_a_session(tmp_path: Path) -> None:
    out = tmp_path / "out"
    video = VIDEOS / "facenet-pytorch_video.mp4"
    journal = out / "facenet-pytorch_video.journal.jsonl"
    proc = popen_emodesk("analyze", str(video), "--out", str(out), "-q")
    try:
        on_disk = wait_for_frames(journal, 5, proc)
        proc.send_signal(signal.SIGKILL)  # a real crash: no handler runs
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    crashed = journal.read_bytes()
    assert crashed.count(b'"type":"frame"') >= on_disk

    # analysing again into the same folder: the crashed run's journal is kept, and the user is told
    again = emodesk("analyze", str(video), "--out", str(out), "--max-frames", "3", "-q")
    assert again.returncode == 0, again.stderr
    assert f"{journal}: journal of an earlier run that did not finish" in again.stderr
    assert f"emodesk recover {journal}" in again.stderr
    assert journal.read_bytes() == crashed
    assert validate(out / "facenet-pytorch_video.session.json")["frames_processed"] == 3

    # recover: the finished session is not overwritten; the recovered one goes beside it
    rec = emodesk("recover", str(journal))
    assert rec.returncode == 0, rec.stderr
    recovered = validate(out / "facenet-pytorch_video-recovered.session.json")
    assert recovered["status"] == "recovered"
    n = recovered["frames_processed"]
    assert n >= on_disk and [f["index"] for f in recovered["frames"]] == list(range(n))
    assert validate(out / "facenet-pytorch_video.session.json")["frames_processed"] == 3
    assert not journal.exists()


def test_recover_reports_a_bad_journal_in_one_line_and_exits_1(tmp_path: Path) -> None:
    bogus = tmp_path / "x.journal.jsonl"
    bogus.write_text("not json\n")
    run = emodesk("recover", str(bogus), str(tmp_path / "missing.journal.jsonl"), "--out", str(tmp_path / "o"))
    assert run.returncode == 1
    errors = error_lines(run.stderr)
    assert len(errors) == 2 and "not an emodesk journal" in errors[0] and "no such journal" in errors[1]
    assert bogus.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = emodesk("recover", str(tmp_path), str(empty))  # a folder: every journal in it
    assert folder.returncode == 1
    errors = error_lines(folder.stderr)
    assert len(errors) == 2 and "x.journal.jsonl: not an emodesk journal" in errors[1] and "empty: no journal" in errors[0]


def test_output_files_get_the_users_umask(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "emodesk", "analyze", str(TEST_IMAGES / "single_smile.jpg"), "--out", str(tmp_path), "-q"],
        capture_output=True, text=True, timeout=300, env=os.environ.copy(), preexec_fn=lambda: os.umask(0o027),
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "single_smile.session.json").stat().st_mode & 0o777 == 0o640


def test_a_full_disk_ends_one_input_in_one_line_keeps_its_journal_and_tries_the_next(tmp_path: Path) -> None:
    """The issue's reproduction: a 60 kB tmpfs (needs root to mount; skipped elsewhere)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60k", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        out = mount / "out"
        run = emodesk("analyze", str(VIDEOS / "liveportrait_d19.mp4"), str(TEST_IMAGES / "single_smile.jpg"), "--out", str(out), "-q")
        assert run.returncode == 1
        assert "Traceback" not in run.stderr
        errors = error_lines(run.stderr)
        assert len(errors) == 2, run.stderr  # one per input: the second one was tried
        journal = out / "liveportrait_d19.journal.jsonl"
        assert f"{journal}: cannot write (No space left on device)" in errors[0] and "emodesk recover" in errors[0]
        assert "single_smile" in errors[1]
        kept = journal.read_bytes().count(b'"type":"frame"')
        assert kept > 0
        rec = emodesk("recover", str(journal), "--out", str(tmp_path / "rec"))
        assert rec.returncode == 0, rec.stderr
        assert validate(tmp_path / "rec" / "liveportrait_d19.session.json")["frames_processed"] == kept
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
