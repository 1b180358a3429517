"""Overlays: new image every time, drawn only around faces, readable and inside the frame at any size."""

from __future__ import annotations

import numpy as np
import pytest

from emodesk.core.annotate import annotate, face_thumbnail
from emodesk.core.palette import emotion_bgr
from emodesk.core.pipeline import Pipeline
from emodesk.core.results import FaceResult, FrameResult
from emodesk.core.sources import read_image
from tests.conftest import TEST_IMAGES

LABELS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
GREY = 128


def face(
    track_id: int,
    box: tuple[float, float, float, float],
    emotion: str = "happiness",
    *,
    confidence: float = 0.87,
    tracked: bool = False,
    landmarks: tuple[tuple[float, float], ...] | None = None,
) -> FaceResult:
    probs = {label: (1.0 - confidence) / (len(LABELS) - 1) for label in LABELS}
    probs[emotion] = confidence
    return FaceResult(track_id, box, 0.95, landmarks, probs, probs, emotion, confidence, tracked)


def result(*faces: FaceResult) -> FrameResult:
    return FrameResult(0, 0.0, tuple(faces))


def grey(h: int = 480, w: int = 640) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def colour_mask(image: np.ndarray, emotion: str | None, tol: int = 0) -> np.ndarray:
    target = np.array(emotion_bgr(emotion), np.int16)
    return (np.abs(image.astype(np.int16) - target) <= tol).all(axis=2)


