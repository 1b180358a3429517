"""``emodesk eval`` as a user runs it: report JSON, confusion PNG, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from emodesk.inference.manifest import load_manifest, parse_manifest
from tests.conftest import REPO
from tests.core.test_evaluate import Sample, make_jaffe_sample


def emodesk(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "emodesk", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ.copy())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("emodesk: error:")]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    return make_jaffe_sample(tmp_path_factory.mktemp("jaffe_sample"))


def test_eval_writes_the_report_and_the_png(sample: Sample, tmp_path: Path) -> None:
    out, png = tmp_path / "report.json", tmp_path / "confusion.png"
    run = emodesk("eval", sample.folder, "--emotion", "mini_xception", "--device", "cpu", "--out", out,
                  "--confusion-png", png, "--batch", "5")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    data = json.loads(out.read_text())
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "per_class", "confusion", "labels", "n"):
        assert key in data
    assert data["n"] == sample.readable
    assert sum(map(sum, data["confusion"])) == sample.readable
    assert sorted(data["unreadable"]) == sorted(sample.unreadable)
    assert data["unpredictable_labels"] == ["contempt"]
    assert data["model"] == "mini_xception" and data["crop"] == "whole"
    # one warning line counts (and names) the unreadable images
    warnings = [line for line in run.stderr.splitlines() if line.startswith("emodesk: warning:")]
    assert len(warnings) == 1 and "3 image(s) could not be read" in warnings[0]
    assert "confusion matrix" in run.stdout and "balanced accuracy" in run.stdout
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 400


def test_eval_quiet_prints_one_line(sample: Sample) -> None:
    run = emodesk("eval", sample.folder, "--emotion", "mini_xception", "--device", "cpu", "--quiet")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1 and "accuracy" in lines[0] and f"n={sample.readable}" in lines[0]


def test_eval_detect_mode(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "detect.json"
    run = emodesk("eval", sample.folder, "--crop", "detect", "--device", "cpu", "--out", out, "--quiet")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert data["crop"] == "detect" and data["detector"]
    assert sum(map(sum, data["confusion"])) + data["misses"] == data["n"] == sample.readable
    assert len(data["no_face"]) == data["misses"]


def test_missing_folder_is_one_line_exit_1(tmp_path: Path) -> None:
    run = emodesk("eval", tmp_path / "nope", "--device", "cpu")
    assert run.returncode == 1
    assert len(error_lines(run.stderr)) == 1 and "no such folder" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_labels_file_is_one_line_exit_1(tmp_path: Path) -> None:
    run = emodesk("eval", tmp_path, "--device", "cpu")
    assert run.returncode == 1
    assert len(error_lines(run.stderr)) == 1 and "labels.csv" in run.stderr


def test_unknown_model_is_exit_1(sample: Sample) -> None:
    run = emodesk("eval", sample.folder, "--emotion", "no_such_model", "--device", "cpu")
    assert run.returncode == 1
    assert len(error_lines(run.stderr)) == 1 and "no_such_model" in run.stderr


def test_unknown_label_is_a_usage_error_naming_the_line(sample: Sample, tmp_path: Path) -> None:
    csv = tmp_path / "labels.csv"
    first = sorted((sample.folder / "anger").iterdir())[0]
    csv.write_text(f"path,label\n{first},anger\n{first.with_name('x.tiff')},grumpy\n")
    run = emodesk("eval", sample.folder, "--labels", csv, "--device", "cpu")
    assert run.returncode == 2
    lines = error_lines(run.stderr)
    assert len(lines) == 1 and "line 3" in lines[0] and "grumpy" in lines[0]
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("bad", [["--batch", "0"], ["--crop", "faces"], ["--device", "tpu"]])
def test_bad_options_are_usage_errors(sample: Sample, bad: list[str]) -> None:
    run = emodesk("eval", sample.folder, *bad)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1


def test_output_folder_must_exist(sample: Sample, tmp_path: Path) -> None:
    run = emodesk("eval", sample.folder, "--out", tmp_path / "no" / "r.json", "--emotion", "mini_xception")
    assert run.returncode == 1 and len(error_lines(run.stderr)) == 1


def test_eval_reports_calibration_and_draws_the_reliability_diagram(sample: Sample, tmp_path: Path) -> None:
    out, png = tmp_path / "report.json", tmp_path / "reliability.png"
    run = emodesk("eval", sample.folder, "--emotion", "mini_xception", "--device", "cpu", "--out", out,
                  "--reliability-png", png, "-q")
    assert run.returncode == 0, run.stderr
    data = json.loads(out.read_text())
    assert {"ece", "nll", "brier"} <= set(data)
    assert 0 <= data["ece"] <= 1 and data["nll"] > 0 and 0 <= data["brier"] <= 2
    assert data["temperature"] == load_manifest().get("mini_xception").temperature
    assert data["calibration"]["n"] == sample.readable - 1  # the contempt image has no label the model has
    assert "ECE" in run.stdout
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 500
    uncalibrated = emodesk("eval", sample.folder, "--emotion", "mini_xception", "--device", "cpu", "--out",
                           tmp_path / "raw.json", "--uncalibrated", "-q")
    assert uncalibrated.returncode == 0, uncalibrated.stderr
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["temperature"] is None and raw["accuracy"] == data["accuracy"] and raw["nll"] != data["nll"]


def test_models_calibrate_fits_and_writes_only_where_told(sample: Sample, tmp_path: Path) -> None:
    manifest = REPO / "models" / "manifest.json"
    before = manifest.read_bytes()
    dry = emodesk("models", "calibrate", "mini_xception", "--data", sample.folder, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "temperature" in dry.stdout and "T = 1" in dry.stdout and "ECE" in dry.stdout
    assert manifest.read_bytes() == before
    copy = tmp_path / "manifest.json"
    copy.write_bytes(before)
    run = emodesk("models", "calibrate", "mini_xception", "--data", sample.folder, "--manifest", copy)
    assert run.returncode == 0, run.stderr
    fitted = parse_manifest(copy).get("mini_xception").temperature
    assert fitted is not None and fitted > 0 and f"wrote temperature {fitted}" in run.stdout
    assert manifest.read_bytes() == before
    assert emodesk("models", "calibrate", "yunet_n", "--data", sample.folder).returncode == 1
