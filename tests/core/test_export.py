"""Per-frame CSV export: header, one row per face per frame (or per empty frame), exact values, errors."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from emodesk.core.analyze import analyze_file
from emodesk.core.export import frame_columns, iter_frame_rows, write_frames_csv
from emodesk.core.session import load_session
from emodesk.errors import OutputError
from tests.conftest import VIDEOS


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("sessions")
    return load_session(analyze_file(VIDEOS / "liveportrait_d19.mp4", out_dir=out, max_frames=20))


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def test_header_and_row_count_on_a_real_session(session: dict[str, Any], tmp_path: Path) -> None:
    path = write_frames_csv(session, tmp_path / "frames.csv")
    header, rows = read_csv(path)
    labels = session["labels"]
    assert header == [
        "frame", "time_s", "face_id", "x1", "y1", "x2", "y2", "score", "emotion", "confidence", "tracked",
        *(f"prob_{label}" for label in labels),
        *(f"smoothed_{label}" for label in labels),
    ]  # fmt: skip
    assert len(session["frames"]) == 20
    assert len(rows) == sum(max(1, len(frame["faces"])) for frame in session["frames"])
    assert sum(len(frame["faces"]) for frame in session["frames"]) > 0


def test_values_round_trip_exactly(session: dict[str, Any], tmp_path: Path) -> None:
    _, rows = read_csv(write_frames_csv(session, tmp_path / "frames.csv"))
    expected = [(frame, face) for frame in session["frames"] for face in (frame["faces"] or [None])]
    assert len(rows) == len(expected)
    for row, (frame, face) in zip(rows, expected):
        assert int(row["frame"]) == frame["index"] and float(row["time_s"]) == frame["time_s"]
        if face is None:
            assert row["face_id"] == row["emotion"] == row["x1"] == ""
            continue
        assert int(row["face_id"]) == face["id"]
        assert [float(row[k]) for k in ("x1", "y1", "x2", "y2")] == face["box"]
        assert float(row["score"]) == face["score"] and float(row["confidence"]) == face["confidence"]
        assert row["emotion"] == face["emotion"]
        assert row["tracked"] == ("true" if face.get("tracked") else "false")
        for label in session["labels"]:
            assert float(row[f"prob_{label}"]) == face["probs"][label]
            assert float(row[f"smoothed_{label}"]) == face["smoothed"][label]


def synthetic() -> dict[str, Any]:
    probs = {"happiness": 0.75, "neutral": 0.25}  # a 2-label model in a session that lists contempt too
    face = {
        "id": 4, "box": [1.5, 2.25, 30.0, 40.125], "score": 0.9, "landmarks": None, "probs": probs,
        "smoothed": {"happiness": 0.5, "neutral": 0.5}, "emotion": "happiness", "confidence": 0.5, "tracked": True,
    }  # fmt: skip
    return {
        "labels": ["contempt", "happiness", "neutral"],
        "frames": [
            {"index": 0, "time_s": 0.0, "faces": []},
            {"index": 1, "time_s": 0.04, "faces": [face, {**face, "id": 5, "emotion": None, "tracked": False}]},
            {"index": 2, "time_s": 0.08, "faces": []},
        ],
    }


def test_empty_frames_keep_the_timeline_and_missing_values_stay_empty(tmp_path: Path) -> None:
    _, rows = read_csv(write_frames_csv(synthetic(), tmp_path / "x.csv"))
    assert [r["frame"] for r in rows] == ["0", "1", "1", "2"]
    empty = rows[0]
    assert empty["time_s"] == "0.0"
    assert all(v == "" for k, v in empty.items() if k not in ("frame", "time_s"))
    assert rows[1]["prob_contempt"] == "" and rows[1]["prob_happiness"] == "0.75"
    assert rows[1]["tracked"] == "true" and rows[2]["tracked"] == "false"
    assert rows[2]["emotion"] == "" and rows[2]["face_id"] == "5"
    assert float(rows[1]["y2"]) == 40.125


def test_iter_frame_rows_keeps_json_types() -> None:
    rows = list(iter_frame_rows(synthetic()))
    assert list(rows[0]) == frame_columns(["contempt", "happiness", "neutral"])
    assert rows[0]["face_id"] is None and rows[0]["frame"] == 0
    assert rows[1]["face_id"] == 4 and rows[1]["tracked"] is True and rows[1]["prob_contempt"] is None
    assert rows[1]["smoothed_neutral"] == 0.5


def test_rewrite_replaces_the_file_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "frames.csv"
    target.write_text("old", encoding="utf-8")
    assert write_frames_csv(synthetic(), target) == target
    assert target.read_text(encoding="utf-8").startswith("frame,time_s,face_id")
    raw = target.read_bytes()
    assert raw.count(b"\r\n") == 5 and b"\r\r\n" not in raw  # header + 4 rows, csv line endings, no doubling
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv"]


@pytest.mark.parametrize("where", ["under_a_file", "is_a_folder"])
def test_unwritable_path_is_one_line_output_error(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "frames.csv" if where == "under_a_file" else tmp_path
    with pytest.raises(OutputError) as info:
        write_frames_csv(synthetic(), target)
    message = str(info.value)
    assert str(target) in message and "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
