"""`emodesk bench` runs on a few frames of a real clip and prints every figure it promises (no speed is
asserted: these machines are shared and noisy)."""

from __future__ import annotations

import json
import sys

import pytest

from emodesk.cli import main
from tests.conftest import TEST_IMAGES, VIDEOS

CLIP = VIDEOS / "liveportrait_d19.mp4"


def _bench(*options: str) -> int:
    return main(["bench", str(CLIP), "--device", "cpu", *options])


def test_bench_prints_each_figure(capsys: pytest.CaptureFixture) -> None:
    rc = _bench("--frames", "8", "--live", "--live-seconds", "1")
    out = capsys.readouterr().out
    assert rc == 0
    for label in (
        "decode only",
        "detection only",
        "classification",
        "ms/face",
        "x decode-only",
        "pipeline sequential",
        "time per stage",
        "slowest thread",
        "peak RSS",
        "live 640x480",
        "p95",
        "dropped",
        "intra-op thread",
    ):
        assert label in out, label


def test_bench_json_relations_and_a_missing_fer(
    capsys: pytest.CaptureFixture, tmp_path
) -> None:
    no_fer = tmp_path / "python-without-fer"
    no_fer.write_text(f'#!/bin/sh\nexec {sys.executable} -I -S "$@"\n')
    no_fer.chmod(0o755)
    rc = _bench("--frames", "6", "--json", "--vs-fer", "--fer-python", str(no_fer))
    [fig] = json.loads(capsys.readouterr().out)
    assert rc == 0 and fig["frames"] == 6 and fig["width"] == 480
    assert (
        fig["decode_fps"] > 0 and fig["pipeline_fps"] > 0 and fig["sequential_fps"] > 0
    )
    assert fig["decode_ratio"] == pytest.approx(fig["pipeline_fps"] / fig["decode_fps"])
    assert sum(fig["stage_share"].values()) == pytest.approx(1.0)
    assert 0 < fig["slowest_stage_ms"] <= sum(fig["stage_ms"].values())
    assert (
        fig["faces_per_frame"] == pytest.approx(1.0) and fig["classify_ms_per_face"] > 0
    )
    assert fig["runtime"]["spinning"] is False and fig["peak_rss_mb"] > 0
    assert fig["fer"] is None and any(
        "fer" in n and "not installed" in n for n in fig["notes"]
    )


def test_bench_refuses_a_still_with_one_line(capsys: pytest.CaptureFixture) -> None:
    rc = main(
        [
            "bench",
            str(TEST_IMAGES / "single_smile.jpg"),
            "--device",
            "cpu",
            "--frames",
            "2",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "not a video file" in err
