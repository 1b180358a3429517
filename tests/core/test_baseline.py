"""Baseline calibration and valence on synthetic probabilities with known answers."""

from __future__ import annotations

import pytest

from emodesk.core.baseline import (
    BaselineInterval,
    FaceBaseline,
    calibrate,
    face_baselines,
)
from emodesk.core.valence import valence
from emodesk.errors import EmodeskError

REST = {"anger": 0.05, "happiness": 0.05, "neutral": 0.6, "sadness": 0.3}  # a face that looks sad at rest


def test_a_face_exactly_like_its_baseline_reads_neutral() -> None:
    out = calibrate(REST, FaceBaseline(1, 10, REST))
    assert out == pytest.approx({"anger": 0.0, "happiness": 0.0, "neutral": 1.0, "sadness": 0.0})


def test_only_what_is_above_rest_remains() -> None:
    smiling = {"anger": 0.0, "happiness": 0.45, "neutral": 0.3, "sadness": 0.25}
    out = calibrate(smiling, REST)
    # happiness 0.45 - 0.05 = 0.40 above rest; sadness 0.25 is below its rest 0.3; the rest is neutral
    assert out == pytest.approx({"anger": 0.0, "happiness": 0.40, "neutral": 0.60, "sadness": 0.0})
    assert sum(out.values()) == pytest.approx(1.0)


def test_unnormalised_input_is_renormalised_and_never_negative() -> None:
    out = calibrate({"anger": 2.0, "neutral": 2.0}, {"anger": 0.1, "neutral": 0.9})
    assert out == pytest.approx({"anger": 0.4, "neutral": 0.6})
    assert calibrate({"anger": 0.0, "neutral": 0.0}, {"anger": 0.5, "neutral": 0.5}) is None
    assert calibrate({"anger": 0.7, "happiness": 0.3}, {"anger": 0.5, "happiness": 0.5}) is None  # no neutral label


def test_face_baselines_average_only_the_interval_and_only_faces_seen_there() -> None:
    def face(i: int, p: float) -> dict:
        return {"id": i, "smoothed": {"happiness": p, "neutral": 1 - p}}

    frames = [
        {"index": 0, "time_s": 0.0, "faces": [face(1, 0.2)]},
        {"index": 1, "time_s": 1.0, "faces": [face(1, 0.4)]},
        {"index": 2, "time_s": 2.0, "faces": [face(1, 0.9)]},  # outside 0:1.5
        {"index": 3, "time_s": 3.0, "faces": [face(2, 0.5)]},  # face 2 never at rest
    ]
    baselines = face_baselines(frames, BaselineInterval(0.0, 1.5))
    assert list(baselines) == [1]
    assert baselines[1].frames == 2 and baselines[1].probs["happiness"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("probs", "expected"),
    [
        ({"happiness": 0.8, "sadness": 0.1, "anger": 0.05, "neutral": 0.05}, 0.7),
        ({"happiness": 0.1, "sadness": 0.2, "fear": 0.6, "disgust": 0.1}, -0.5),
        ({"happiness": 1.0, "anger": 0.0}, 1.0),
        ({"happiness": 0.0, "disgust": 1.0}, -1.0),
        ({"happiness": 0.3, "surprise": 0.4, "contempt": 0.3, "anger": 0.0}, 0.3),  # surprise, contempt: not in it
    ],
)
def test_valence_is_happiness_minus_the_strongest_negative(probs: dict, expected: float) -> None:
    assert valence(probs) == pytest.approx(expected)


def test_no_valence_without_happiness_or_negatives() -> None:
    assert valence({"neutral": 1.0, "sadness": 0.0}) is None
    assert valence({"happiness": 0.5, "neutral": 0.5}) is None


def test_calibrated_valence_of_a_resting_face_is_zero() -> None:
    assert valence(calibrate(REST, REST)) == pytest.approx(0.0)
    assert valence(REST) == pytest.approx(-0.25)  # uncalibrated, the resting face reads negative


@pytest.mark.parametrize("text", ["5", "a:b", "3:1", "-1:2", "2:2", "0:inf"])
def test_bad_intervals_are_one_line_errors(text: str) -> None:
    with pytest.raises(EmodeskError) as info:
        BaselineInterval.parse(text)
    assert "START:END" in str(info.value)


def test_interval_parse_and_contains() -> None:
    b = BaselineInterval.parse("1.5:4")
    assert (b.start_s, b.end_s) == (1.5, 4.0) and b.contains(1.5) and b.contains(4.0) and not b.contains(4.01)
