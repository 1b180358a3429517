"""RunControl and its worker without the window: Stop while a run is still loading, and a clean quit
that deletes the journal of a run whose start the GUI thread has not heard of yet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from emodesk.core.settings import Settings
from emodesk.ui.jobs import JobRunner
from emodesk.ui.run_control import RunControl
from tests.conftest import VIDEOS

CLIP = VIDEOS / "short_hamilton_clip.mp4"  # 275 frames


@pytest.fixture()
def runs(qtbot):
    control = RunControl(JobRunner())  # jobs run on the calling thread here: discards happen at once
    yield control
    control.shutdown()


def test_stop_while_the_models_load_stops_the_run(qtbot, runs: RunControl, recovery: Path) -> None:
    with qtbot.waitSignal(runs.ended, timeout=120000) as blocker:
        runs.start(str(CLIP), Settings(device="cpu"), live=False)
        runs.stop()  # the worker is still loading the models: there is no current run to stop yet
    end = blocker.args[0]
    assert end.status == "stopped", end
    assert end.frames < 275
    assert not runs.running


def test_shutdown_discards_a_run_whose_start_signal_is_still_queued(qtbot, runs: RunControl, recovery: Path) -> None:
    runs.start(str(CLIP), Settings(device="cpu"), live=False)
    # no Qt events are processed here, so runStarted stays queued for the GUI thread
    deadline = time.monotonic() + 120
    while not (journals := list(recovery.glob("*.journal*"))) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert journals, "the run never started"
    assert not runs._run_of  # the GUI thread has not heard of the run
    ended = runs.shutdown()
    assert ended, "the started run is not among those to discard"
    for run in ended:
        run.discard()
    assert not [path for path in journals if path.exists()]
