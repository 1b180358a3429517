"""The GUI's session store exports exactly what the CLI's session path would."""

from __future__ import annotations

from pathlib import Path

from emodesk.core.export import write_frames_csv
from emodesk.core.live_session import SessionStore
from emodesk.core.pipeline import Pipeline
from emodesk.core.session import load_session
from emodesk.core.settings import Settings
from emodesk.core.sources import open_source
from tests.conftest import VIDEOS


def test_csv_export_equals_the_csv_of_the_exported_session(tmp_path: Path) -> None:
    pipe = Pipeline(Settings(device="cpu"))
    source = open_source(VIDEOS / "liveportrait_d19.mp4")
    store = SessionStore(source.info, models=pipe.models, settings=pipe.settings, labels=pipe.labels, journal_dir=tmp_path)
    for result in pipe.run(source):
        store.add(result)
        if result.index == 40:
            break
    assert store.has_unsaved
    direct = store.export_csv(tmp_path / "direct.csv")
    assert not store.has_unsaved  # a CSV export counts as exported
    via_json = write_frames_csv(load_session(store.export_json(tmp_path / "s.session.json")), tmp_path / "via.csv")
    assert direct.read_text() == via_json.read_text()
    assert direct.read_text().count("\n") == 1 + 41
    store.close()
    assert not list(tmp_path.glob("*.journal.jsonl"))
