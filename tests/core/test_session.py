"""Journal, crash recovery, summaries and the session schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from emodesk.core import session as session_mod
from emodesk.core.results import FaceResult, FrameResult, StageTimings
from emodesk.core.session import SessionRecorder, load_session, write_session_from_journal
from emodesk.core.settings import Settings
from emodesk.core.sources import SourceInfo
from emodesk.errors import EmodeskError, OutputError
from emodesk.inference.base import ModelInfo
from tests.conftest import REPO

SCHEMA = json.loads((REPO / "resources" / "session.schema.json").read_text())
LABELS = ("anger", "happiness", "neutral")
SOURCE = SourceInfo("video", "clip.mp4", 10.0, 20, 64, 48, live=False)
MODELS = [
    ModelInfo("det", "face_detector", "d.onnx", "/m/d.onnx", "a" * 64, "MIT", True, ("CPUExecutionProvider",)),
    ModelInfo("emo", "emotion_classifier", "e.onnx", "/m/e.onnx", "b" * 64, "MIT", True, ("CPUExecutionProvider",)),
]


def face(track: int, happy: float) -> FaceResult:
    probs = {"anger": 0.0, "happiness": happy, "neutral": 1.0 - happy}
    emotion = "happiness" if happy >= 0.5 else "neutral"
    return FaceResult(track, (1.0, 2.0, 30.0, 40.0), 0.9, ((5.0, 6.0),) * 5, probs, probs, emotion, max(happy, 1 - happy))


def frame(i: int, faces: tuple[FaceResult, ...]) -> FrameResult:
    return FrameResult(i, i / 10.0, faces, StageTimings(1.0, 2.0, 0.1, 3.0, 6.0))


def recorder(tmp_path: Path) -> SessionRecorder:
    return SessionRecorder(tmp_path / "clip.session.json", source=SOURCE, models=MODELS, settings=Settings(), labels=LABELS)


def test_summary_per_face(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    for i in range(10):
        faces = (face(1, 0.9 if i < 6 else 0.2),) + ((face(2, 0.8),) if i >= 4 else ())
        rec.add(frame(i, faces))
    path = rec.finish()
    assert not rec.journal_path.exists()
    data = load_session(path)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    one, two = data["faces"]
    assert (one["id"], one["first_frame"], one["last_frame"], one["frames_seen"]) == (1, 0, 9, 10)
    assert one["dominant_counts"] == {"anger": 0, "happiness": 6, "neutral": 4}
    assert one["most_common"] == "happiness"
    assert one["mean_probs"]["happiness"] == pytest.approx((6 * 0.9 + 4 * 0.2) / 10)
    assert one["mean_confidence"] == {"happiness": pytest.approx(0.9), "neutral": pytest.approx(0.8)}
    assert (two["first_frame"], two["first_time_s"], two["frames_seen"]) == (4, 0.4, 6)
    assert data["frames_processed"] == 10 and len(data["frames"]) == 10
    assert data["timings"]["mean_detect_ms"] == 2.0
    assert "timings" not in data["frames"][0]  # frames[] are reproducible run to run
    assert data["status"] == "complete" and data["labels"] == list(LABELS)


def test_journal_is_flushed_every_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(session_mod.time, "monotonic", lambda: clock[0])
    rec = recorder(tmp_path)
    rec.add(frame(0, (face(1, 0.9),)))
    on_disk = lambda: len(rec.journal_path.read_text().splitlines())  # noqa: E731
    assert on_disk() <= 1  # buffered: under a second since the last flush
    clock[0] += 1.01
    rec.add(frame(1, (face(1, 0.9),)))
    assert on_disk() == 3  # header + both frames reached the file
    rec.abandon()


def test_recovery_after_a_crash_keeps_every_complete_line(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    for i in range(7):
        rec.add(frame(i, (face(1, 0.7),)))
    rec.flush()
    # the process dies mid-write: a torn last line, no end record
    with rec.journal_path.open("a") as fh:
        fh.write('{"type":"frame","index":7,"ti')
    out = tmp_path / "recovered.session.json"
    write_session_from_journal(rec.journal_path, out)
    data = load_session(out)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert data["status"] == "recovered"
    assert data["frames_processed"] == 7 and [f["index"] for f in data["frames"]] == list(range(7))
    assert "unclean exit" in data["warnings"][0]
    rec.abandon()


def test_not_a_journal(tmp_path: Path) -> None:
    bogus = tmp_path / "x.journal.jsonl"
    bogus.write_text('{"hello": 1}\n')
    with pytest.raises(OutputError, match="not an emodesk journal"):
        write_session_from_journal(bogus, tmp_path / "x.session.json")


def test_load_session_rejects_other_json(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(EmodeskError, match="not an emodesk session"):
        load_session(other)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(EmodeskError, match="invalid JSON"):
        load_session(broken)


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="cannot write"):
        SessionRecorder(blocker / "x.session.json", source=SOURCE, models=MODELS, settings=Settings(), labels=LABELS)
