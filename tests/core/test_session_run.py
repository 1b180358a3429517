"""SessionRun on the real models and media: one analysed clip shared by the tests, sampling, a live replay's
drop accounting, and a real kill -9 while the source is stalled."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import jsonschema
import pytest

import emodesk
from emodesk.core.pipeline import Pipeline
from emodesk.core.reader import FrameSampler
from emodesk.core.results import StageTimings
from emodesk.core.run import RunStatus, SessionRun
from emodesk.core.session import read_journal
from emodesk.core.settings import Settings
from tests.conftest import REPO, VIDEOS

SCHEMA = json.loads((REPO / "resources" / "session.schema.json").read_text())
CLIP = VIDEOS / "liveportrait_d19.mp4"


def validate(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data


@pytest.fixture(scope="module")
def pipeline(cpu_pipeline: Pipeline) -> Pipeline:
    return cpu_pipeline  # loaded once per test run (tests/conftest.py)


def with_settings(pipeline: Pipeline, **changes: object) -> Pipeline:
    """The same loaded models with other tracking/sampling settings (no model reload)."""
    settings = Settings(**{**pipeline.settings.to_json(), "det_size": pipeline.settings.det_size, **changes})
    return Pipeline(settings, detector=pipeline.detector, classifier=pipeline.classifier)


@pytest.fixture(scope="module")
def analysed(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """40 frames of the talking-head clip, analysed once; what the run said before and after finish()."""
    out = tmp_path_factory.mktemp("run")
    run = SessionRun(pipeline, CLIP, out / "clip.journal.jsonl", max_frames=40)
    status = run.run()
    snapshot = run.snapshot()
    stored = {i: run.record_at(i) for i in (0, 17, 39, 40)}
    path = run.finish(out / "clip.session.json")
    return {"status": status, "snapshot": snapshot, "stored": stored, "path": path, "data": validate(path)}


def test_a_run_writes_a_valid_session_with_its_counts(analysed: dict) -> None:
    data = analysed["data"]
    assert analysed["status"] is RunStatus.COMPLETE  # the 40 frames asked for
    assert [f["index"] for f in data["frames"]] == list(range(40))
    counts = data["counts"]
    assert counts["processed"] == 40 == data["frames_processed"]
    assert counts["processed"] + counts["dropped"] + counts["skipped"] == counts["delivered"]
    # the read-ahead a frame limit abandons was never wanted: not dropped, not delivered
    assert counts["dropped"] == 0 == data["frames_dropped"] and counts["delivered"] == 40
    assert not any("dropped" in w for w in data["warnings"])
    assert data["analysis"] == {"mode": "every_frame", "sample_fps": None}
    assert {m["kind"] for m in data["models"]} == {"face_detector", "emotion_classifier"}
    from emodesk.inference.base import ModelInfo

    assert all(set(m) == set(ModelInfo.__dataclass_fields__) for m in data["models"])  # every field recorded


def test_record_at_equals_the_stored_frame(analysed: dict) -> None:
    session = emodesk.load_session(analysed["path"])
    for index in (0, 17, 39):
        # the journal also keeps each frame's timings; the session keeps their means only
        assert dataclasses.replace(analysed["stored"][index], timings=StageTimings()) == session.frame_at(index)
        assert analysed["stored"][index].faces  # the talking head is there
    assert analysed["stored"][40] is None


def test_snapshot_faces_equal_the_session_faces(analysed: dict) -> None:
    snap, faces = analysed["snapshot"], analysed["data"]["faces"]
    assert [f.id for f in snap.faces] == [f["id"] for f in faces] == [1]
    assert snap.faces[0].frames_seen == faces[0]["frames_seen"] == 40
    assert dict(snap.faces[0].dominant_counts) == faces[0]["dominant_counts"]
    assert snap.last_index == 39 and snap.expected_frames == 250


def test_load_session_round_trip_equals_the_written_json(analysed: dict) -> None:
    session = emodesk.load_session(str(analysed["path"]))
    assert session.to_json() == analysed["data"]
    assert len(session.frames) == 40 and session.source.path == str(CLIP)


def test_sample_fps_analyses_every_sampled_frame_and_is_complete(pipeline: Pipeline, tmp_path: Path) -> None:
    run = SessionRun(with_settings(pipeline, sample_fps=4.0), CLIP, tmp_path / "s.journal.jsonl")
    assert run.run() is RunStatus.COMPLETE
    data = validate(run.finish(tmp_path / "s.session.json"))
    fps, total = data["source"]["fps"], data["source"]["frame_count"]
    sampler = FrameSampler(4.0)
    expected = [i for i in range(total) if sampler.take(i / fps)]
    assert [f["index"] for f in data["frames"]] == expected
    assert data["counts"] == {"delivered": total, "processed": len(expected), "dropped": 0, "skipped": total - len(expected)}
    assert data["analysis"] == {"mode": "sample_fps", "sample_fps": 4.0}
    assert data["settings"]["sample_fps"] == 4.0


def test_a_frame_limit_with_sampling_drops_nothing(pipeline: Pipeline, tmp_path: Path) -> None:
    """``--sample-fps 4 --max-frames 5`` once said 5 of 44 (33 skipped, 6 dropped): the read-ahead."""
    run = SessionRun(with_settings(pipeline, sample_fps=4.0), CLIP, tmp_path / "m.journal.jsonl", max_frames=5)
    assert run.run() is RunStatus.COMPLETE
    data = validate(run.finish(tmp_path / "m.session.json"))
    counts = data["counts"]
    fps = data["source"]["fps"]
    sampler = FrameSampler(4.0)
    expected = [i for i in range(250) if sampler.take(i / fps)][:5]
    assert [f["index"] for f in data["frames"]] == expected
    # delivered: up to the 5th sampled frame, the skipped ones between them, nothing read ahead
    assert counts == {"delivered": expected[-1] + 1, "processed": 5, "dropped": 0, "skipped": expected[-1] + 1 - 5}


def test_analyze_progress_never_passes_its_total_under_a_frame_limit(pipeline: Pipeline, tmp_path: Path) -> None:
    from emodesk.core.analyze import analyze_source

    seen: list[tuple[int, int]] = []
    outcome = analyze_source(pipeline, CLIP, tmp_path / "p.session.json", max_frames=30, progress=lambda d, t: seen.append((d, t)))
    assert outcome.status == "complete"
    assert seen[-1] == (30, 30) and all(done <= total for done, total in seen)  # once reached 36 of 30


def test_a_pipeline_that_fails_to_start_ends_the_run_as_failed_and_leaks_nothing(pipeline: Pipeline, tmp_path: Path) -> None:
    from emodesk.core.sources import open_source

    broken = with_settings(pipeline)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("no run today")

    broken.run = refuse  # type: ignore[method-assign]
    source = open_source(CLIP)
    closed = []
    real_close = source.close
    source.close = lambda: (closed.append(True), real_close())  # type: ignore[method-assign]
    run = SessionRun(broken, source, tmp_path / "f.journal.jsonl")
    assert run.run() is RunStatus.FAILED and "no run today" in (run.error or "")
    assert closed and not [t for t in threading.enumerate() if t.name == "emodesk-journal-flush"]
    run.discard()


def test_live_replay_accounts_for_every_frame(pipeline: Pipeline, tmp_path: Path) -> None:
    """processed + dropped == delivered; whether anything is dropped depends on the machine, so not asserted."""
    run = SessionRun(pipeline, CLIP, tmp_path / "l.journal.jsonl", live=True, realtime=True, duration_s=2.0)
    assert run.run() is RunStatus.COMPLETE
    data = validate(run.finish(tmp_path / "l.session.json"))
    counts = data["counts"]
    assert counts["processed"] + counts["dropped"] == counts["delivered"] and counts["skipped"] == 0
    assert counts["processed"] == len(data["frames"]) >= 1
    assert data["analysis"]["mode"] == "latest_frame"
    # the drops each frame reports happened before it; the run's count also has those after the last one
    assert sum(f["dropped"] for f in data["frames"]) <= counts["dropped"] == data["frames_dropped"]
    if counts["dropped"]:
        assert any("dropped" in w for w in data["warnings"])


STALLING_RUN = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.run import SessionRun
    from emodesk.core.settings import Settings
    from emodesk.core.sources import FrameSource, open_source

    class Stalling(FrameSource):
        '''The first N frames of a video, then nothing: a paused camera, a stalled stream.'''
        def __init__(self, path, n):
            super().__init__()
            self.inner, self.n = open_source(path), n
            self.info = self.inner.info
        def frames(self):
            for frame in self.inner.frames():
                if frame.index >= self.n:
                    break
                yield frame
            threading.Event().wait()  # never returns: the process is killed here

    video, journal, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    run = SessionRun(Pipeline(Settings(device="cpu")), Stalling(video, n), journal,
                     on_result=lambda r: print("analysed", r.index, flush=True))
    run.run()
    """
)


