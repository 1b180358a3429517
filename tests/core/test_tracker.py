"""FaceTracker on synthetic face trajectories."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from emodesk.core.tracker import FaceTracker, TrackedFace, iou_matrix, linear_assignment
from emodesk.inference.types import Detection

# name -> (centre x, centre y, side) of each face visible at time t
Scene = Callable[[float], dict[str, tuple[float, float, float]]]


def make_detection(cx: float, cy: float, size: float = 80.0, score: float = 0.9) -> Detection:
    half = size / 2.0
    landmarks = (
        (cx - 0.2 * size, cy - 0.1 * size),
        (cx + 0.2 * size, cy - 0.1 * size),
        (cx, cy + 0.05 * size),
        (cx - 0.15 * size, cy + 0.25 * size),
        (cx + 0.15 * size, cy + 0.25 * size),
    )
    return Detection(box=(cx - half, cy - half, cx + half, cy + half), score=score, landmarks=landmarks)


def run_scene(
    scene: Scene,
    *,
    fps: float,
    duration_s: float,
    tracker: FaceTracker | None = None,
    jitter_px: float = 0.0,
    seed: int = 0,
) -> dict[str, list[int]]:
    """Feed the scene to a tracker frame by frame; return, per face, the ID it got on each frame it was seen.

    Detections are shuffled every frame so nothing can depend on their order.
    """
    tracker = tracker or FaceTracker()
    rng = np.random.default_rng(seed)
    ids: dict[str, list[int]] = {}
    for i in range(round(duration_s * fps)):
        t = i / fps
        visible = scene(t)
        names = list(visible)
        rng.shuffle(names)
        detections = []
        for name in names:
            cx, cy, size = visible[name]
            noise = rng.uniform(-jitter_px, jitter_px, size=3) if jitter_px else np.zeros(3)
            detections.append(make_detection(cx + noise[0], cy + noise[1], size + noise[2]))
        tracked = tracker.update(detections, t)
        assert [f.detection for f in tracked] == detections, "one face per detection, in detection order"
        assert not any(f.predicted for f in tracked)
        assert len({f.track_id for f in tracked}) == len(tracked), "IDs unique within a frame"
        for name, face in zip(names, tracked):
            ids.setdefault(name, []).append(face.track_id)
    return ids


def single_id(ids: list[int]) -> int:
    assert len(set(ids)) == 1, f"ID changed: {sorted(set(ids))}"
    return ids[0]


# --- helpers -----------------------------------------------------------------------------------------


def test_iou_matrix_values_and_shapes() -> None:
    a = [(0, 0, 10, 10), (100, 100, 110, 110)]
    b = [(0, 0, 10, 10), (5, 0, 15, 10), (20, 20, 30, 30)]
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m[0], [1.0, 50 / 150, 0.0])
    np.testing.assert_allclose(m[1], [0.0, 0.0, 0.0])
    assert iou_matrix([], b).shape == (0, 3)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)
    # degenerate boxes give 0, not NaN
    assert iou_matrix([(5, 5, 5, 5)], [(5, 5, 5, 5)])[0, 0] == 0.0


def test_iou_matrix_is_symmetric() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, size=(7, 2))
    wh = rng.uniform(1, 50, size=(7, 2))
    boxes = np.hstack([xy, xy + wh])
    m = iou_matrix(boxes, boxes)
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert ((m >= 0) & (m <= 1 + 1e-12)).all()


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (5, 2), (6, 6), (4, 7)])
def test_linear_assignment_is_optimal(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(shape[0] * 10 + shape[1])
    for _ in range(30):
        cost = rng.uniform(0, 10, size=shape)
        if rng.random() < 0.3:
            cost = np.round(cost)  # ties
        pairs = linear_assignment(cost)
        n, m = shape
        assert len(pairs) == min(n, m)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
        got = sum(cost[r, c] for r, c in pairs)
        if n <= m:
            best = min(sum(cost[r, p[r]] for r in range(n)) for p in itertools.permutations(range(m), n))
        else:
            best = min(sum(cost[p[c], c] for c in range(m)) for p in itertools.permutations(range(n), m))
        assert got == pytest.approx(best)


def test_linear_assignment_empty() -> None:
    assert linear_assignment(np.zeros((0, 3))) == []
    assert linear_assignment(np.zeros((2, 0))) == []


# --- identity over time ------------------------------------------------------------------------------


def crossing_scene(t: float) -> dict[str, tuple[float, float, float]]:
    # 80 px faces, 200 px/s closing speed, 16 px apart vertically: boxes touch for 0.8 s around t = 1.5
    return {"a": (250.0 + 100.0 * t, 200.0, 80.0), "b": (550.0 - 100.0 * t, 216.0, 80.0)}


@pytest.mark.parametrize("fps", [10, 30, 60])
def test_crossing_faces_keep_their_ids(fps: int) -> None:
    # the boxes overlap at IoU > 0.3 for several frames around t = 1.5
    def iou_at(t: float) -> float:
        faces = crossing_scene(t)
        return float(iou_matrix([make_detection(*faces["a"]).box], [make_detection(*faces["b"]).box])[0, 0])

    overlapping = [i for i in range(3 * fps) if iou_at(i / fps) > 0.3]
    assert len(overlapping) >= (3 if fps == 10 else 8)
    ids = run_scene(crossing_scene, fps=fps, duration_s=3.0, jitter_px=1.5)
    a, b = single_id(ids["a"]), single_id(ids["b"])
    assert {a, b} == {1, 2}


@pytest.mark.parametrize("fps", [10, 30, 60])
@pytest.mark.parametrize("seed", range(5))
def test_crossing_at_the_same_height_recovers_after_coincidence(fps: int, seed: int) -> None:
    # the boxes coincide at t = 1.5, where no tracker can tell the two apart; nearest-position matching
    # then swaps the faces for good, the motion model must hand each ID back on the next frame
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        return {"a": (250.0 + 100.0 * t, 200.0, 80.0), "b": (550.0 - 100.0 * t, 200.0, 80.0)}

    ids = run_scene(scene, fps=fps, duration_s=3.0, jitter_px=1.0, seed=seed)
    a, b = np.array(ids["a"]), np.array(ids["b"])
    assert a[0] == a[-1] and b[0] == b[-1] and a[0] != b[0]
    assert (a != a[0]).sum() <= 1, f"IDs swapped on {(a != a[0]).sum()} frames"


def test_crossing_with_one_face_hidden_behind_the_other() -> None:
    # for 0.8 s around the crossing the detector sees only the front face; the back one is predicted
    # through it and must be picked up on the far side, not given a new ID or a's ID
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        faces = crossing_scene(t)
        if 1.1 < t < 1.9:
            del faces["b"]
        return faces

    tracker = FaceTracker()
    ids = run_scene(scene, fps=30, duration_s=3.0, tracker=tracker)
    assert {single_id(ids["a"]), single_id(ids["b"])} == {1, 2}
    assert tracker.active_ids == (1, 2)


@pytest.mark.parametrize("moving", [False, True])
def test_short_occlusion_keeps_id(moving: bool) -> None:
    speed = 120.0 if moving else 0.0

    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        return {} if 1.0 <= t < 1.5 else {"a": (200.0 + speed * t, 300.0, 90.0)}

    ids = run_scene(scene, fps=30, duration_s=2.5, jitter_px=1.0)
    assert single_id(ids["a"]) == 1


def test_long_absence_gives_new_id() -> None:
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        return {} if 1.0 <= t < 3.0 else {"a": (200.0, 300.0, 90.0)}

    tracker = FaceTracker()
    ids = run_scene(scene, fps=30, duration_s=4.0, tracker=tracker)
    assert sorted(set(ids["a"])) == [1, 2]
    assert ids["a"][0] == 1 and ids["a"][-1] == 2
    assert tracker.active_ids == (2,)


def test_faces_entering_and_leaving() -> None:
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        faces = {"a": (150.0, 200.0, 80.0)}
        if 1.0 <= t < 2.0:
            faces["b"] = (500.0 + 50 * (t - 1.0), 220.0, 70.0)
        if t >= 4.0:
            faces["c"] = (500.0, 220.0, 70.0)  # where b was, but long after: a new person
        return faces

    tracker = FaceTracker(max_age_s=1.0)
    ids = run_scene(scene, fps=30, duration_s=5.0, tracker=tracker)
    assert single_id(ids["a"]) == 1
    assert single_id(ids["b"]) == 2
    assert single_id(ids["c"]) == 3
    assert tracker.active_ids == (1, 3)


def test_stationary_jittering_face_keeps_one_id() -> None:
    ids = run_scene(lambda t: {"a": (320.0, 240.0, 100.0)}, fps=30, duration_s=10.0, jitter_px=3.0, seed=7)
    assert len(ids["a"]) == 300
    assert single_id(ids["a"]) == 1


def test_small_fast_face_still_matches() -> None:
    # 40 px face moving 900 px/s at 30 fps: 30 px per frame, successive boxes at IoU 0.14
    ids = run_scene(lambda t: {"a": (50.0 + 900.0 * t, 200.0, 40.0)}, fps=30, duration_s=1.0, jitter_px=1.0)
    assert single_id(ids["a"]) == 1


def test_shot_cut_gives_new_ids() -> None:
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        if t < 1.0:
            return {"a": (100.0, 100.0, 80.0), "b": (400.0, 100.0, 80.0)}
        return {"c": (250.0, 400.0, 120.0), "d": (600.0, 380.0, 60.0)}

    ids = run_scene(scene, fps=30, duration_s=2.0)
    assert {single_id(ids[k]) for k in "abcd"} == {1, 2, 3, 4}


def test_frame_rate_does_not_change_identities() -> None:
    def scene(t: float) -> dict[str, tuple[float, float, float]]:
        faces = crossing_scene(t)
        if 0.5 <= t < 1.0:
            del faces["a"]  # 0.5 s occlusion
        if t >= 2.0:
            faces["c"] = (300.0, 500.0, 60.0)
        return faces

    def summary(fps: int) -> dict[str, list[int]]:
        ids = run_scene(scene, fps=fps, duration_s=3.0, jitter_px=1.0)
        return {name: sorted(set(v)) for name, v in ids.items()}

    low, high = summary(10), summary(60)
    assert low == high
    assert all(len(v) == 1 for v in low.values())


# --- detect every N ----------------------------------------------------------------------------------


@pytest.mark.parametrize("every", [3, 5, 10])
def test_predict_between_detections_follows_moving_face(every: int) -> None:
    fps = 30
    tracker = FaceTracker()

    def truth(t: float) -> Detection:
        return make_detection(100.0 + 150.0 * t, 200.0 + 40.0 * t, 80.0 + 20.0 * t)

    seen: set[int] = set()
    for i in range(3 * fps):
        t = i / fps
        if i % every == 0:
            faces = tracker.update([truth(t)], t)
            assert len(faces) == 1 and not faces[0].predicted
        else:
            faces = tracker.predict(t)
            assert len(faces) == 1 and faces[0].predicted
            if i > 2 * every:  # velocity known after two detections
                expected = np.asarray(truth(t).box)
                np.testing.assert_allclose(faces[0].detection.box, expected, atol=1.5)
                np.testing.assert_allclose(faces[0].detection.landmarks, truth(t).landmarks, atol=1.5)
                assert faces[0].detection.score == 0.9
        seen.add(faces[0].track_id)
    assert seen == {1}


def test_predict_reports_only_confirmed_live_tracks_and_does_not_confirm() -> None:
    tracker = FaceTracker(min_hits=3, max_age_s=0.5)
    det = make_detection(100, 100)
    assert tracker.update([det], 0.0) == []
    assert tracker.predict(0.05) == []
    assert tracker.update([det], 0.1) == []
    assert tracker.active_ids == ()
    [face] = tracker.update([det], 0.2)
    assert face.track_id == 1
    assert [f.track_id for f in tracker.predict(0.3)] == [1]
    assert tracker.predict(0.8) == []  # older than max_age_s
    assert tracker.active_ids == ()


def test_tentative_track_missing_a_detection_is_dropped_and_costs_no_id() -> None:
    tracker = FaceTracker(min_hits=2)
    assert tracker.update([make_detection(100, 100)], 0.0) == []  # flicker: seen once
    assert tracker.update([], 0.1) == []
    assert tracker.update([make_detection(100, 100)], 0.2) == []
    [face] = tracker.update([make_detection(101, 100)], 0.3)
    assert face.track_id == 1


def test_predicted_box_and_landmarks_scale_with_the_face() -> None:
    tracker = FaceTracker()
    tracker.update([make_detection(100, 100, 80)], 0.0)
    tracker.update([make_detection(110, 100, 88)], 0.1)
    [face] = tracker.predict(0.2)
    expected = make_detection(120, 100, 88 * 88 / 80)  # size grows geometrically
    np.testing.assert_allclose(face.detection.box, expected.box, atol=1e-6)
    np.testing.assert_allclose(face.detection.landmarks, expected.landmarks, atol=1e-6)


def test_predict_without_landmarks() -> None:
    tracker = FaceTracker()
    tracker.update([Detection(box=(0, 0, 10, 10), score=0.5)], 0.0)
    [face] = tracker.predict(0.1)
    assert face.detection.landmarks is None and face.predicted


# --- time ----------------------------------------------------------------------------------------------


def test_time_going_backwards_resets() -> None:
    tracker = FaceTracker()
    det = make_detection(100, 100)
    for i in range(10):
        [face] = tracker.update([det], 5.0 + i / 30)
    assert face.track_id == 1
    [face] = tracker.update([det], 1.0)  # seek back: same place, but a fresh start
    assert face.track_id == 2
    assert tracker.active_ids == (2,)
    tracker.update([det], 1.0 + 1 / 30)
    assert tracker.predict(0.5) == []  # predict sees the seek too
    assert tracker.active_ids == ()


def test_reset_keeps_ids_increasing() -> None:
    tracker = FaceTracker()
    tracker.update([make_detection(100, 100), make_detection(300, 100)], 0.0)
    tracker.reset()
    assert tracker.active_ids == ()
    faces = tracker.update([make_detection(100, 100)], 0.0)
    assert [f.track_id for f in faces] == [3]


def test_same_time_twice_is_not_a_seek() -> None:
    tracker = FaceTracker()
    det = make_detection(100, 100)
    tracker.update([det], 1.0)
    assert [f.track_id for f in tracker.predict(1.0)] == [1]
    assert [f.track_id for f in tracker.update([det], 1.0)] == [1]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        FaceTracker(min_hits=0)
    with pytest.raises(ValueError):
        FaceTracker(iou_threshold=1.5)
    with pytest.raises(ValueError):
        FaceTracker(max_age_s=-1)


# --- properties over random scenes ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_random_scenes_never_reuse_ids(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tracker = FaceTracker(min_hits=int(rng.integers(1, 3)), max_age_s=float(rng.uniform(0.2, 1.5)))
    retired: set[int] = set()
    alive: set[int] = set()
    t = 0.0
    for _ in range(150):
        # irregular frame times and occasional seeks back
        t = t + float(rng.uniform(0.0, 0.2)) if rng.random() > 0.02 else float(rng.uniform(0.0, t + 0.01))
        n = int(rng.integers(0, 6))
        dets = [
            make_detection(*(float(v) for v in rng.uniform((0, 0, 20), (640, 480, 150))))
            for _ in range(n)
        ]
        faces: list[TrackedFace]
        faces = tracker.update(dets, t) if rng.random() < 0.7 else tracker.predict(t)
        ids = [f.track_id for f in faces]
        assert len(ids) == len(set(ids))
        assert not set(ids) & retired, "a deleted track's ID came back"
        assert all(i >= 1 for i in ids)
        now = set(tracker.active_ids)
        assert set(ids) <= now
        retired |= alive - now
        alive = now
