"""The session writer's frames[]: cut out of the journal's lines as bytes, they must be exactly what decoding
each line and encoding it again gives (the way frames[] were written before), on a real analysed clip."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from emodesk.atomic import json_dumps
from emodesk.core.events import Event
from emodesk.core.session import (
    JournalWriter,
    analysis_json,
    new_header,
    write_session_from_journal,
)

# file names of an image folder: quotes, a backslash, the text of a timings member, a control character,
# a line separator and a character outside the BMP all stand inside the JSON string of the file member
AWKWARD_FILES = ('café "quoted" \\ back.jpg', 'x,"timings":{"a":1}.jpg', "ctl\x01\u2028.jpg", "emoji \U0001f600.png")


def reference_frames(journal: Path, upto: int | None = None) -> list[str]:
    """frames[] entries the slow way: every line decoded, the first record of an index kept, its type and
    timings removed, encoded again."""
    entries, seen = [], set()
    with journal.open("rb") as fh:
        for raw in fh:
            if upto is not None and fh.tell() > upto:
                break
            try:
                record = json.loads(raw)
            except ValueError:  # blank or torn
                continue
            if record.get("type") != "frame" or record["index"] in seen:
                continue
            seen.add(record["index"])
            record.pop("type")
            record.pop("timings", None)
            entries.append(json_dumps(record, compact=True))
    return entries


def write_journal(path: Path, results: Any, labels: Any) -> int:
    """A journal as SessionRun writes one, with what real journals can also hold: a duplicate index (a
    different result: the first wins), a blank line, checkpoints, events, a torn last line. Returns the
    offset of a line in the middle (a save mid-run reads up to there)."""
    writer = JournalWriter(path)
    writer.write(new_header(source={"kind": "video", "path": "clip.mp4"}, models=(), settings={}, labels=labels, analysis=analysis_json(None, False)))
    middle = 0
    for n, result in enumerate(results):
        offset = writer.write({**result.to_json(), "type": "frame"})
        if n == len(results) // 2:
            middle = offset
        if n % 30 == 0:
            writer.write({"type": "counts", "delivered": n + 1, "processed": n + 1, "dropped": 0, "skipped": 0})
        if n == 40:
            writer.write({**replace(results[3], faces=()).to_json(), "type": "frame"})
            writer.write({"type": "event", **Event(time_s=1.0, label="mark", duration_s=0.5, frame=30, source="key").to_json()})
    writer.close()
    with path.open("ab") as fh:
        fh.write(b"\n" + json_dumps({**results[5].to_json(), "type": "frame"}, compact=True).encode()[:90])
    return middle


def assert_frames_as_reference(journal: Path, session: Path, upto: int | None = None) -> None:
    text = session.read_text(encoding="utf-8")
    head, _, _ = text.partition('\n "frames": [')
    expected = reference_frames(journal, upto)
    assert text == head + '\n "frames": [' + "".join(("\n  " if i == 0 else ",\n  ") + e for i, e in enumerate(expected)) + "\n ]\n}\n"
    assert json.loads(text)["frames"] == [json.loads(e) for e in expected]


def test_frames_cut_from_the_journal_are_the_decoded_and_encoded_records(tmp_path: Path, analysed_clip: Any) -> None:
    results = analysed_clip.results
    assert sum(len(r.faces) for r in results) > 200  # faces with landmarks, probabilities and timings
    labels = sorted(next(r for r in results if r.faces).faces[0].probs)
    journal = tmp_path / "clip.journal.jsonl"
    middle = write_journal(journal, results, labels)
    assert journal.read_bytes().count(b'"index":3,') == 2
    for upto in (None, middle):
        session = tmp_path / f"clip-{upto}.session.json"
        write_session_from_journal(journal, session, upto=upto)
        assert_frames_as_reference(journal, session, upto)
    document = json.loads(session.read_text(encoding="utf-8"))
    assert document["frames"][3]["faces"] == results[3].to_json()["faces"] != []  # the first record of 3 won


def test_image_folder_file_names_and_lines_of_other_shapes(tmp_path: Path, analysed_clip: Any) -> None:
    results = [replace(r, file=AWKWARD_FILES[i % len(AWKWARD_FILES)]) for i, r in enumerate(analysed_clip.results[:12])]
    labels = sorted(next(r for r in results if r.faces).faces[0].probs)
    journal = tmp_path / "folder.journal.jsonl"
    write_journal(journal, results, labels)
    with journal.open("a", encoding="utf-8") as fh:  # lines no JournalWriter writes: the slow way, same entries
        more = [r.to_json() for r in analysed_clip.results[20:24]]
        fh.write("\n" + json.dumps({**more[0], "type": "frame"}) + "\n")  # spaces after separators
        fh.write(json.dumps({"type": "frame", **more[1]}, separators=(",", ":")) + "\n")  # type first
        fh.write(json.dumps({**more[2], "extra": [1, {"b": 2}], "type": "frame"}, separators=(",", ":")) + "\n")  # after timings
        fh.write(json.dumps({k: v for k, v in {**more[3], "type": "frame"}.items() if k != "timings"}, separators=(",", ":")) + "\n")
    session = tmp_path / "folder.session.json"
    write_session_from_journal(journal, session)
    assert_frames_as_reference(journal, session)
    frames = json.loads(session.read_text(encoding="utf-8"))["frames"]
    assert [f.get("file") for f in frames[:4]] == list(AWKWARD_FILES)
    assert [f["index"] for f in frames[-4:]] == [20, 21, 22, 23]
    assert not any("timings" in f or "type" in f for f in frames)
