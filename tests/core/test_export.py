"""Exports of one analysed clip: CSV, PDF report, annotated video, events and baseline, CLI equality.

One real analysis (``emodesk analyze --pdf --csv --video --events --baseline`` on liveportrait_d19) is
shared by the module; synthetic sessions cover the edge cases.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from emodesk.core.baseline import BaselineInterval
from emodesk.core.events import Event
from emodesk.core.export import (
    ExportCancelled,
    SessionView,
    export_session,
    frame_columns,
    iter_frame_rows,
    write_annotated_video,
    write_frames_csv,
    write_report,
)
from emodesk.core.session import load_session
from emodesk.errors import EmodeskError, OutputError, SourceError
from tests.conftest import REPO, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"  # 250 frames, one face, neutral then a broad smile
EVENTS = "time_s,label,duration_s\n0.5,fixation,\n3,smile prompt,2.5\n6.5,free talk,\n"


def emodesk(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emodesk", *map(str, args)], capture_output=True, text=True, timeout=600, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("analysed")
    events = out / "stimuli.csv"
    events.write_text(EVENTS, encoding="utf-8")
    run = emodesk("analyze", CLIP, "--out", out, "--pdf", "--csv", "--video", "--events", events, "--baseline", "0:2", "-q")
    assert run.returncode == 0, run.stderr
    session = out / "liveportrait_d19.session.json"
    return {
        "out": out,
        "events": events,
        "session": session,
        "doc": json.loads(session.read_text(encoding="utf-8")),
        "csv": out / "liveportrait_d19.frames.csv",
        "pdf": out / "liveportrait_d19.report.pdf",
        "video": out / "liveportrait_d19.annotated.mp4",
    }


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def pdf_text(path: Path) -> list[str]:
    """Text of each page (pdftotext separates pages with form feeds)."""
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return done.stdout.split("\f")[:-1]


def video_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            return frames
        frames.append(image)


# ---------------------------------------------------------------------- the analysed clip


def test_csv_has_one_row_per_face_frame_and_loads_in_pandas(analysed: dict[str, Any]) -> None:
    pd = pytest.importorskip("pandas")
    doc = analysed["doc"]
    face_frames = sum(len(frame["faces"]) for frame in doc["frames"])
    table = pd.read_csv(analysed["csv"])
    assert face_frames > 200 and len(table) == face_frames
    assert list(table.columns) == frame_columns(doc["labels"], calibrated=True)
    assert table["tracked"].dtype == bool and table["face_id"].dtype.kind == "i"
    assert table["valence"].between(-1, 1).all() and (table["valence_from"] == "calibrated").all()
    calibrated = table[[f"calibrated_{label}" for label in doc["labels"]]]
    assert np.allclose(calibrated.sum(axis=1), 1.0, atol=1e-4)
    # stored values go out unchanged: raw and smoothed are the session's
    first = doc["frames"][0]["faces"][0]
    assert table.loc[0, f"raw_{doc['labels'][0]}"] == first["probs"][doc["labels"][0]]
    assert table.loc[0, "smoothed_happiness"] == first["smoothed"]["happiness"]


def test_every_csv_column_is_documented_in_the_readme(analysed: dict[str, Any]) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Per-frame CSV") :]
    section = section[: section.index("\n### ", 4)]
    documented = set(re.findall(r"^\| `([a-z0-9_<>]+)` \|", section, re.MULTILINE))
    header, _ = read_csv(analysed["csv"])
    labels = analysed["doc"]["labels"]
    for column in header:
        generic = re.sub(rf"_({'|'.join(labels)})$", "_<label>", column)
        assert generic in documented, f"CSV column {column} is not documented in README's Per-frame CSV table"


def test_events_and_baseline_are_recorded_in_the_session(analysed: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = analysed["doc"]
    schema = json.loads((REPO / "resources" / "session.schema.json").read_text(encoding="utf-8"))
    # the keys this export adds, against their published schema (the whole document is SESSION-CORE's test)
    for key in ("events", "baseline", "faces"):
        jsonschema.validate(doc[key], schema["properties"][key])
    assert doc["events"] == [
        {"time_s": 0.5, "frame": None, "label": "fixation", "duration_s": None, "source": "file"},
        {"time_s": 3.0, "frame": None, "label": "smile prompt", "duration_s": 2.5, "source": "file"},
        {"time_s": 6.5, "frame": None, "label": "free talk", "duration_s": None, "source": "file"},
    ]
    assert doc["baseline"]["start_s"] == 0 and doc["baseline"]["end_s"] == 2
    (face,) = doc["baseline"]["faces"]
    assert face["id"] == 1 and face["frames"] == sum(1 for f in doc["frames"] if f["time_s"] <= 2 and f["faces"])
    assert -1 <= doc["faces"][0]["valence_mean"] <= 1
    # the stored frames are not rewritten by calibration
    assert all("calibrated" not in face for frame in doc["frames"] for face in frame["faces"])


def test_events_reach_the_csv_rows_by_time(analysed: dict[str, Any]) -> None:
    _, rows = read_csv(analysed["csv"])
    by_time = {float(r["time_s"]): r["event"] for r in rows}
    assert by_time[0.0] == ""  # before the first event
    assert by_time[1.0] == "fixation"  # a moment lasts until the next onset
    assert by_time[4.0] == "smile prompt"
    assert by_time[6.0] == ""  # after the 2.5 s interval, before the next onset
    assert by_time[7.0] == "free talk"


def test_report_pages_and_text(analysed: dict[str, Any]) -> None:
    pages = pdf_text(analysed["pdf"])
    assert len(pages) == 3  # overview, the one face, the events
    overview, face, events = pages
    for words in ("liveportrait_d19.mp4", "duration: 8.33 s", "480×480 px", "30 fps", "status: complete",
                  "Models", "licence", "CPUExecutionProvider", "Settings", "smoothing: 0.25", "Baseline",
                  "interval: 0 s to 2 s", "Events (3)", "fixation", "smile prompt", "free talk"):  # fmt: skip
        assert words in overview, words
    for model in analysed["doc"]["models"]:
        assert model["id"] in overview and model["licence"] in overview
    on_screen = analysed["doc"]["faces"][0]["on_screen_s"]  # the session's figure, as the window shows it
    for words in ("Face #1", f"time on screen: {on_screen:.2f} s", "emotion timeline", "valence", "top emotion per frame",
                  "mean raw p", "baseline p", "mean calibrated p", "mean confidence", "happiness"):  # fmt: skip
        assert words in face, words
    assert "Emotions within each event" in events and "baseline 0-2 s" in events and "smile prompt" in events


def test_report_embeds_its_fonts(analysed: dict[str, Any]) -> None:
    fonts = subprocess.run(["pdffonts", str(analysed["pdf"])], capture_output=True, text=True, check=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows and all(" yes " in row and "TrueType" in row for row in rows), fonts


def test_annotated_video_keeps_the_source_frame_count_size_and_rate(analysed: dict[str, Any]) -> None:
    src, out = cv2.VideoCapture(str(CLIP)), cv2.VideoCapture(str(analysed["video"]))
    for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FPS):
        assert out.get(prop) == pytest.approx(src.get(prop))
    src.release()
    out.release()
    frames = video_frames(analysed["video"])
    assert len(frames) == len(video_frames(CLIP)) == 250
    # the overlays are drawn: the box's edge pixels differ strongly from the source's
    face = analysed["doc"]["frames"][100]["faces"][0]
    x1, y1 = (round(v) for v in face["box"][:2])
    source_frame = video_frames(CLIP)[100]
    assert np.abs(frames[100][y1 + 5 : y1 + 40, x1].astype(int) - source_frame[y1 + 5 : y1 + 40, x1]).mean() > 30


def test_export_of_the_saved_session_equals_what_analyze_wrote(analysed: dict[str, Any], tmp_path: Path) -> None:
    run = emodesk("export", analysed["session"], "--pdf", tmp_path / "r.pdf", "--csv", tmp_path / "f.csv",
                  "--video", tmp_path / "v.mp4", "-q")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "f.csv").read_bytes() == analysed["csv"].read_bytes()
    # byte-equal too: no creation date in the PDF, the same encoder settings for the video
    assert (tmp_path / "r.pdf").read_bytes() == analysed["pdf"].read_bytes()
    assert pdf_text(tmp_path / "r.pdf") == pdf_text(analysed["pdf"])
    a, b = video_frames(tmp_path / "v.mp4"), video_frames(analysed["video"])
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_export_defaults_beside_the_session_and_finds_a_moved_source(analysed: dict[str, Any], tmp_path: Path) -> None:
    session = tmp_path / "moved.session.json"
    doc = dict(analysed["doc"], source={**analysed["doc"]["source"], "path": "/nowhere/liveportrait_d19.mp4"})
    session.write_text(json.dumps(doc), encoding="utf-8")
    run = emodesk("export", session, "--video", "-q")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "--source" in run.stderr
    assert not (tmp_path / "moved.annotated.mp4").exists()
    run = emodesk("export", session, "--video", "--pdf", "--csv", "--source", CLIP, "-q")
    assert run.returncode == 0, run.stderr
    assert {p.name for p in tmp_path.iterdir()} == {
        "moved.session.json", "moved.annotated.mp4", "moved.report.pdf", "moved.frames.csv",
    }  # fmt: skip


def test_cli_errors_are_one_line_with_exit_codes(analysed: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,label\n1,ok\nlater,oops\n", encoding="utf-8")
    cases = [
        (("export", analysed["session"]), 2, "nothing to export"),
        (("export", analysed["session"], "--csv", "--events", bad), 2, f"{bad}, line 3: time_s 'later'"),
        (("export", analysed["session"], "--csv", "--baseline", "5"), 2, "START:END"),
        (("export", tmp_path / "absent.session.json", "--csv"), 1, "absent.session.json"),
        (("export", analysed["session"], "--csv", tmp_path / "no" / "dir" / "f.csv"), 1, "f.csv"),
        (("analyze", CLIP, "--out", tmp_path, "--csv", "--events", bad), 2, "line 3"),
    ]
    for args, code, words in cases:
        run = emodesk(*args)
        assert run.returncode == code, (args, run.stderr)
        assert words in run.stderr and run.stderr.strip().count("\n") == 0 and "Traceback" not in run.stderr, run.stderr


def test_export_adds_events_and_a_baseline_without_touching_the_session(analysed: dict[str, Any], tmp_path: Path) -> None:
    before = analysed["session"].read_bytes()
    extra = tmp_path / "more.csv"
    extra.write_text("time_s,label\n7.5,goodbye\n", encoding="utf-8")
    run = emodesk("export", analysed["session"], "--pdf", tmp_path / "r.pdf", "--csv", tmp_path / "f.csv",
                  "--events", extra, "--baseline", "6:8", "-q")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert analysed["session"].read_bytes() == before
    overview = pdf_text(tmp_path / "r.pdf")[0]
    assert "Events (4)" in overview and "goodbye" in overview and "interval: 6 s to 8 s" in overview
    _, rows = read_csv(tmp_path / "f.csv")
    assert {r["event"] for r in rows} >= {"fixation", "goodbye"}


# ---------------------------------------------------------------------- synthetic sessions


def synthetic() -> dict[str, Any]:
    def face(i: int, h: float, t: bool = False) -> dict[str, Any]:
        probs = {"happiness": h, "neutral": round(1 - h, 5)}
        return {"id": i, "box": [1.5, 2.25, 30.0, 40.125], "score": 0.9, "landmarks": None, "probs": probs,
                "smoothed": dict(probs), "emotion": "happiness" if h > 0.5 else "neutral", "confidence": max(h, 1 - h),
                "tracked": t}  # fmt: skip

    return {
        "labels": ["contempt", "happiness", "neutral"],  # contempt listed, never predicted
        "source": {"kind": "video", "path": "/nowhere/x.mp4", "fps": 10.0, "frame_count": 4, "width": 64, "height": 64, "live": False},
        "frames": [
            {"index": 0, "time_s": 0.0, "faces": [face(4, 0.25)]},
            {"index": 1, "time_s": 0.1, "faces": [face(4, 0.75, True), face(5, 0.5)]},
            {"index": 2, "time_s": 0.2, "faces": []},
            {"index": 3, "time_s": 0.3, "faces": [face(5, 0.9)]},
        ],
    }


def test_rows_keep_json_types_and_missing_values_stay_empty(tmp_path: Path) -> None:
    rows = list(iter_frame_rows(synthetic()))
    assert [(r["frame"], r["face_id"]) for r in rows] == [(0, 4), (1, 4), (1, 5), (3, 5)]  # no row for frame 2
    assert rows[1]["tracked"] is True and rows[0]["raw_contempt"] is None and rows[0]["raw_happiness"] == 0.25
    assert rows[0]["valence"] is None and rows[0]["valence_from"] is None  # no negative label: no valence
    _, written = read_csv(write_frames_csv(synthetic(), tmp_path / "x.csv"))
    assert written[0]["raw_contempt"] == "" and written[0]["valence"] == "" and written[1]["tracked"] == "true"
    assert float(written[0]["y2"]) == 40.125


def test_faces_not_seen_in_the_baseline_have_no_calibrated_values() -> None:
    rows = list(iter_frame_rows(synthetic(), baseline=BaselineInterval(0.0, 0.05)))
    face4 = [r for r in rows if r["face_id"] == 4]
    face5 = [r for r in rows if r["face_id"] == 5]
    assert face4[0]["calibrated_neutral"] == 1.0 and face4[0]["calibrated_happiness"] == 0.0  # like its baseline
    assert face4[1]["calibrated_happiness"] == 0.5  # 0.75 - 0.25 at rest
    assert all(r[f"calibrated_{label}"] is None for r in face5 for label in ("contempt", "happiness", "neutral"))


def test_valence_uses_calibrated_values_where_a_baseline_exists() -> None:
    doc = synthetic()
    for frame in doc["frames"]:
        for face in frame["faces"]:
            face["smoothed"]["sadness"] = 0.0
    doc["labels"].append("sadness")
    view = SessionView(doc, baseline=BaselineInterval(0.0, 0.05))
    rows = {(ff.frame, ff.face["id"]): ff for ff in view.face_frames()}
    assert rows[(0, 4)].valence == 0.0 and rows[(0, 4)].valence_from == "calibrated"
    assert rows[(1, 4)].valence == 0.5
    assert rows[(3, 5)].valence == 0.9 and rows[(3, 5)].valence_from == "smoothed"
    summaries = {s.face_id: s for s in view.summaries}
    assert summaries[4].valence_mean == pytest.approx(0.25) and summaries[5].mean_calibrated is None
    assert [s.face_id for s in view.summaries] == [4, 5]  # equal frames: lower id first


def test_cancel_leaves_no_file_and_progress_reaches_the_total(tmp_path: Path) -> None:
    doc = synthetic()
    doc["frames"] = [{**f, "index": i, "time_s": i / 10} for i, f in enumerate(doc["frames"] * 400)]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        write_frames_csv(doc, tmp_path / "c.csv", cancel=cancel)
    with pytest.raises(ExportCancelled):
        write_report(doc, tmp_path / "r.pdf", cancel=cancel)
    assert list(tmp_path.iterdir()) == []
    seen: list[tuple[int, int | None]] = []
    export_session(doc, csv=tmp_path / "c.csv", pdf=tmp_path / "r.pdf", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (1000, 1000) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_letter_paper_and_a_source_without_video(tmp_path: Path) -> None:
    path = write_report(synthetic(), tmp_path / "r.pdf", paper="letter", events=[Event(0.1, "go")])
    size = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "612 x 792 pts (letter)" in size
    pages = pdf_text(path)
    assert len(pages) == 4 and "source video" in pages[1] and "not available" in pages[1]
    with pytest.raises(SourceError, match="--source"):
        write_annotated_video(synthetic(), tmp_path / "v.mp4")
    with pytest.raises(EmodeskError, match="paper"):
        write_report(synthetic(), tmp_path / "r.pdf", paper="a3")


def test_a_video_name_with_a_wrong_suffix_is_named_as_given_and_opens_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emodesk.core.export import video

    doc = synthetic()
    doc["source"] = dict(doc["source"], path=str(CLIP))
    with pytest.raises(OutputError) as info:
        write_annotated_video(doc, tmp_path / "x.txt")
    # once ".tmp-6765-x.txt: choose a .mp4 ...": the temporary file's name, and the capture left open
    assert str(info.value).startswith(f"{tmp_path / 'x.txt'}: choose a .mp4") and ".tmp-" not in str(info.value)

    closed = []

    class Spied(video.VideoFileSource):
        def close(self) -> None:
            closed.append(True)
            super().close()

    def no_recorder(*_args: object) -> None:
        raise OutputError("the recorder failed")

    monkeypatch.setattr(video, "VideoFileSource", Spied)
    monkeypatch.setattr(video, "VideoRecorder", no_recorder)
    with pytest.raises(OutputError, match="the recorder failed"):
        write_annotated_video(doc, tmp_path / "v.mp4")
    assert closed == [True]  # a recorder that fails to start still closes the source
    assert list(tmp_path.iterdir()) == []


def test_time_on_screen_is_the_sessions_own_figure(tmp_path: Path) -> None:
    """The PDF said 1.00 s (frames seen x frame step) where the session and the window said 0.97 s."""
    doc = synthetic()
    plain = {f.face_id: f.time_on_screen_s for f in SessionView(doc).summaries}
    assert plain == {4: pytest.approx(0.2), 5: pytest.approx(0.2)}  # no stored figure: 2 frames x 0.1 s
    doc["faces"] = [{"id": 4, "frames_seen": 2, "on_screen_s": 0.1}, {"id": 5, "frames_seen": 2, "on_screen_s": 0.0}]
    stored = {f.face_id: f.time_on_screen_s for f in SessionView(doc).summaries}
    assert stored == {4: 0.1, 5: 0.0}
    pages = pdf_text(write_report(doc, tmp_path / "r.pdf"))
    assert any("time on screen: 0.10 s" in page for page in pages)


def test_a_baseline_or_events_outside_the_analysed_frames_are_one_warning_each(tmp_path: Path) -> None:
    view = SessionView(synthetic())  # frames at 0.0-0.3 s
    assert view.input_warnings([Event(0.2, "inside")], BaselineInterval(0.0, 0.1)) == []
    late = [Event(0.2, "inside"), Event(5.0, "late"), Event(9.0, "later")]
    lines = view.input_warnings(late, BaselineInterval(100.0, 200.0))
    assert len(lines) == 2 and "baseline 100-200 s holds no analysed frame with a face (analysed 0.00-0.30 s)" in lines[0]
    assert "2 event(s) start after the last analysed frame" in lines[1] and "'late' at 5 s" in lines[1]

    events = tmp_path / "late.csv"
    events.write_text("time_s,label\n0.5,inside\n50,late\n", encoding="utf-8")
    run = emodesk("analyze", CLIP, "--max-frames", "30", "--out", tmp_path, "--baseline", "100:200", "--events", events, "-q")
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("emodesk: warning:")]
    assert len(warnings) == 2 and "baseline 100-200 s" in warnings[0] and "'late' at 50 s" in warnings[1]
    session = tmp_path / "liveportrait_d19.session.json"
    run = emodesk("export", session, "--csv", tmp_path / "f.csv", "--baseline", "100:200", "--events", events, "-q")
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if line.startswith("emodesk: warning:")] == warnings
    run = emodesk("export", session, "--csv", tmp_path / "g.csv", "--baseline", "0:0.5", "-q")
    assert run.returncode == 0 and "warning" not in run.stderr, run.stderr


def test_export_video_with_a_wrong_suffix_is_a_usage_error(tmp_path: Path) -> None:
    session = tmp_path / "s.session.json"
    session.write_text(json.dumps(dict(synthetic(), source=dict(synthetic()["source"], path=str(CLIP)))), encoding="utf-8")
    run = emodesk("export", session, "--video", tmp_path / "x.txt")
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip() == f"emodesk: usage error: {tmp_path / 'x.txt'}: choose a .mp4, .mov, .mkv or .avi file name for the recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.session.json"]


@pytest.mark.parametrize("where", ["under_a_file", "is_a_folder"])
def test_unwritable_path_is_one_line_output_error(tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "frames.csv" if where == "under_a_file" else tmp_path
    for writer in (write_frames_csv, write_report):
        with pytest.raises(OutputError) as info:
            writer(synthetic(), target)
        assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]


def test_a_session_file_path_is_accepted_everywhere(analysed: dict[str, Any], tmp_path: Path) -> None:
    rows = list(iter_frame_rows(analysed["session"]))
    assert len(rows) == sum(len(f["faces"]) for f in load_session(analysed["session"])["frames"])


def test_typed_session_gives_the_same_rows(analysed: dict[str, Any]) -> None:
    import emodesk

    typed = emodesk.load_session(analysed["session"])
    assert list(iter_frame_rows(typed)) == list(iter_frame_rows(analysed["doc"]))
    assert SessionView(typed).source_path() == CLIP


def test_sampled_sessions_hold_overlays_until_the_next_analysed_frame(analysed: dict[str, Any], tmp_path: Path) -> None:
    doc = analysed["doc"]
    sampled = dict(doc, frames=[f for f in doc["frames"] if f["index"] % 5 == 0 and f["index"] <= 100])
    plain = write_annotated_video(dict(doc, frames=[]), tmp_path / "plain.mp4")
    held = write_annotated_video(sampled, tmp_path / "held.mp4")
    a, b = video_frames(held), video_frames(plain)
    assert len(a) == len(b) == 250

    def diff(i: int) -> float:
        return float(np.abs(a[i].astype(int) - b[i]).mean())

    overlays = [diff(i) for i in (0, 3, 4, 97, 104)]  # analysed, held, held, held, held after the last (100)
    after = [diff(i) for i in (120, 200, 249)]  # the analysis ended at 100: written as they are
    assert min(overlays) > 3 * max(after), (overlays, after)


def test_long_tables_continue_on_new_pages_inside_the_page(tmp_path: Path) -> None:
    doc = synthetic()
    frames = [{**f, "index": i, "time_s": round(i / 10, 6)} for i, f in enumerate(doc["frames"] * 100)]
    doc = dict(doc, frames=frames, source={**doc["source"], "frame_count": len(frames)})
    events = [Event(0.3 * k, f"trial {k}", source="file") for k in range(120)]
    path = write_report(doc, tmp_path / "r.pdf", events=events)
    # only the text inside the A4 page box (595 x 842 pt): a table running off the page would lose rows
    inside = subprocess.run(["pdftotext", "-r", "72", "-x", "0", "-y", "0", "-W", "595", "-H", "842", str(path), "-"],
                            capture_output=True, text=True, check=True).stdout.split("\f")[:-1]  # fmt: skip
    event_pages = [page for page in inside if "Emotions within each event" in page]
    assert len(event_pages) >= 3
    text = "".join(event_pages)
    for face in (4, 5):
        assert f"Face #{face}" in text
    assert all(f"trial {k} (" in text for k in range(120))  # every event row of face 4 or 5 is on a page
    assert "… and" in inside[0]  # the overview lists as many events as fit, then says how many more


@pytest.mark.parametrize(("paper", "size"), [("a4", ("595", "842")), ("letter", ("612", "792"))])
def test_a_face_page_fits_a4_and_letter(analysed: dict[str, Any], tmp_path: Path, paper: str, size: tuple[str, str]) -> None:
    path = write_report(analysed["session"], tmp_path / "r.pdf", paper=paper)
    inside = subprocess.run(["pdftotext", "-f", "2", "-l", "2", "-r", "72", "-x", "0", "-y", "0", "-W", size[0],
                             "-H", size[1], "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout  # fmt: skip
    last_label = analysed["doc"]["labels"][-1]
    assert re.search(rf"^\s*{last_label}\s+\d", inside, re.MULTILINE), inside  # the table's last row
    assert "mean confidence: mean top probability" in inside


def pdf_images(path: Path) -> int:
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    return len(listing.splitlines()) - 2  # two header lines


def test_thumbnails_come_from_the_source_or_are_said_to_be_missing(analysed: dict[str, Any], tmp_path: Path) -> None:
    assert pdf_images(analysed["pdf"]) == 1  # the one face's thumbnail, cut from the video
    assert pdf_images(write_report(synthetic(), tmp_path / "r.pdf")) == 0


def test_a_photo_gets_a_report_and_csv_and_a_warning_instead_of_a_video(tmp_path: Path) -> None:
    from tests.conftest import TEST_IMAGES

    photo = TEST_IMAGES / "group6_test_image.jpg"  # six faces
    run = emodesk("analyze", photo, "--out", tmp_path, "--pdf", "--csv", "--video", "-q")
    assert run.returncode == 0, run.stderr
    assert "not a video file, so no annotated video" in run.stderr and run.stderr.count("\n") == 1
    stem = photo.stem
    assert {p.name for p in tmp_path.iterdir()} == {f"{stem}.session.json", f"{stem}.report.pdf", f"{stem}.frames.csv"}
    pages = pdf_text(tmp_path / f"{stem}.report.pdf")
    faces = len(json.loads((tmp_path / f"{stem}.session.json").read_text(encoding="utf-8"))["faces"])
    assert faces >= 2 and len(pages) == 1 + faces and "seen in the single analysed image" in pages[1]
    assert pdf_images(tmp_path / f"{stem}.report.pdf") == faces  # a thumbnail per face, cut from the photo


def test_notebook_figures_are_the_reports_charts(analysed: dict[str, Any]) -> None:
    from matplotlib.figure import Figure

    import emodesk.plot as ep

    session = analysed["session"]
    labels = analysed["doc"]["labels"]
    fig = ep.timeline(session)  # the most seen face
    (ax,) = fig.axes
    assert isinstance(fig, Figure) and ax.get_legend_handles_labels()[1] == list(labels)
    assert ax.get_xlim()[1] == pytest.approx(250 / 30)
    assert len(ax.get_lines()) == len(labels) + 3  # one line per emotion, one per event
    lines = ep.timeline(session, face=1, values="calibrated").axes[0].get_lines()
    calibrated = [np.asarray(line.get_ydata(), float) for line in lines if line.get_label() in labels]
    assert len(calibrated) == len(labels) and max(np.nanmax(y) for y in calibrated) <= 1.0
    assert len(ep.distribution(session, face=1).axes) == 2
    assert ep.valence(session, face=1, baseline="6:8").axes[0].get_ylabel() == "valence (calibrated)"
    view = ep.view(session, events=analysed["events"])
    assert len(view.events) == 3  # the same file again adds nothing
    assert ep.event_means(view, face=1).axes
    with pytest.raises(EmodeskError, match="face #7 is not in this session"):
        ep.timeline(session, face=7)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_export_leaves_no_partial_file(analysed: dict[str, Any], tmp_path: Path, sig: int, code: int) -> None:
    target = tmp_path / "v.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "emodesk", "export", str(analysed["session"]), "--video", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".tmp-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # signal once the video is being written
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert list(tmp_path.iterdir()) == []
