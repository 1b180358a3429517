"""emodesk.core.evaluate: the metrics on a hand-made example, and evaluation of real models on a JAFFE sample."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from emodesk.core.eval_metrics import (
    brier_score,
    calibration,
    expected_calibration_error,
    fit_temperature,
    metrics,
    negative_log_likelihood,
    reliability_bins,
    softmax_t,
)
from emodesk.core.eval_report import (
    confusion_png,
    format_report,
    reliability_png,
    summary_line,
)
from emodesk.core.evaluate import (
    EvalReport,
    LabelsFileError,
    detection_frame,
    evaluate,
    read_labels,
)
from emodesk.errors import SourceError
from emodesk.inference import store
from emodesk.inference.labels import CANONICAL_LABELS
from emodesk.inference.loader import load_classifier, load_detector
from emodesk.inference.manifest import CLASSIFIER, load_manifest
from tests.conftest import SHARED

JAFFE = SHARED / "data" / "jaffe"
FER_VAL = SHARED / "data" / "fer2013" / "val"
PER_CLASS = 3
JAFFE_CLASSES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
PRESENT_EMOTION_MODELS = [s.id for s in load_manifest().of_kind(CLASSIFIER) if store.locate(s).present]


@dataclass(frozen=True)
class Sample:
    folder: Path
    readable: int  # images that can be read
    support: dict[str, int]  # canonical label → readable images
    unreadable: frozenset[str]  # CSV paths that cannot be read


def make_jaffe_sample(dest: Path) -> Sample:
    """A labelled folder in ``dest``: 3 JAFFE images per class (one with a non-ASCII name), one neutral face
    labelled ``contempt`` (which 7-class models cannot predict), a text file named .tiff, an empty file and a
    row whose file does not exist. Labels are written partly as aliases (``happy``, ``Sad``)."""
    rows: list[tuple[str, str]] = []
    for label in JAFFE_CLASSES:
        (dest / label).mkdir(parents=True)
        for k, src in enumerate(sorted((JAFFE / label).glob("*.tiff"))[:PER_CLASS]):
            # a non-ASCII file name proves the np.fromfile + imdecode read path
            name = f"{label}/笑顔_{src.name}" if label == "happiness" and k == 0 else f"{label}/{src.name}"
            shutil.copyfile(src, dest / name)
            written = {"happiness": "happy", "sadness": "Sad"}.get(label, label) if k == 1 else label
            rows.append((name, written))
    (dest / "contempt").mkdir()
    shutil.copyfile(sorted((JAFFE / "neutral").glob("*.tiff"))[-1], dest / "contempt" / "fake.tiff")
    rows.append(("contempt/fake.tiff", "contempt"))
    (dest / "bad").mkdir()
    (dest / "bad" / "not_an_image.tiff").write_text("this is not a TIFF\n")
    (dest / "bad" / "empty.tiff").write_bytes(b"")
    rows += [("bad/not_an_image.tiff", "anger"), ("bad/empty.tiff", "fear"), ("gone/missing.tiff", "surprise")]
    (dest / "labels.csv").write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows), encoding="utf-8")
    support = {label: PER_CLASS for label in JAFFE_CLASSES} | {"contempt": 1}
    return Sample(
        folder=dest,
        readable=len(JAFFE_CLASSES) * PER_CLASS + 1,
        support=support,
        unreadable=frozenset({"bad/not_an_image.tiff", "bad/empty.tiff", "gone/missing.tiff"}),
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return make_jaffe_sample(tmp_path_factory.mktemp("jaffe_sample"))


@pytest.fixture(scope="module")
def mini_xception():
    return load_classifier("mini_xception", device="cpu")


def _no_nan(report: EvalReport) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"JSON contains {token}")

    return json.loads(report.to_json(), parse_constant=refuse)


# ------------------------------------------------------------------------------------------------- metrics


def test_metrics_on_a_hand_made_example() -> None:
    y_true = ["anger", "anger", "anger", "happiness", "happiness", "sadness"]
    y_pred = ["anger", "happiness", None, "happiness", "happiness", "anger"]  # None: no face found
    labels = ("anger", "fear", "happiness", "sadness")  # fear: no support and never predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 0/0 must not warn
        m = metrics(y_true, y_pred, labels)
    assert m.labels == labels
    assert m.n == 6
    assert m.confusion == ((1, 0, 1, 0), (0, 0, 0, 0), (0, 0, 2, 0), (1, 0, 0, 0))
    assert m.misses == (1, 0, 0, 0)
    assert m.accuracy == pytest.approx(3 / 6)
    # macro averages run over the labels present in y_true: anger, happiness, sadness
    assert m.balanced_accuracy == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert m.macro_f1 == pytest.approx((0.4 + 0.8 + 0.0) / 3)
    pc = m.per_class
    assert (pc["anger"].precision, pc["anger"].recall, pc["anger"].f1, pc["anger"].support) == pytest.approx((0.5, 1 / 3, 0.4, 3))
    assert (pc["happiness"].precision, pc["happiness"].recall, pc["happiness"].f1) == pytest.approx((2 / 3, 1.0, 0.8))
    assert (pc["sadness"].precision, pc["sadness"].recall, pc["sadness"].f1, pc["sadness"].support) == (0.0, 0.0, 0.0, 1)
    assert (pc["fear"].precision, pc["fear"].recall, pc["fear"].f1, pc["fear"].support) == (0.0, 0.0, 0.0, 0)
    values = [v for c in pc.values() for v in (c.precision, c.recall, c.f1)] + [m.accuracy, m.balanced_accuracy, m.macro_f1]
    assert all(math.isfinite(v) for v in values)


def test_metrics_edge_cases() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty = metrics([], [], ("anger", "fear"))
        perfect = metrics(["fear", "anger"], ["fear", "anger"], ("anger", "fear"))
    assert (empty.n, empty.accuracy, empty.balanced_accuracy, empty.macro_f1) == (0, 0.0, 0.0, 0.0)
    assert empty.confusion == ((0, 0), (0, 0))
    assert (perfect.accuracy, perfect.balanced_accuracy, perfect.macro_f1) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="true label 'joy'"):
        metrics(["joy"], ["anger"], ("anger",))
    with pytest.raises(ValueError, match="predicted label"):
        metrics(["anger"], ["fear"], ("anger",))
    with pytest.raises(ValueError, match="1 true labels but 2"):
        metrics(["anger"], ["anger", "anger"], ("anger",))


# ------------------------------------------------------------------------------------------------- calibration

# four images, two classes; every confidence sits inside a bin of width 1/15, away from the edges
HAND_PROBS = np.array([[0.82, 0.18], [0.62, 0.38], [0.28, 0.72], [0.85, 0.15]])
HAND_TRUE = np.array([0, 1, 1, 0])  # right, wrong (says class 0 at 0.62), right, right


def test_calibration_on_a_hand_computed_example() -> None:
    # bins: 0.82 and 0.85 in (12/15, 13/15], both right; 0.62 in (9/15, 10/15], wrong; 0.72 in (10/15, 11/15], right
    ece = 2 / 4 * abs(1 - (0.82 + 0.85) / 2) + 1 / 4 * abs(0 - 0.62) + 1 / 4 * abs(1 - 0.72)
    nll = -(math.log(0.82) + math.log(0.38) + math.log(0.72) + math.log(0.85)) / 4
    brier = (2 * 0.18**2 + (0.62**2 + 0.62**2) + 2 * 0.28**2 + 2 * 0.15**2) / 4
    assert ece == pytest.approx(0.3075)
    assert expected_calibration_error(HAND_PROBS, HAND_TRUE) == pytest.approx(ece)
    assert negative_log_likelihood(HAND_PROBS, HAND_TRUE) == pytest.approx(nll)
    assert brier_score(HAND_PROBS, HAND_TRUE) == pytest.approx(brier)
    bins = reliability_bins(HAND_PROBS, HAND_TRUE)
    assert len(bins) == 15 and sum(b.count for b in bins) == 4
    assert [(i, b.count, b.accuracy) for i, b in enumerate(bins) if b.count] == [(9, 1, 0.0), (10, 1, 1.0), (12, 2, 1.0)]
    c = calibration(HAND_PROBS, HAND_TRUE)
    assert (c.n, c.accuracy) == (4, 0.75) and c.mean_confidence == pytest.approx((0.82 + 0.62 + 0.72 + 0.85) / 4)
    assert (c.ece, c.nll, c.brier) == pytest.approx((ece, nll, brier))
    # a perfect, certain model scores 0 on all three; an empty set is 0 and never NaN
    perfect = calibration(np.eye(3), np.arange(3))
    assert (perfect.ece, perfect.nll, perfect.brier) == pytest.approx((0.0, 0.0, 0.0))
    assert calibration(np.zeros((0, 3)), np.zeros(0, np.int64)).ece == 0.0
    with pytest.raises(ValueError, match="label indices"):
        calibration(HAND_PROBS, np.array([0, 1, 2, 0]))


def test_fitted_temperature_recovers_the_one_that_made_the_labels() -> None:
    rng = np.random.default_rng(7)
    logits = rng.normal(0, 3, size=(20000, 7))
    p = softmax_t(logits, 2.0)
    true = np.array([rng.choice(7, p=row) for row in p])
    t = fit_temperature(logits, true)
    assert t == pytest.approx(2.0, rel=0.05)
    # the fitted temperature is the NLL minimum: both neighbours are worse
    nll = [negative_log_likelihood(softmax_t(logits, x), true) for x in (t * 0.9, t, t * 1.1)]
    assert nll[1] < nll[0] and nll[1] < nll[2]


def test_eval_reports_calibration_with_and_without_the_temperature(sample: Sample) -> None:
    model_id = load_manifest().default(CLASSIFIER).id
    calibrated = evaluate(sample.folder, emotion=model_id, device="cpu")
    raw = evaluate(sample.folder, emotion=model_id, device="cpu", calibrated=False)
    data = _no_nan(calibrated)
    assert {"ece", "nll", "brier"} <= set(data) and data["temperature"] == calibrated.temperature
    assert raw.temperature is None and raw.accuracy == calibrated.accuracy  # T never changes the top label
    # the calibration set: images with a prediction whose label the model has (not the fake contempt image)
    assert calibrated.calibration.n == sample.readable - 1 == len(raw.true_index)
    for report in (calibrated, raw):
        probs = softmax_t(report.logits, report.temperature or 1.0)
        assert report.calibration.nll == pytest.approx(negative_log_likelihood(probs, report.true_index), rel=1e-4)
        assert report.calibration.brier == pytest.approx(brier_score(probs, report.true_index), rel=1e-4)
    if calibrated.temperature not in (None, 1.0):
        assert calibrated.calibration.nll != pytest.approx(raw.calibration.nll)


# ------------------------------------------------------------------------------------------------- labels file


def test_read_labels_accepts_aliases_and_resolves_paths(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("\ufeffpath,label\na.png,happy\n\nsub/b.png, Surprised \n")
    rows = read_labels(tmp_path / "labels.csv")
    assert [(r.name, r.label, r.line) for r in rows] == [("a.png", "happiness", 2), ("sub/b.png", "surprise", 4)]
    assert rows[1].path == tmp_path / "sub" / "b.png"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("path,label\na.png,anger\nb.png,grumpy\n", "line 3: unknown emotion label 'grumpy'"),
        ("file,emotion\na.png,anger\n", "line 1: the header must name"),
        ("path,label\na.png,anger\n./a.png,fear\n", "line 3: ./a.png is already listed on line 2"),
        ("path,label\n,anger\n", "line 2: empty path"),
    ],
)
def test_malformed_labels_file_names_the_line(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(LabelsFileError, match=match):
        read_labels(tmp_path / "labels.csv")


def test_missing_folder_labels_file_or_images_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        evaluate(tmp_path / "nope")
    with pytest.raises(SourceError, match="no such labels file"):
        evaluate(tmp_path)
    (tmp_path / "labels.csv").write_text("path,label\n")
    with pytest.raises(SourceError, match="lists no images"):
        evaluate(tmp_path)
    (tmp_path / "labels.csv").write_text("path,label\nmissing.png,anger\n")
    with pytest.raises(SourceError, match="none of the 1 listed images could be read"):
        evaluate(tmp_path, emotion="mini_xception", device="cpu")


# ------------------------------------------------------------------------------------------------- whole crops


@pytest.mark.parametrize("model_id", PRESENT_EMOTION_MODELS)
def test_whole_mode_on_the_jaffe_sample(sample: Sample, model_id: str) -> None:
    seen: list[tuple[int, int]] = []
    report = evaluate(sample.folder, emotion=model_id, device="cpu", batch=8, progress=lambda d, t: seen.append((d, t)))
    listed = sample.readable + len(sample.unreadable)
    assert seen[-1] == (listed, listed)
    assert report.model == model_id and len(report.sha256) == 64 and report.crop == "whole"
    assert report.detector is None
    # unreadable files are named, with a reason, and are not in n
    assert set(report.unreadable) == sample.unreadable
    assert "empty" in report.unreadable["bad/empty.tiff"]
    assert "no such file" in report.unreadable["gone/missing.tiff"]
    assert report.n == sample.readable == len(report.predictions)
    assert sum(map(sum, report.confusion)) == sample.readable
    assert report.no_face == ()
    for label, count in sample.support.items():
        assert report.metrics.per_class[label].support == count
        assert sum(report.confusion[report.labels.index(label)]) == count
    # the confusion matrix is square over every label in the data or the model, in canonical order
    assert report.labels == tuple(lab for lab in CANONICAL_LABELS if lab in sample.support or lab in report.model_labels)
    assert all(len(row) == len(report.labels) for row in report.confusion) and len(report.confusion) == len(report.labels)
    if "contempt" not in report.model_labels:
        # a label the model cannot predict stays, visibly: its row, recall 0, listed as unpredictable
        assert report.unpredictable_labels == ("contempt",)
        assert report.metrics.per_class["contempt"].recall == 0.0
        assert report.confusion[report.labels.index("contempt")][report.labels.index("contempt")] == 0
    assert report.accuracy == pytest.approx(sum(p.predicted == p.label for p in report.predictions) / report.n)
    data = _no_nan(report)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion", "labels", "n", "model",
                "sha256", "crop", "folder", "timing", "misses", "no_face", "unreadable", "unpredictable_labels"):
        assert key in data
    assert data["timing"]["ms_per_image"] > 0


def test_batch_size_does_not_change_predictions(sample: Sample, mini_xception) -> None:
    one = evaluate(sample.folder, emotion=mini_xception, batch=1)
    many = evaluate(sample.folder, emotion=mini_xception, batch=64)
    assert [p.predicted for p in one.predictions] == [p.predicted for p in many.predictions]
    assert [p.confidence for p in one.predictions] == pytest.approx([p.confidence for p in many.predictions], abs=1e-5)


def test_explicit_labels_file_paths_are_relative_to_it(sample: Sample, mini_xception, tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "images").mkdir()
    src = sorted((sample.folder / "anger").iterdir())[0]
    shutil.copyfile(src, tmp_path / "images" / src.name)
    csv = tmp_path / "lists" / "one.csv"
    csv.write_text(f"path,label\n../images/{src.name},anger\n")  # relative to the CSV, not to FOLDER
    report = evaluate(sample.folder, labels_csv=csv, emotion=mini_xception)
    assert report.n == 1 and not report.unreadable
    assert report.labels_csv == str(csv.resolve())


# ------------------------------------------------------------------------------------------------- detect


def test_detection_frame_enlarges_small_crops() -> None:
    small = np.full((48, 64, 3), 200, np.uint8)
    framed = detection_frame(small)
    assert framed.shape == (128, 171, 3)  # short side 48 → 128, aspect kept, no border
    assert framed.min() == 200
    big = np.zeros((256, 300, 3), np.uint8)
    assert detection_frame(big) is big


def test_detect_mode_finds_the_jaffe_faces(sample: Sample, mini_xception) -> None:
    detector = load_detector(device="cpu")
    report = evaluate(sample.folder, emotion=mini_xception, detector=detector, crop="detect")
    assert report.detector == detector.spec.id and report.crop == "detect"
    assert report.n == sample.readable
    # JAFFE is one frontal face per image: the default detector should find (nearly) all of them
    assert report.misses == len(report.no_face) <= 1
    assert sum(map(sum, report.confusion)) + report.misses == report.n
    assert sum(report.metrics.misses) == report.misses
    assert all(p.predicted is None for p in report.predictions if p.path in report.no_face)
    assert set(report.unreadable) == sample.unreadable


def test_detect_mode_on_tiny_fer_crops(tmp_path: Path, mini_xception) -> None:
    # 48x48 crops filled by the face: enlarged to 128 px and framed in black before detection
    rows = [line.split(",") for line in (FER_VAL / "labels.csv").read_text().splitlines()[1:]]
    picked = [r for r in rows if r[1] == "happiness"][:10]
    lines = ["path,label"] + [f"{(FER_VAL / p).as_posix()},{lab}" for p, lab in picked]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    report = evaluate(tmp_path, emotion=mini_xception, crop="detect", device="cpu")
    assert report.n == 10
    assert report.misses <= 3, report.no_face
    # a miss is wrong: accuracy counts it in the denominator
    assert report.accuracy == pytest.approx(sum(p.predicted == p.label for p in report.predictions) / 10)


# ------------------------------------------------------------------------------------------------- output


def test_text_report_and_confusion_png(sample: Sample, mini_xception, tmp_path: Path) -> None:
    report = evaluate(sample.folder, emotion=mini_xception)
    text = format_report(report)
    for label in report.labels:
        assert label in text
    assert "model cannot predict this label" in text  # contempt
    assert "accuracy" in text and "balanced accuracy" in text and "macro F1" in text
    assert "\n" not in summary_line(report) and f"n={report.n}" in summary_line(report)
    out = confusion_png(report, tmp_path / "confusion.png")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 600
    assert not list(tmp_path.glob(".tmp-*"))  # the atomic write left nothing behind
    assert "ECE" in text and "NLL" in text and "Brier" in text and "ECE" in summary_line(report)


def test_reliability_png_is_written(sample: Sample, mini_xception, tmp_path: Path) -> None:
    report = evaluate(sample.folder, emotion=mini_xception)
    out = reliability_png(report, tmp_path / "reliability.png")
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 500 and image.shape[1] > 500
    # the blue accuracy bars are drawn: the model got some of these images right
    blue = np.all(np.abs(image.astype(int) - (180, 120, 40)) < 8, axis=2)
    assert report.calibration.accuracy > 0 and blue.sum() > 100
