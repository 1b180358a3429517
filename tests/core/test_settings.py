"""The settings schema: one description of every setting drives Settings, the CLI and the dialog's store."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import pytest

from emodesk.cli import main
from emodesk.cli.common import Parser, add_setting_options, settings_from_args
from emodesk.core.settings import MODEL, SCHEMA, SCHEMA_BY_NAME, Settings, parse_setting
from emodesk.errors import ModelError, SettingError
from emodesk.inference.manifest import CLASSIFIER, DETECTOR, load_manifest
from tests.conftest import VIDEOS


def test_schema_describes_every_field_with_the_same_default() -> None:
    assert sorted(f.name for f in dataclasses.fields(Settings)) == sorted(SCHEMA_BY_NAME)
    for f in dataclasses.fields(Settings):
        spec = SCHEMA_BY_NAME[f.name]
        assert f.default == spec.default, f.name
        assert spec.help and spec.label and spec.group
        if spec.default is not None:
            spec.check(spec.default)
    Settings()  # the defaults are valid together


def test_model_choices_come_from_the_manifest() -> None:
    manifest = load_manifest()
    assert SCHEMA_BY_NAME["detector"].model_choices() == tuple(s.id for s in manifest.of_kind(DETECTOR))
    assert SCHEMA_BY_NAME["emotion"].model_choices() == tuple(s.id for s in manifest.of_kind(CLASSIFIER))
    with pytest.raises(ModelError, match="unknown model 'nope'.*fer_mobilefacenet_int8"):
        Settings(emotion="nope")
    with pytest.raises(ModelError, match="'yunet_n' is a face detector, not an emotion model"):
        Settings(emotion="yunet_n")


# (setting, text) pairs: the issue's rows and their neighbours at every bound
CASES = [
    ("smoothing", "nan"), ("smoothing", "inf"), ("smoothing", "-0.1"), ("smoothing", "0"), ("smoothing", "60"),
    ("smoothing", "60.5"), ("det_size", "100000x100000"), ("det_size", "0x0"), ("det_size", "100x77"),
    ("det_size", "32x32"), ("det_size", "640x480"), ("det_size", "4096x4096"), ("det_size", "4128x32"),
    ("det_size", "640"), ("max_faces", "-1"), ("max_faces", "0"), ("max_faces", "2.5"), ("max_faces", "1000"),
    ("threshold", "0"), ("threshold", "0.01"), ("threshold", "0.99"), ("threshold", "1"), ("threshold", "nan"),
    ("detect_every", "0"), ("detect_every", "1"), ("track_max_age_s", "0"), ("track_max_age_s", "0.5"),
    ("sample_fps", "0"), ("sample_fps", "4"), ("sample_fps", "inf"), ("threads", "0"), ("threads", "2"),
    ("device", "cpu"), ("device", "tpu"), ("shot_cuts", "maybe"), ("shot_cuts", "false"),
]


def _cli_accepts(name: str, text: str) -> bool:
    parser = Parser(prog="t")
    add_setting_options(parser, [name])
    spec = SCHEMA_BY_NAME[name]
    argv = [spec.flag, text]
    if spec.kind == "bool":  # a --flag/--no-flag pair: it cannot spell anything but true and false
        if text not in ("true", "false"):
            return False
        argv = [spec.flag if text == "true" else f"--no-{spec.flag[2:]}"]
    try:
        args = parser.parse_args(argv)
    except SystemExit:
        return False
    return getattr(args, name) == parse_setting(name, text)


def _parse_accepts(name: str, text: str) -> bool:
    try:
        parse_setting(name, text)
    except ValueError:
        return False
    return True


def _settings_accept(name: str, text: str) -> bool:
    spec = SCHEMA_BY_NAME[name]
    try:
        value = spec._convert(text)
    except ValueError:
        return False
    try:
        Settings(**{name: value})
    except SettingError:
        return False
    return True


@pytest.mark.parametrize("name, text", CASES)
def test_a_value_is_valid_or_invalid_the_same_way_everywhere(name: str, text: str) -> None:
    # the dialog's store reads QSettings with parse_setting, the CLI with add_setting_options' types
    verdicts = {"cli": _cli_accepts(name, text), "parse": _parse_accepts(name, text), "Settings": _settings_accept(name, text)}
    assert len(set(verdicts.values())) == 1, verdicts


def test_the_issue_rows_are_refused_by_settings_with_the_allowed_range() -> None:
    with pytest.raises(SettingError, match="smoothing nan: not a finite number"):
        Settings(smoothing=math.nan)
    with pytest.raises(SettingError, match="smoothing inf"):
        Settings(smoothing=math.inf)
    with pytest.raises(SettingError, match="from 32 to 4096"):
        Settings(det_size=(100000, 100000))
    with pytest.raises(SettingError, match="from 32 to 4096"):
        Settings(det_size=(0, 0))
    with pytest.raises(SettingError, match="multiple of 32.*try 128x96"):
        Settings(det_size=(100, 77))
    with pytest.raises(SettingError, match="max_faces -1: out of range.*0 = all"):
        Settings(max_faces=-1)
    with pytest.raises(SettingError):
        Settings(smoothing="0.5")  # text is parsed by parse_setting, never silently by Settings


def test_settings_normalise_near_types_and_serialise_without_nan() -> None:
    s = Settings(det_size=[320, 256], max_faces=2.0, smoothing=1, sample_fps=4)
    assert s.det_size == (320, 256) and type(s.max_faces) is int and type(s.smoothing) is float
    text = json.dumps(s.to_json(), allow_nan=False)
    assert json.loads(text)["det_size"] == [320, 256]


@pytest.mark.parametrize(
    "option",
    [["--smoothing", "nan"], ["--smoothing", "inf"], ["--det-size", "100000x100000"], ["--det-size", "0x0"],
     ["--det-size", "100x77"], ["--max-faces", "-1"]],
)
def test_cli_refuses_bad_values_before_any_work(option: list[str], tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(out), *option])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("emodesk: usage error: argument " + option[0])
    if option[0] == "--det-size":
        assert "multiple of 32" in err and ("from 32 to 4096" in err or "try 128x96" in err)
    assert not out.exists()  # nothing started: no folder, no session


def test_cli_options_are_built_from_the_schema() -> None:
    parser = Parser(prog="t")
    add_setting_options(parser)
    flags = {a.dest: a for a in parser._actions if a.dest != "help"}
    assert set(flags) == set(SCHEMA_BY_NAME)
    for spec in SCHEMA:
        assert spec.help in flags[spec.name].help
        assert flags[spec.name].default == spec.default
    assert settings_from_args(parser.parse_args([])) == Settings()
    args = parser.parse_args(["--det-size", "320x320", "--no-shot-cuts", "--emotion", "mini_xception", "--device", "CPU"])
    assert settings_from_args(args) == Settings(det_size=(320, 320), shot_cuts=False, emotion="mini_xception", device="cpu")


def test_eval_offers_every_device() -> None:
    from emodesk.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    device = next(a for a in sub.choices["eval"]._actions if a.dest == "device")
    assert tuple(device.choices) == SCHEMA_BY_NAME["device"].choices


def test_an_unknown_model_on_the_command_line_is_one_line_exit_1(tmp_path: Path, capsys) -> None:
    code = main(["analyze", str(VIDEOS / "liveportrait_d19.mp4"), "--out", str(tmp_path / "o"), "--detector", "nope"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "unknown model 'nope'" in err and "yunet_n" in err


def test_model_settings_are_model_kind() -> None:
    assert {s.name for s in SCHEMA if s.kind == MODEL} == {"detector", "emotion"}
