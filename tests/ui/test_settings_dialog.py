"""SettingsDialog (a form built from the settings schema) and the QSettings persistence of the settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from emodesk.core.settings import SCHEMA, Settings
from emodesk.errors import ModelError
from emodesk.inference.manifest import CLASSIFIER, DETECTOR, load_manifest
from emodesk.ui.settings_dialog import (
    DEFAULT_GRAPH_WINDOW_S,
    SettingsDialog,
    load_ui_settings,
    save_ui_settings,
)


@pytest.fixture
def dialog(qtbot) -> SettingsDialog:
    dlg = SettingsDialog(Settings(), 30.0)
    qtbot.addWidget(dlg)
    return dlg


def combo_ids(combo) -> list:
    return [combo.itemData(i) for i in range(combo.count())]


@pytest.fixture
def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "emodesk.ini"), QSettings.Format.IniFormat)


def test_lists_every_manifest_model_with_licence_and_availability(dialog):
    manifest = load_manifest()
    for chooser, kind in ((dialog.detector, DETECTOR), (dialog.emotion, CLASSIFIER)):
        ids = combo_ids(chooser.combo)
        assert ids[0] == ""  # "default: …" (None in Settings)
        assert ids[1:] == [spec.id for spec in manifest.of_kind(kind)]
        for i, spec in enumerate(manifest.of_kind(kind), start=1):
            text = chooser.combo.itemText(i)
            assert text.startswith(f"{spec.id} — {spec.licence}")
    texts = {dialog.detector.combo.itemData(i): dialog.detector.combo.itemText(i) for i in range(1, dialog.detector.combo.count())}
    # yunet_n is in ../shared/models; scrfd_10g is download-only and not there
    assert "(missing)" not in texts["yunet_n"]
    assert texts["scrfd_10g"].endswith("(missing)")


def test_licence_label_follows_the_selection(dialog):
    chooser = dialog.detector
    assert "Apache-2.0" in chooser.licence_label.text()  # the default, yunet_n
    chooser.combo.setCurrentIndex(chooser.combo.findData("scrfd_2.5g"))
    label = chooser.licence_label.text()
    assert "non-commercial" in label and "#dc322f" in label  # in red
    assert chooser.description_label.text() == load_manifest().get("scrfd_2.5g").description

    emotion = dialog.emotion
    emotion.combo.setCurrentIndex(emotion.combo.findData("mini_xception"))
    assert "MIT" in emotion.licence_label.text()
    assert "mini-Xception" in emotion.description_label.text()


def test_threshold_default_shows_the_detectors_threshold(dialog):
    assert dialog.threshold.text() == "model default (0.6)"
    dialog.detector.combo.setCurrentIndex(dialog.detector.combo.findData("scrfd_500m"))
    assert dialog.threshold.text() == "model default (0.5)"


@pytest.mark.parametrize(
    "settings, window",
    [
        (Settings(), DEFAULT_GRAPH_WINDOW_S),
        (
            Settings(
                detector="scrfd_2.5g",
                emotion="mini_xception",
                device="cpu",
                threshold=0.45,
                max_faces=3,
                det_size=(320, 256),
                detect_every=4,
                smoothing=1.5,
                track_max_age_s=2.0,
                shot_cuts=False,
                threads=2,
            ),
            120.0,
        ),
        (Settings(smoothing=0.0, device="cuda", threshold=0.95), 600.0),
    ],
)
def test_values_round_trip(qtbot, settings, window):
    dlg = SettingsDialog(settings, window)
    qtbot.addWidget(dlg)
    assert dlg.values() == (settings, window)


def test_edits_reach_values(dialog):
    dialog.emotion.combo.setCurrentIndex(dialog.emotion.combo.findData("fer_mobilefacenet"))
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.threshold.setValue(0.7)
    dialog.smoothing.setValue(0.0)
    dialog.detect_every.setValue(3)
    dialog.max_faces.setValue(2)
    dialog.graph_window_s.setValue(60)
    dialog.det_size.setCurrentText("320x256")
    dialog.shot_cuts.setChecked(False)
    dialog.sample_fps.setValue(4)
    settings, window = dialog.values()
    assert settings == Settings(
        emotion="fer_mobilefacenet", device="cpu", threshold=0.7, smoothing=0.0, detect_every=3, max_faces=2,
        det_size=(320, 256), shot_cuts=False, sample_fps=4.0,
    )
    assert window == 60.0
    dialog.threshold.setValue(0.0)  # the special value below the range: the model's default
    assert dialog.values()[0].threshold is None
    dialog.threshold.setValue(0.01)  # the schema's lowest threshold is reachable
    assert dialog.values()[0].threshold == 0.01
    dialog.restore_defaults()
    assert dialog.values() == (Settings(), DEFAULT_GRAPH_WINDOW_S)


def test_save_load_round_trip(ini, tmp_path):
    settings = Settings(
        detector="yunet_s", emotion="hsemotion_enet_b0_8_afew", device="cpu", threshold=0.3, max_faces=5,
        det_size=(640, 480), detect_every=2, smoothing=0.75, track_max_age_s=1.5, shot_cuts=False, threads=4,
    )
    save_ui_settings(ini, settings, 90.0)
    again = QSettings(str(tmp_path / "emodesk.ini"), QSettings.Format.IniFormat)
    assert again.value("analysis/detector") == "yunet_s"
    assert load_ui_settings(again) == (settings, 90.0)

    save_ui_settings(ini, Settings(), 30.0)  # None values survive too
    assert load_ui_settings(QSettings(str(tmp_path / "emodesk.ini"), QSettings.Format.IniFormat)) == (Settings(), 30.0)


def test_empty_settings_give_defaults(ini):
    assert load_ui_settings(ini) == (Settings(), DEFAULT_GRAPH_WINDOW_S)


def test_corrupt_values_fall_back_with_a_warning(tmp_path, caplog):
    path = tmp_path / "corrupt.ini"
    path.write_text(
        "[analysis]\n"
        "detector=no_such_model\n"
        "emotion=yunet_n\n"  # a detector is not an emotion model
        "device=quantum\n"
        "threshold=abc\n"
        "max_faces=-3\n"
        "detect_every=0\n"
        "smoothing=nan\n"
        "det_size=12x12\n"
        "track_max_age_s=0\n"
        "shot_cuts=maybe\n"
        "threads=lots\n"
        "graph_window_s=1e9\n",
        encoding="utf-8",
    )
    qs = QSettings(str(path), QSettings.Format.IniFormat)
    with caplog.at_level(logging.WARNING, logger="emodesk.ui.settings_store"):
        assert load_ui_settings(qs) == (Settings(), DEFAULT_GRAPH_WINDOW_S)
    assert "threshold" in caplog.text and "no_such_model" in caplog.text
    assert len(caplog.records) == 12


def test_good_values_survive_beside_bad_ones(tmp_path):
    path = tmp_path / "mixed.ini"
    path.write_text("[analysis]\nthreshold=abc\nsmoothing=1.25\ndetector=scrfd_500m\ngraph_window_s=45\n", encoding="utf-8")
    settings, window = load_ui_settings(QSettings(str(path), QSettings.Format.IniFormat))
    assert settings == Settings(smoothing=1.25, detector="scrfd_500m")
    assert window == 45.0


def test_garbage_file_does_not_crash(tmp_path):
    path = tmp_path / "garbage.ini"
    path.write_bytes(b"\x00\xff\xfe[[[analysis\n=\n\x89PNG\r\n")
    assert load_ui_settings(QSettings(str(path), QSettings.Format.IniFormat)) == (Settings(), DEFAULT_GRAPH_WINDOW_S)


def test_a_stale_model_id_never_reaches_the_dialog(tmp_path):
    # Settings checks model ids against the manifest, so the dialog only ever sees known ones
    with pytest.raises(ModelError, match="unknown model 'gone_model'"):
        Settings(detector="gone_model")
    path = tmp_path / "stale.ini"
    path.write_text("[analysis]\ndetector=gone_model\n", encoding="utf-8")
    assert load_ui_settings(QSettings(str(path), QSettings.Format.IniFormat))[0].detector is None


def test_the_form_has_one_row_per_schema_entry_with_its_help(dialog):
    assert list(dialog.fields) == [spec.name for spec in SCHEMA] + ["graph_window_s"]
    for spec in SCHEMA:
        assert dialog.fields[spec.name].widget.toolTip() == spec.help
    # ranges come from the schema: the spin boxes stop where Settings stops
    smoothing = next(s for s in SCHEMA if s.name == "smoothing")
    assert dialog.smoothing.maximum() == smoothing.maximum
    max_faces = next(s for s in SCHEMA if s.name == "max_faces")
    assert dialog.max_faces.maximum() == max_faces.maximum and dialog.max_faces.text() == "all"
    # choices come from the schema too, with what they mean
    assert [dialog.device.itemData(i) for i in range(dialog.device.count())] == list(next(s for s in SCHEMA if s.name == "device").choices)
    assert "CUDA" in dialog.device.itemText(dialog.device.findData("auto"))


@pytest.mark.parametrize("typed", ["100x77", "0x0", "100000x100000", "big"])
def test_a_size_the_schema_refuses_keeps_the_dialog_open(dialog, typed):
    dialog.det_size.setCurrentText(typed)
    with pytest.raises(ValueError, match="Detector input size"):
        dialog.values()
    dialog.accept()
    assert dialog.result() != dialog.DialogCode.Accepted
    assert dialog.error_label.isVisibleTo(dialog) and "Detector input size" in dialog.error_label.text()
    dialog.det_size.setCurrentText("640x480")
    dialog.accept()
    assert dialog.result() == dialog.DialogCode.Accepted and dialog.values()[0].det_size == (640, 480)


@pytest.mark.parametrize("emotion", [None, "hsemotion_enet_b2_8", "mini_xception"])
def test_model_notes_do_not_overlap(qtbot, emotion):
    # the licence line and the wrapped description used to be drawn over each other (issue 8)
    dlg = SettingsDialog(Settings(emotion=emotion), 30.0)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    labels = [label for chooser in (dlg.detector, dlg.emotion) for label in chooser.notes()]

    def fits() -> bool:  # every wrapped line gets the height its text needs at its width
        return all(label.height() >= label.heightForWidth(label.width()) for label in labels)

    qtbot.waitUntil(fits, timeout=3000)  # the dialog grows once it is shown and knows its width
    for chooser in (dlg.detector, dlg.emotion):
        licence, description = chooser.notes()
        assert licence.geometry().bottom() < description.geometry().top()
    assert dlg.emotion.notes()[1].geometry().bottom() < dlg.device.geometry().top()
