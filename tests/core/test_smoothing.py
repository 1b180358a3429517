"""ProbabilitySmoother: frame-rate independent exponential smoothing per track."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emodesk.core.smoothing import ProbabilitySmoother

HAPPY = {"happy": 1.0, "sad": 0.0, "neutral": 0.0}
SAD = {"happy": 0.0, "sad": 1.0, "neutral": 0.0}


def step_response(smoother: ProbabilitySmoother, fps: int, until_s: float) -> list[tuple[float, float]]:
    """HAPPY up to t = 1, then SAD; returns (time since the step, smoothed sad) for every frame after it."""
    out = []
    for i in range(round((1.0 + until_s) * fps) + 1):
        t = i / fps
        probs = HAPPY if t <= 1.0 + 1e-9 else SAD
        smoothed = smoother.update(1, probs, t)
        if t > 1.0 + 1e-9:
            out.append((t - 1.0, smoothed["sad"]))
    return out


@pytest.mark.parametrize("fps", [10, 30, 60])
@pytest.mark.parametrize("half_life", [0.1, 0.5])
def test_step_reaches_half_after_one_half_life_at_any_fps(fps: int, half_life: float) -> None:
    response = step_response(ProbabilitySmoother(half_life_s=half_life), fps, until_s=3 * half_life)
    by_time = {round(dt, 6): v for dt, v in response}
    assert by_time[round(half_life, 6)] == pytest.approx(0.5, abs=1e-9)
    assert by_time[round(2 * half_life, 6)] == pytest.approx(0.75, abs=1e-9)
    # and in between it follows the same continuous curve whatever the frame rate
    for dt, v in response:
        assert v == pytest.approx(1.0 - 0.5 ** (dt / half_life), abs=1e-9)
    values = [v for _, v in response]
    assert values == sorted(values)


def test_default_half_life() -> None:
    smoother = ProbabilitySmoother()
    assert smoother.half_life_s == 0.25
    smoother.update(1, HAPPY, 0.0)
    assert smoother.update(1, SAD, 0.25)["sad"] == pytest.approx(0.5)


def test_off_mode_is_identity() -> None:
    smoother = ProbabilitySmoother(half_life_s=0.0)
    rng = np.random.default_rng(0)
    for i in range(20):
        raw = {"a": float(rng.random()), "b": float(rng.random())}  # not even normalised
        out = smoother.update(7, raw, i / 30)
        assert out == raw
        assert out is not raw


def test_first_observation_is_raw() -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    raw = {"happy": 0.2, "sad": 0.3, "neutral": 0.5}
    assert smoother.update(1, raw, 5.0) == pytest.approx(raw)
    assert smoother.update(2, SAD, 5.0) == pytest.approx(SAD)  # another track has its own history


def test_keys_preserved_and_normalised() -> None:
    smoother = ProbabilitySmoother(half_life_s=0.3)
    rng = np.random.default_rng(3)
    labels = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    for i in range(100):
        raw = dict(zip(labels, rng.dirichlet(np.ones(len(labels))).tolist()))
        track = int(rng.integers(1, 4))
        out = smoother.update(track, raw, i / 25)
        assert list(out) == labels
        assert math.isclose(sum(out.values()), 1.0, abs_tol=1e-12)
        assert all(0.0 <= v <= 1.0 for v in out.values())


def test_unnormalised_input_is_normalised() -> None:
    smoother = ProbabilitySmoother(half_life_s=0.3)
    out = smoother.update(1, {"a": 2.0, "b": 6.0}, 0.0)
    assert out == pytest.approx({"a": 0.25, "b": 0.75})
    out = smoother.update(1, {"a": 2.0, "b": 6.0}, 0.1)
    assert out == pytest.approx({"a": 0.25, "b": 0.75})


def test_changed_label_set_restarts_the_track() -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    smoother.update(1, {"a": 1.0, "b": 0.0}, 0.0)
    out = smoother.update(1, {"a": 0.0, "c": 1.0}, 0.1)
    assert out == {"a": 0.0, "c": 1.0}


@pytest.mark.parametrize("second_time", [1.0, 0.5])
def test_same_time_or_seek_back_resets_the_track(second_time: float) -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    smoother.update(1, HAPPY, 0.0)
    smoother.update(1, HAPPY, 1.0)
    assert smoother.update(1, SAD, second_time) == pytest.approx(SAD)
    # history restarts from there
    assert smoother.update(1, HAPPY, second_time + 1.0)["happy"] == pytest.approx(0.5)


def test_long_gap_forgets_the_past() -> None:
    smoother = ProbabilitySmoother(half_life_s=0.25)
    smoother.update(1, HAPPY, 0.0)
    assert smoother.update(1, SAD, 10.0)["sad"] == pytest.approx(1.0, abs=1e-9)


def test_prune_forgets_tracks() -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    for track in (1, 2, 3):
        smoother.update(track, HAPPY, 0.0)
    smoother.prune([2, 99])
    # 1 and 3 start over (raw), 2 still remembers HAPPY
    assert smoother.update(1, SAD, 0.1) == pytest.approx(SAD)
    assert smoother.update(3, SAD, 0.1) == pytest.approx(SAD)
    assert smoother.update(2, SAD, 0.1)["sad"] < 0.1
    smoother.prune(iter([]))  # any iterable
    assert smoother.update(2, SAD, 0.2) == pytest.approx(SAD)


def test_reset_forgets_everything() -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    smoother.update(1, HAPPY, 0.0)
    smoother.reset()
    assert smoother.update(1, SAD, 0.1) == pytest.approx(SAD)


def test_negative_half_life_rejected() -> None:
    with pytest.raises(ValueError):
        ProbabilitySmoother(half_life_s=-0.1)


def test_returned_dict_is_a_copy() -> None:
    smoother = ProbabilitySmoother(half_life_s=1.0)
    out = smoother.update(1, HAPPY, 0.0)
    out["happy"] = 0.0
    assert smoother.update(1, HAPPY, 0.1)["happy"] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(10))
def test_random_sequences_stay_distributions_between_extremes(seed: int) -> None:
    # a smoothed value is a convex mix of past raw values, so it never leaves their range
    rng = np.random.default_rng(seed)
    smoother = ProbabilitySmoother(half_life_s=float(rng.uniform(0.01, 2.0)))
    seen: dict[str, list[float]] = {"x": [], "y": [], "z": []}
    t = 0.0
    for _ in range(200):
        t += float(rng.uniform(0.001, 0.3))
        raw = dict(zip(seen, rng.dirichlet(np.ones(3)).tolist()))
        for k, v in raw.items():
            seen[k].append(v)
        out = smoother.update(5, raw, t)
        assert set(out) == set(raw)
        assert math.isclose(sum(out.values()), 1.0, abs_tol=1e-12)
        for k, v in out.items():
            assert min(seen[k]) - 1e-12 <= v <= max(seen[k]) + 1e-12
