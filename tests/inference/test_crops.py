"""Face-crop geometry and input normalisation (pure numpy/OpenCV, no models)."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("EMODESK_MODEL_DIR", str(Path(__file__).resolve().parents[3] / "shared" / "models"))

import cv2
import numpy as np
import pytest

from emodesk.errors import ModelError
from emodesk.inference.classifiers.crops import (
    ARCFACE_112,
    align5_fallback_box,
    align_five_points,
    arcface_template,
    crop_box,
    expand_box,
    face_crop,
    face_crops,
    similarity_transform,
)
from emodesk.inference.classifiers.normalize import InputSpec, to_tensor
from emodesk.inference.manifest import CLASSIFIER, load_manifest
from emodesk.inference.types import Detection


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A textured but smooth BGR image, so bilinear resampling errors stay small."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def coordinate_frame(h: int, w: int) -> np.ndarray:
    """Pixel (y, x) holds (y, x, 7): every crop pixel says where it came from."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([ys, xs, np.full_like(ys, 7)], axis=-1).astype(np.uint8)


# ---- alignment -------------------------------------------------------------------------------------------


def test_align_with_template_landmarks_is_identity() -> None:
    img = smooth_image(112, 112)
    out = align_five_points(img, ARCFACE_112)
    assert out.shape == (112, 112, 3)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1


def test_align_template_scales_with_size() -> None:
    img = smooth_image(224, 224, seed=1)
    out = align_five_points(img, ARCFACE_112 * 2, size=(224, 224))
    assert out.shape == (224, 224, 3)
    assert np.abs(out.astype(int) - img.astype(int)).max() <= 1
    np.testing.assert_allclose(arcface_template((224, 224)), ARCFACE_112 * 2)


def test_align_undoes_a_similarity_transform() -> None:
    face = smooth_image(112, 112, seed=2)
    angle, scale, tx, ty = 25.0, 1.8, 140.0, 60.0
    m = cv2.getRotationMatrix2D((0, 0), angle, scale)
    m[:, 2] = (tx, ty)
    frame = cv2.warpAffine(face, m, (400, 360))
    landmarks = cv2.transform(ARCFACE_112[None].astype(np.float32), m)[0]
    out = align_five_points(frame, landmarks)
    inner = (slice(10, 102), slice(10, 102))  # away from the border, where the forward warp lost pixels
    assert np.abs(out[inner].astype(int) - face[inner].astype(int)).mean() < 2.0


def test_similarity_fit_matches_opencv_partial_affine() -> None:
    rng = np.random.default_rng(3)
    m = cv2.getRotationMatrix2D((50, 40), -12.0, 0.7)
    src = cv2.transform(ARCFACE_112[None], m)[0] + rng.normal(0, 0.6, size=(5, 2))
    ours = similarity_transform(src, ARCFACE_112)
    theirs, inliers = cv2.estimateAffinePartial2D(src, ARCFACE_112)
    assert inliers.all()
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
    # a true similarity: [[a, -b], [b, a]]
    assert ours[0, 0] == pytest.approx(ours[1, 1]) and ours[0, 1] == pytest.approx(-ours[1, 0])


def test_align_pads_outside_the_frame_with_zeros() -> None:
    frame = np.full((80, 80, 3), 200, np.uint8)
    # the face sits in the frame's top-left corner, so most of the aligned crop lies outside it
    out = align_five_points(frame, ARCFACE_112 - 60)
    assert out[:5, :5].max() == 0
    assert out[-5:, -5:].min() == 200


def test_align_rejects_wrong_keypoint_count() -> None:
    with pytest.raises(ValueError, match="5"):
        align_five_points(np.zeros((50, 50, 3), np.uint8), ARCFACE_112[:4])


# ---- box crops -------------------------------------------------------------------------------------------


def test_crop_inside_frame_is_a_view_of_the_box() -> None:
    frame = coordinate_frame(100, 120)
    crop = crop_box(frame, (10, 20, 50, 80))
    assert crop.shape == (60, 40, 3)
    assert np.shares_memory(crop, frame)
    assert tuple(crop[0, 0, :2]) == (20, 10) and tuple(crop[-1, -1, :2]) == (79, 49)


def test_crop_margin_and_square() -> None:
    frame = np.zeros((1000, 1000, 3), np.uint8)
    assert crop_box(frame, (300, 300, 400, 500), margin=(0.1, 0.2)).shape[:2] == (280, 120)
    assert expand_box((300, 300, 400, 500), margin=(0.1, 0.2)) == pytest.approx((290, 260, 410, 540))
    square = expand_box((300, 300, 400, 500), square=True)
    assert square == pytest.approx((250, 300, 450, 500))  # centre kept, longer side taken
    assert crop_box(frame, (300, 300, 400, 500), square=True).shape[:2] == (200, 200)


