"""Events from a CSV (a stimulus log): formats accepted, one-line errors naming file and line, spans."""

from __future__ import annotations

from pathlib import Path

import pytest

from emodesk.core.events import Event, event_spans, merge_events, read_events_csv
from emodesk.errors import EmodeskError


def write(tmp_path: Path, text: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_header_blank_lines_comments_and_optional_duration(tmp_path: Path) -> None:
    path = write(tmp_path, "time_s,label,duration_s\n# practice trials removed\n\n0.5,fixation,\n2,face A,1.5\n")
    assert read_events_csv(path) == [
        Event(0.5, "fixation", None, None, "file"),
        Event(2.0, "face A", 1.5, None, "file"),
    ]


def test_headerless_two_columns_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes("\ufeff1.25,start\n3,stop\n".encode())
    assert [(e.time_s, e.label, e.duration_s) for e in read_events_csv(path)] == [(1.25, "start", None), (3.0, "stop", None)]
    path.write_bytes("\ufefftime_s,label\n1,x\n".encode())  # the BOM must not hide the header's first name
    assert read_events_csv(path)[0].label == "x"


def test_a_full_log_with_other_columns_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path, "trial,label,rt,time_s,duration_s\n1,happy face,0.61,10.0,2\n2,sad face,0.55,14.5,\n")
    events = read_events_csv(path)
    assert [(e.time_s, e.label, e.duration_s) for e in events] == [(10.0, "happy face", 2.0), (14.5, "sad face", None)]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("time_s,label\n1,a\nsoon,b\n", 3, "time_s 'soon' is not a number"),
        ("time_s,label,duration_s\n1,a,long\n", 2, "duration_s 'long' is not a number"),
        ("1,a\n-2,b\n", 2, "0 or more"),
        ("1,a\n2,\n", 2, "needs a label"),
        ("1,a\n2\n", 2, "found 1 column"),
        ("time_s,duration_s\n1,2\n", 1, "no label column"),
        ("1,a,-1\n", 1, "duration"),
        ("1,a\nnan,b\n", 2, "not a number"),
    ],
)
def test_bad_rows_are_one_line_errors_naming_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(EmodeskError) as info:
        read_events_csv(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: ") and words in message and "\n" not in message


def test_missing_empty_and_binary_files(tmp_path: Path) -> None:
    for path, words in (
        (tmp_path / "absent.csv", "cannot read"),
        (write(tmp_path, "time_s,label\n", "empty.csv"), "no events"),
    ):
        with pytest.raises(EmodeskError, match=words) as info:
            read_events_csv(path)
        assert str(path) in str(info.value)
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(EmodeskError, match="not UTF-8"):
        read_events_csv(binary)


def test_spans_moments_last_until_the_next_onset_intervals_keep_their_duration() -> None:
    events = [Event(5.0, "B"), Event(0.0, "A"), Event(2.0, "cue", 1.0), Event(9.0, "C")]
    spans = event_spans(events, end_s=12.0)
    assert [(s.event.label, s.start_s, s.end_s) for s in spans] == [
        ("A", 0.0, 2.0),  # until the cue starts
        ("cue", 2.0, 3.0),
        ("B", 5.0, 9.0),
        ("C", 9.0, 12.0),  # the last moment lasts to the end
    ]
    assert spans[0].covers(1.99) and not spans[0].covers(2.0)


def test_merge_keeps_each_event_once_in_time_order() -> None:
    a, b = Event(3.0, "x", source="file"), Event(1.0, "y", source="key", frame=30)
    assert merge_events([a, b], [a]) == [b, a]