def test_kill_9_while_the_source_is_stalled_loses_nothing_analysed(tmp_path: Path) -> None:
    """A real kill -9 (not a simulated crash) while no frame arrives: every analysed frame is on disk and
    `emodesk recover` makes a valid session of the journal."""
    journal = tmp_path / "stalled.journal.jsonl"
    n = 6
    proc = subprocess.Popen(
        [sys.executable, "-c", STALLING_RUN, str(CLIP), str(journal), str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        seen = []
        for line in proc.stdout:  # type: ignore[union-attr]
            seen.append(int(line.split()[1]))
            if seen[-1] == n - 1:
                break
        assert seen == list(range(n)), proc.stderr.read() if proc.poll() is not None else seen  # type: ignore[union-attr]
        time.sleep(3.0)  # the flush timer runs at least once a second while nothing arrives (margin for a loaded machine)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    frames = [r["index"] for r in read_journal(journal) if r.get("type") == "frame"]
    assert frames == list(range(n))  # a few KB: only a flush while idle puts them on disk
    recover = subprocess.run(
        [sys.executable, "-m", "emodesk", "recover", str(journal), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert recover.returncode == 0, recover.stderr
    data = validate(tmp_path / "out" / "stalled.session.json")
    assert data["status"] == "recovered" and [f["index"] for f in data["frames"]] == list(range(n))
    assert not journal.exists()  # recover removes the journal once its session is written and read back


# ------------------------------------------------------------------ events edited, baseline, valence_mean


@pytest.fixture(scope="module")
def edited(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """30 frames with three marks, one renamed, one deleted, one closed into an interval and a baseline set
    through the run; the finished session and the session rebuilt from the journal as after a crash."""
    from emodesk.core.baseline import BaselineInterval
    from emodesk.core.events import Event

    out = tmp_path_factory.mktemp("edited")
    run = SessionRun(pipeline, CLIP, out / "e.journal.jsonl", max_frames=30)
    run.run()
    a, b, c = (Event(t, f"Event {n}", frame=i, source="key") for n, (t, i) in enumerate(((0.2, 5), (0.4, 10), (0.6, 15)), 1))
    for event in (a, b, c):
        run.add_event(event)
    assert run.rename_event(b, "question")
    assert run.remove_event(a)
    assert run.replace_event(c, dataclasses.replace(c, duration_s=0.2))
    assert not run.remove_event(a)  # gone already: nothing journaled
    run.set_baseline(BaselineInterval(0.0, 0.5))
    snap = run.snapshot()
    # a crash: the journal as it is now, without the end record a clean finish leaves
    crashed = out / "crashed.journal.jsonl"
    crashed.write_text("".join(line for line in run.journal_path.read_text().splitlines(True) if '"type":"end"' not in line))
    from emodesk.core.session import write_session_from_journal

    write_session_from_journal(crashed, out / "crashed.session.json")
    path = run.finish(out / "e.session.json")
    return {"snapshot": snap, "data": validate(path), "recovered": validate(out / "crashed.session.json"), "path": path}


def test_renamed_and_deleted_events_are_journaled_and_recovered(edited: dict) -> None:
    expected = [
        {"time_s": 0.4, "frame": 10, "label": "question", "duration_s": None, "source": "key"},
        {"time_s": 0.6, "frame": 15, "label": "Event 3", "duration_s": 0.2, "source": "key"},
    ]
    assert edited["data"]["events"] == expected
    assert edited["recovered"]["events"] == expected  # replayed with the same rule as the live edits
    assert edited["recovered"]["status"] == "recovered"
    assert [e.to_json() for e in edited["snapshot"].events] == expected


def test_a_baseline_set_on_the_run_is_recorded_as_analyze_baseline_records_it(edited: dict, tmp_path: Path) -> None:
    """The window's path (SessionRun.set_baseline) and `emodesk analyze --baseline 0:0.5` (record_in_session
    on the plain session) write the same baseline and faces[]; a crash recovery keeps it too."""
    from emodesk.core.baseline import BaselineInterval
    from emodesk.core.export import SessionView, record_in_session

    data = edited["data"]
    assert data["baseline"]["start_s"] == 0.0 and data["baseline"]["end_s"] == 0.5
    assert [f["id"] for f in data["baseline"]["faces"]] == [1] and data["baseline"]["faces"][0]["frames"] >= 10
    assert edited["snapshot"].baseline == BaselineInterval(0.0, 0.5)
    assert edited["recovered"]["baseline"] == data["baseline"] and edited["recovered"]["faces"] == data["faces"]
    plain = dict(data)
    plain.pop("baseline")
    cli = tmp_path / "cli.session.json"
    cli.write_text(json.dumps(plain))
    record_in_session(cli, SessionView(cli, baseline=BaselineInterval(0.0, 0.5)))
    recorded = validate(cli)
    assert recorded["baseline"] == data["baseline"] and recorded["faces"] == data["faces"]
    assert recorded["frames"] == data["frames"]


def test_every_session_has_valence_mean_from_smoothed_probabilities(analysed: dict, tmp_path: Path) -> None:
    """One rule: FaceStats gives valence_mean to every session; an export without a baseline keeps it, so a
    session rewritten by record_in_session (the window's edits, --events) equals the run's faces[]."""
    import numpy as np

    from emodesk.core.export import SessionView, record_in_session
    from emodesk.core.valence import valence

    data = analysed["data"]
    face = data["faces"][0]
    values = [valence(f["smoothed"]) for r in data["frames"] for f in r["faces"]]
    assert face["valence_mean"] == pytest.approx(float(np.mean(values)), abs=1e-5)
    assert analysed["snapshot"].faces[0].valence_mean == face["valence_mean"]
    copy = tmp_path / "copy.session.json"
    copy.write_text(json.dumps(data))
    record_in_session(copy, SessionView(copy))
    assert validate(copy)["faces"] == data["faces"]