@pytest.mark.parametrize("border", ["replicate", "constant"])
def test_crop_near_the_edge_pads_instead_of_shifting(border: str) -> None:
    frame = coordinate_frame(100, 120)
    box = (-20, -10, 30, 40)  # 50x50, centred on (5, 15): partly above and left of the frame
    crop = crop_box(frame, box, border=border)
    assert crop.shape == (50, 50, 3)
    # frame pixel (0, 0) stays where the box puts it, so the face stays centred
    assert tuple(crop[10, 20]) == (0, 0, 7)
    assert tuple(crop[25, 25, :2]) == (15, 5)  # the box centre is the crop centre
    if border == "replicate":
        assert tuple(crop[0, 0]) == (0, 0, 7)  # nearest edge pixel
        assert tuple(crop[0, 30, :2]) == (0, 10)
    else:
        assert crop[:10].max() == 0 and crop[:, :20].max() == 0


def test_crop_past_the_bottom_right_edge() -> None:
    frame = coordinate_frame(100, 120)
    crop = crop_box(frame, (100, 80, 140, 120), border="constant")
    assert crop.shape == (40, 40, 3)
    assert tuple(crop[19, 19]) == (99, 119, 7)
    assert crop[20:].max() == 0 and crop[:, 20:].max() == 0


def test_crop_wholly_outside_the_frame_is_padding() -> None:
    frame = coordinate_frame(100, 120)
    assert crop_box(frame, (500, 500, 540, 530), border="constant").max() == 0
    edge = crop_box(frame, (500, 500, 540, 530), border="replicate")
    assert edge.shape == (30, 40, 3) and (edge[..., :2] == (99, 119)).all()


@pytest.mark.parametrize(
    "box",
    [(10, 10, 10, 50), (10, 10, 50, 10), (50, 10, 10, 50), (10, 50, 50, 10), (float("nan"), 0, 10, 10)],
)
def test_degenerate_box_raises_value_error(box: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="no area"):
        crop_box(np.zeros((100, 100, 3), np.uint8), box)


def test_sub_pixel_box_gives_one_pixel() -> None:
    crop = crop_box(coordinate_frame(100, 120), (10.2, 20.1, 10.4, 20.3))
    assert crop.shape == (1, 1, 3) and tuple(crop[0, 0]) == (20, 10, 7)


def test_crop_works_on_grayscale_frames() -> None:
    gray = np.arange(100 * 120, dtype=np.uint16).reshape(100, 120).astype(np.uint8)
    assert crop_box(gray, (-5, -5, 10, 10)).shape == (15, 15)


# ---- spec-driven crops -----------------------------------------------------------------------------------


def _spec(model_id: str) -> InputSpec:
    return InputSpec.from_mapping(load_manifest().get(model_id).input, model=model_id)


def test_face_crop_align5_uses_keypoints() -> None:
    frame = smooth_image(300, 300, seed=4)
    lms = tuple(map(tuple, (ARCFACE_112 + 90).tolist()))
    det = Detection(box=(100, 80, 200, 210), score=0.9, landmarks=lms)
    spec = _spec("fer_mobilefacenet_int8")
    crop = face_crop(frame, det, spec)
    assert crop.shape == (112, 112, 3)
    np.testing.assert_array_equal(crop, frame[90:202, 90:202])


def test_face_crop_align5_without_keypoints_falls_back_to_a_square_box() -> None:
    frame = smooth_image(300, 300, seed=5)
    det = Detection(box=(100, 80, 180, 180), score=0.9, landmarks=None)
    crop = face_crop(frame, det, _spec("fer_mobilefacenet_int8"))
    assert crop.shape == (112, 112, 3)
    x1, y1, x2, y2 = align5_fallback_box(det.box)
    assert x2 - x1 == pytest.approx(100) and y2 - y1 == pytest.approx(100)  # square of the longer side
    assert (x1 + x2) / 2 == pytest.approx(140) and (y1 + y2) / 2 < 130  # raised towards the eyes
    expected = cv2.resize(crop_box(frame, (x1, y1, x2, y2), border="constant"), (112, 112))
    np.testing.assert_array_equal(crop, expected)


def test_face_crop_box_margin_matches_manual_crop() -> None:
    frame = smooth_image(400, 400, seed=6)
    det = Detection(box=(100, 100, 200, 220), score=0.9)
    crop = face_crop(frame, det, _spec("mini_xception"))
    expected = cv2.resize(frame[76:244, 90:210], (64, 64))  # 10 % / 20 % of 100x120 on each side
    np.testing.assert_array_equal(crop, expected)


def test_face_crops_stacks_in_order() -> None:
    frame = smooth_image(200, 300, seed=7)
    dets = [Detection((10, 10, 60, 70), 0.9), Detection((150, 40, 230, 140), 0.8)]
    spec = _spec("hsemotion_enet_b0_8_afew")
    batch = face_crops(frame, dets, spec)
    assert batch.shape == (2, 224, 224, 3) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[1], face_crop(frame, dets[1], spec))
    assert face_crops(frame, [], spec).shape == (0, 224, 224, 3)


