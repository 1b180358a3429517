"""``emodesk analyze --cluster`` on a real local Ray cluster (2 CPUs), started once for this module.

The CLI runs as a subprocess that joins the module's cluster by its address, as a user's driver joins a
cluster started with ``ray start``; the lost-worker test drives :func:`emodesk.core.cluster.run_batch`
in-process so it can kill the worker's process (SIGKILL, as the OOM killer or a lost node would) while
the input is half analysed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import VIDEOS
from tests.e2e.test_cli import emodesk, error_lines
from tests.e2e.test_cli import validate as load

ray = pytest.importorskip("ray", reason="the cluster extra is not installed: pip install -e '.[cluster]'")

from emodesk.core.cluster import WORK_PREFIX, BatchProgress, ClusterOptions, run_batch
from emodesk.core.settings import Settings
from emodesk.errors import EmodeskError

pytestmark = pytest.mark.slow  # starts a local Ray cluster and analyses every shared video several times

VIDEO_FILES = sorted(VIDEOS.glob("*.mp4"))
SLOWEST = VIDEOS / "facenet-pytorch_video.mp4"  # 1080p, 6-8 faces: the longest task
# what may differ between two runs of the same input: when and how fast it ran
RUN_DEPENDENT = {"created", "timings", "wall_time_s"}


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray cluster for this module: 2 CPUs, no dashboard; its address for the CLI to join.

    It also declares one GPU, which this machine does not have: Ray schedules by the declared resource,
    so --gpus-per-task's pool sizing and placement are tested for real; the models still run on the CPU.
    """
    # address="local": its own cluster, even beside one that `ray start` runs on this machine
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def local_sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The reference: the three shared clips through a plain local `emodesk analyze`."""
    out = tmp_path_factory.mktemp("local")
    run = emodesk("analyze", *map(str, VIDEO_FILES), "--out", str(out), "--device", "cpu", "--quiet")
    assert run.returncode == 0, run.stderr
    return {p.stem: load(out / f"{p.stem}.session.json") for p in VIDEO_FILES}


def test_cluster_sessions_are_the_local_sessions(cluster: str, local_sessions: dict, tmp_path: Path) -> None:
    run = emodesk("analyze", *map(str, VIDEO_FILES), "--out", str(tmp_path), "--device", "cpu", "--cluster", cluster)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "cluster: 2 worker(s) for 3 input(s)" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{p.stem}.session.json" for p in VIDEO_FILES)
    for video in VIDEO_FILES:
        got, want = load(tmp_path / f"{video.stem}.session.json"), local_sessions[video.stem]
        assert got["status"] == "complete"
        assert len(got["frames"]) == want["source"]["frame_count"]
        assert got["frames"] == want["frames"], video.name
        assert {k: v for k, v in got.items() if k not in RUN_DEPENDENT} == {k: v for k, v in want.items() if k not in RUN_DEPENDENT}
        # the driver prints the same per-input line as a local run
        assert f"complete  {video} → {tmp_path / (video.stem + '.session.json')}: {len(want['frames'])} frames" in run.stdout


def test_a_bad_input_fails_alone_with_the_local_error_line(cluster: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    missing = tmp_path / "missing.mp4"
    good = VIDEOS / "liveportrait_d19.mp4"
    inputs = [str(broken), str(good), str(missing)]
    local = emodesk("analyze", *inputs, "--out", str(tmp_path / "local"), "--device", "cpu", "--quiet")
    remote = emodesk("analyze", *inputs, "--out", str(tmp_path / "cluster"), "--device", "cpu", "--quiet", "--cluster", cluster)
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert "Traceback" not in remote.stderr
    errors = error_lines(remote.stderr)
    assert sorted(errors) == sorted(error_lines(local.stderr))
    assert len(errors) == 2 and any(str(broken) in e for e in errors) and any(str(missing) in e for e in errors)
    assert [p.name for p in (tmp_path / "cluster").iterdir()] == ["liveportrait_d19.session.json"]
    assert load(tmp_path / "cluster" / "liveportrait_d19.session.json")["status"] == "complete"


def test_a_worker_killed_mid_input_still_gives_one_complete_session(cluster: str, local_sessions: dict, tmp_path: Path) -> None:
    killed: list[int] = []
    warnings: list[str] = []

    def kill_once(progress: BatchProgress) -> None:
        for task in progress.running:
            # half-way through the slowest clip, on its first attempt: kill the worker's process outright
            if not killed and task.target == str(SLOWEST) and task.pid and task.expected and 0 < task.frames < task.expected:
                os.kill(task.pid, signal.SIGKILL)
                killed.append(task.pid)

    results = run_batch(
        [str(SLOWEST), str(VIDEOS / "liveportrait_d19.mp4")],
        tmp_path,
        Settings(device="cpu"),
        ClusterOptions(),
        on_progress=kill_once,
        on_warning=warnings.append,
    )
    assert killed, "the test never caught the worker mid-input"
    slow = next(r for r in results if r.target == str(SLOWEST))
    assert slow.attempts == 2 and slow.worker is not None and slow.worker.pid != killed[0]
    assert slow.outcome.status == "complete" and slow.outcome.session_path == tmp_path / f"{SLOWEST.stem}.session.json"
    assert len(warnings) == 1 and str(SLOWEST) in warnings[0] and "attempt 2 of 3" in warnings[0]
    assert all(r.outcome.ok for r in results)
    # one session per input, nothing half-written beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["facenet-pytorch_video.session.json", "liveportrait_d19.session.json"]
    data = load(tmp_path / f"{SLOWEST.stem}.session.json")
    assert data["frames"] == local_sessions[SLOWEST.stem]["frames"]
    # the killed worker's temporary folder was cleared by the worker that replaced it
    assert not list(Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}{killed[0]}-*"))


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_cancels_the_running_inputs_and_keeps_the_finished_ones(cluster: str, tmp_path: Path, signum: int, status: int) -> None:
    # SIGTERM too: ray.init replaces the CLI's SIGTERM handler with its own (stack dump, exit 15) unless
    # emodesk puts it back
    inputs = [str(VIDEOS / "liveportrait_d19.mp4"), str(SLOWEST), str(VIDEOS / "short_hamilton_clip.mp4")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "emodesk", "analyze", *inputs, "--out", str(tmp_path), "--device", "cpu", "--cluster", cluster, "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    first = tmp_path / "liveportrait_d19.session.json"
    deadline = time.monotonic() + 300
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.exists(), proc.communicate()[1]
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    written = sorted(p.name for p in tmp_path.iterdir())
    assert "liveportrait_d19.session.json" in written and len(written) < 3, written
    assert all(name.endswith(".session.json") for name in written)  # no temporary or half files
    assert all(load(tmp_path / name)["status"] == "complete" for name in written)


def test_one_worker_keeps_its_models_for_every_input_it_is_given(cluster: str, tmp_path: Path) -> None:
    sizes: list[int] = []
    results = run_batch(
        [str(p) for p in VIDEO_FILES], tmp_path, Settings(device="cpu"), ClusterOptions(workers=1),
        run_options={"max_frames": 5}, on_ready=lambda worker, size: sizes.append(size),
    )
    assert sizes == [1]
    assert [r.outcome.status for r in results] == ["complete"] * 3
    assert [r.outcome.frames for r in results] == [5, 5, 5]
    # one actor process served every input: its Pipeline (loaded in the actor's __init__) was reused
    assert len({r.worker.pid for r in results}) == 1
    assert all(r.attempts == 1 for r in results)


def test_gpus_per_task_sizes_the_pool_by_the_clusters_gpus(cluster: str, tmp_path: Path) -> None:
    sizes: list[int] = []
    inputs = [str(p) for p in VIDEO_FILES[:2]]
    results = run_batch(
        inputs, tmp_path, Settings(device="cpu"), ClusterOptions(gpus_per_task=0.5),
        run_options={"max_frames": 5}, on_ready=lambda worker, size: sizes.append(size),
    )
    assert sizes == [2]  # one GPU, half each
    assert len({r.worker.pid for r in results}) == 2 and all(r.outcome.ok for r in results)
    with pytest.raises(EmodeskError, match=r"--gpus-per-task 2: the Ray cluster has 1 GPU"):
        run_batch(inputs, tmp_path, Settings(device="cpu"), ClusterOptions(gpus_per_task=2))


def test_an_input_that_keeps_losing_its_worker_fails_after_the_retries_with_one_line(cluster: str, tmp_path: Path) -> None:
    killed: list[int] = []
    warnings: list[str] = []

    def kill_every_attempt(progress: BatchProgress) -> None:
        for task in progress.running:
            if task.pid and task.frames > 0 and task.pid not in killed:
                os.kill(task.pid, signal.SIGKILL)
                killed.append(task.pid)

    [result] = run_batch(
        [str(SLOWEST)], tmp_path, Settings(device="cpu"), ClusterOptions(retries=1),
        on_progress=kill_every_attempt, on_warning=warnings.append,
    )
    assert len(killed) == 2 and result.attempts == 2 and len(warnings) == 1
    assert result.outcome.status == "failed" and result.outcome.session_path is None
    assert result.outcome.error.startswith(f"{SLOWEST}: the worker analysing it died 2 times (")
    assert "\n" not in result.outcome.error
    assert list(tmp_path.iterdir()) == []  # nothing half-written