def test_returns_a_new_image_and_leaves_the_input_alone() -> None:
    frame = grey()
    before = frame.copy()
    out = annotate(frame, result(face(1, (250, 180, 330, 280))), landmarks=True)
    assert out is not frame and not np.shares_memory(out, frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(frame, before)
    assert not np.array_equal(out, frame)


def test_no_faces_gives_an_identical_copy() -> None:
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    out = annotate(frame, result())
    assert np.array_equal(out, frame) and not np.shares_memory(out, frame)
    # a prediction that drifted entirely out of the frame draws nothing either
    out = annotate(frame, result(face(1, (400, 300, 480, 380))))
    assert np.array_equal(out, frame)


def test_draws_around_the_face_and_nowhere_else() -> None:
    x1, y1, x2, y2 = 250, 180, 330, 280
    out = annotate(grey(), result(face(1, (x1, y1, x2, y2), "sadness")))
    changed = (out != GREY).any(axis=2)
    # the box border is in the emotion's colour
    border = colour_mask(out, "sadness")
    assert border[(y1 + y2) // 2, x1] and border[(y1 + y2) // 2, x2]
    # the inside of the face is left to be seen
    assert not changed[y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].any()
    # label above, bars beside: everything stays within a margin of the face
    ys, xs = np.nonzero(changed)
    assert ys.min() >= y1 - 60 and ys.max() <= y2 + 10
    assert xs.min() >= x1 - 10 and xs.max() <= x2 + 160
    assert not changed[:100].any() and not changed[:, :200].any() and not changed[360:].any()


def test_selected_face_has_a_thicker_box() -> None:
    box = (250, 180, 330, 280)
    plain = annotate(grey(), result(face(3, box, "anger")), bars=False)
    chosen = annotate(grey(), result(face(3, box, "anger")), selected=3, bars=False)
    # count the box colour along the left side only (the label above is the same colour)
    band = (slice(box[1] + 5, box[3] - 5), slice(box[0] - 12, box[0] + 12))
    thin, thick = colour_mask(plain, "anger")[band].sum(), colour_mask(chosen, "anger")[band].sum()
    assert thick >= 2 * thin > 0


def test_tracked_box_is_dashed() -> None:
    box = (250, 180, 330, 280)
    detected = annotate(grey(), result(face(1, box, "neutral")), bars=False)
    predicted = annotate(grey(), result(face(1, box, "neutral", tracked=True)), bars=False)
    left = (slice(box[1] + 5, box[3] - 5), box[0])
    assert colour_mask(detected, "neutral", tol=8)[left].mean() > 0.95
    assert 0.2 < colour_mask(predicted, "neutral", tol=8)[left].mean() < 0.8


def label_pixels(image: np.ndarray, emotion: str) -> int:
    return int(colour_mask(image, emotion).sum())


@pytest.mark.parametrize(
    "box",
    [(0, 0, 60, 70), (580, 0, 640, 70), (0, 410, 60, 480), (580, 410, 640, 480), (290, 0, 350, 70), (0, 200, 60, 270)],
    ids=["top-left", "top-right", "bottom-left", "bottom-right", "top", "left"],
)
def test_labels_stay_whole_inside_the_frame_at_edges_and_corners(box: tuple[int, int, int, int]) -> None:
    centred = annotate(grey(), result(face(1, (290, 200, 350, 270), "surprise")))
    at_edge = annotate(grey(), result(face(1, box, "surprise")))
    assert at_edge.shape == (480, 640, 3)
    # the filled label is as big at the edge as in the middle: moved inside, not cut off
    assert label_pixels(at_edge, "surprise") >= 0.9 * label_pixels(centred, "surprise")


def test_faces_partly_outside_the_frame_do_not_fail() -> None:
    faces = [face(1, (-40, -30, 50, 60)), face(2, (600, 440, 700, 560), "fear"), face(3, (-100, 200, 20, 320), "anger")]
    out = annotate(grey(), result(*faces), selected=2, landmarks=True)
    assert out.shape == (480, 640, 3)
    assert colour_mask(out, "fear").any() and colour_mask(out, "anger").any()


def test_neighbouring_faces_keep_their_labels_readable() -> None:
    a, b = face(1, (200, 200, 260, 270), "anger"), face(2, (265, 205, 325, 275), "sadness")
    alone_a = label_pixels(annotate(grey(), result(a)), "anger")
    alone_b = label_pixels(annotate(grey(), result(b)), "sadness")
    both = annotate(grey(), result(a, b))
    # neither label is painted over by the other one
    assert label_pixels(both, "anger") >= 0.9 * alone_a
    assert label_pixels(both, "sadness") >= 0.9 * alone_b


@pytest.mark.parametrize("shape", [(64, 64), (240, 320), (1080, 1920), (2160, 3840)])
def test_any_frame_size(shape: tuple[int, int]) -> None:
    h, w = shape
    box = (w * 0.4, h * 0.35, w * 0.55, h * 0.6)
    out = annotate(grey(h, w), result(face(1, box, "disgust"), face(2, (w * 0.7, h * 0.3, w * 0.8, h * 0.45))))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert colour_mask(out, "disgust").any()


def label_height(image: np.ndarray, emotion: str, box_top: int) -> int:
    rows = np.nonzero(colour_mask(image, emotion)[:box_top].any(axis=1))[0]
    return int(rows.max() - rows.min() + 1)


def test_text_scales_with_the_frame_and_stays_legible_when_small() -> None:
    def height(h: int, w: int) -> int:
        box = (int(w * 0.4), int(h * 0.4), int(w * 0.5), int(h * 0.55))
        return label_height(annotate(grey(h, w), result(face(1, box, "fear")), bars=False), "fear", box[1] - 2)

    small, hd, uhd = height(240, 320), height(1080, 1920), height(2160, 3840)
    assert small >= 12  # Hershey text stops being readable much below this
    assert hd > small and uhd > 1.6 * hd


def test_label_follows_the_face_size_within_limits() -> None:
    def height(side: int) -> int:
        box = (800, 500, 800 + side, 500 + side)
        return label_height(annotate(grey(1080, 1920), result(face(1, box, "fear")), bars=False), "fear", 498)

    tiny, medium, huge = height(30), height(120), height(450)
    assert tiny < medium < huge
    assert tiny >= 28  # never unreadably small (1080p: ~16 px text)...
    assert huge <= 64  # ...nor a banner


def test_bars_show_the_smoothed_probabilities_in_label_colours() -> None:
    probs = dict.fromkeys(LABELS, 0.0) | {"happiness": 0.6, "surprise": 0.4}
    f = FaceResult(1, (250, 180, 330, 280), 0.9, None, probs, probs, "happiness", 0.6)
    with_bars = annotate(grey(), result(f))
    without = annotate(grey(), result(f), bars=False)
    assert colour_mask(with_bars, "surprise").any() and not colour_mask(without, "surprise").any()
    # the happiness bar is longer than the surprise bar (lengths are proportional); the happiness-coloured
    # label is above the box, the bars are right of it
    happy_cols = np.nonzero(colour_mask(with_bars, "happiness")[180:280, 335:].any(axis=0))[0]
    surprise_cols = np.nonzero(colour_mask(with_bars, "surprise").any(axis=0))[0]
    assert len(happy_cols) > len(surprise_cols) > 0


def test_landmarks_are_drawn_only_when_asked() -> None:
    points = ((280.0, 215.0), (305.0, 215.0), (292.0, 235.0), (282.0, 255.0), (302.0, 255.0))
    f = face(1, (250, 180, 330, 280), landmarks=points)
    off, on = annotate(grey(), result(f)), annotate(grey(), result(f), landmarks=True)
    x, y = int(points[2][0]), int(points[2][1])
    assert (off[y, x] == GREY).all() and not (on[y, x] == GREY).all()


def test_grey_and_bgra_frames_are_accepted() -> None:
    f = face(1, (250, 180, 330, 280))
    assert annotate(np.full((480, 640), 90, np.uint8), result(f)).shape == (480, 640, 3)
    assert annotate(np.full((480, 640, 4), 90, np.uint8), result(f)).shape == (480, 640, 3)
    with pytest.raises(ValueError):
        annotate(np.zeros((480, 640, 3), np.float32), result(f))


def test_face_thumbnail_is_square_centred_and_padded() -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:300, 300:380] = 255  # an 80x100 "face"
    thumb = face_thumbnail(frame, (300, 200, 380, 300))
    assert thumb.shape == (64, 64, 3) and thumb.dtype == np.uint8
    assert (thumb[32, 32] == 255).all()  # centred
    assert (thumb[2, 2] == 0).all()  # the margin (and the wider-than-tall square) shows the background
    edge = face_thumbnail(frame, (-30, -30, 50, 50), size=48)
    assert edge.shape == (48, 48, 3) and (edge[0, 0] == 0).all()
    assert not face_thumbnail(frame, (1000, 1000, 1100, 1100)).any()  # nothing of the frame: black
    assert face_thumbnail(frame, (10, 10, 10, 10), size=16).shape == (16, 16, 3)


@pytest.fixture(scope="module")
def group_photo(cpu_pipeline: Pipeline) -> tuple[np.ndarray, FrameResult]:
    image = read_image(TEST_IMAGES / "group6_test_image.jpg")
    return image, cpu_pipeline.analyze_image(image)


def test_real_group_photo_boxes_wear_their_emotion_colour(group_photo: tuple[np.ndarray, FrameResult]) -> None:
    image, res = group_photo
    out = annotate(image, res)
    happy = [f for f in res.faces if f.emotion == "happiness"]
    assert len(happy) == 5
    mask = colour_mask(out, "happiness", tol=6)
    for f in happy:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        ys = np.linspace(y1 + 5, y2 - 5, 9).astype(int)
        # the middle of the box's left and right sides, where no label or bar is drawn
        assert mask[ys, x1].mean() > 0.8 and mask[ys, x2].mean() > 0.8, f
    other = [f for f in res.faces if f.emotion != "happiness"]
    for f in other:
        x1, y1, x2, y2 = (int(round(v)) for v in f.box)
        assert colour_mask(out, f.emotion, tol=6)[(y1 + y2) // 2, x1]