# ---- to_tensor -------------------------------------------------------------------------------------------


def test_to_tensor_rgb_nchw_imagenet() -> None:
    crops = [smooth_image(224, 224, seed=s) for s in (8, 9)]
    spec = _spec("hsemotion_enet_b0_8_afew")
    x = to_tensor(crops, spec)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected = np.stack([((c[..., ::-1] / 255.0 - mean) / std).transpose(2, 0, 1) for c in crops])
    assert x.dtype == np.float32 and x.shape == (2, 3, 224, 224) and x.flags.c_contiguous
    np.testing.assert_allclose(x, expected, atol=1e-5)


def test_to_tensor_gray_nhwc_minus_one_to_one() -> None:
    crops = np.stack([smooth_image(64, 64, seed=s) for s in (10, 11, 12)])
    x = to_tensor(crops, _spec("mini_xception"))
    gray = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops])
    assert x.shape == (3, 64, 64, 1)
    np.testing.assert_allclose(x[..., 0], (gray / 255.0 - 0.5) * 2, atol=1e-5)
    assert x.min() >= -1 and x.max() <= 1


def test_to_tensor_accepts_a_plain_manifest_dict_and_fer2013_gray_crops() -> None:
    # the training code feeds FER2013's 48x48 grayscale images straight in
    raw = {"size": [48, 48], "crop": "box_square", "color": "GRAY", "scale": 1 / 255, "mean": 0.0, "std": 1.0}
    faces = [np.full((48, 48), 51, np.uint8), np.full((96, 96), 255, np.uint8)]  # the second gets resized
    x = to_tensor(faces, raw)
    assert x.shape == (2, 1, 48, 48)
    np.testing.assert_allclose(x[0], 0.2, atol=1e-6)
    np.testing.assert_allclose(x[1], 1.0, atol=1e-6)


def test_to_tensor_repeats_gray_crops_for_colour_models() -> None:
    x = to_tensor([np.full((112, 112), 255, np.uint8)], _spec("fer_mobilefacenet_int8"))
    assert x.shape == (1, 3, 112, 112)
    np.testing.assert_allclose(x, 1.0, atol=1e-6)


def test_to_tensor_bgr_keeps_channel_order() -> None:
    crop = np.zeros((8, 8, 3), np.uint8)
    crop[..., 0] = 255  # blue
    x = to_tensor([crop], {"size": 8, "color": "BGR", "scale": 1 / 255, "layout": "NHWC"})
    assert x[0, 0, 0].tolist() == pytest.approx([1.0, 0.0, 0.0])
    y = to_tensor([crop], {"size": 8, "color": "RGB", "scale": 1 / 255, "layout": "NHWC"})
    assert y[0, 0, 0].tolist() == pytest.approx([0.0, 0.0, 1.0])


def test_to_tensor_input_checks() -> None:
    spec = _spec("mini_xception")
    assert to_tensor([], spec).shape == (0, 64, 64, 1)
    with pytest.raises(ValueError, match="list of crops"):
        to_tensor(np.zeros((64, 64, 3), np.uint8), spec)
    with pytest.raises(ValueError, match="non-empty"):
        to_tensor([np.zeros((0, 64, 3), np.uint8)], spec)


# ---- InputSpec -------------------------------------------------------------------------------------------


def test_every_manifest_classifier_input_parses() -> None:
    for entry in load_manifest().of_kind(CLASSIFIER):
        spec = InputSpec.from_mapping(entry.input, model=entry.id)
        assert spec.size[0] > 0 and spec.layout in ("NCHW", "NHWC")
    fer = _spec("fer_mobilefacenet_int8")
    assert fer.border == "constant" and fer.crop == "align5"  # upstream's warpAffine default
    assert _spec("mini_xception").border == "replicate"
    assert _spec("mini_xception").tensor_shape(2) == (2, 64, 64, 1)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"crop": "box"}, "no 'size'"),
        ({"size": [64, 64], "color": "HSV"}, "color"),
        ({"size": [64, 64], "crop": "box_margin"}, "margin"),
        ({"size": [64, 64], "crop": "center"}, "crop"),
        ({"size": [64, 64], "std": [0.5, 0.0, 0.5]}, "zero"),
        ({"size": [64, 64], "color": "RGB", "mean": [0.1, 0.2]}, "1 or 3"),
        ({"size": [64, 64], "layout": "CHW"}, "layout"),
        ({"size": [64, 64], "output": "sigmoid"}, "output"),
        ({"size": [64, 64], "batch": 0}, "batch"),
        ({"size": [-1, 64]}, "positive"),
    ],
)
def test_bad_input_spec_names_the_model(raw: dict, match: str) -> None:
    with pytest.raises(ModelError, match=match) as info:
        InputSpec.from_mapping(raw, model="my_model")
    assert "my_model" in str(info.value)
