"""`pip install .` (a wheel, not editable) into a fresh venv: the installed package finds its manifest, its
session schema and the project's own weights from any folder, and carries nothing else of models/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import REPO, SHARED, VIDEOS

sys.path.insert(0, str(REPO / "scripts"))
import installer_support as support

MANIFEST = json.loads((REPO / "models" / "manifest.json").read_text(encoding="utf-8"))
pytestmark = pytest.mark.slow  # builds the wheel and installs it into a fresh virtual environment


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("wheel")
    # dependencies come from this venv (offline); emodesk itself only from the wheel (see install_wheel_venv)
    python = support.install_wheel_venv(root / "venv", deps_from=Path(sysconfig.get_paths()["purelib"]))
    wheel = next((root / "venv-wheel").glob("emodesk-*.whl"))
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "PYTHON"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        EMODESK_OFFLINE="1",
        # third-party weights (the YuNet detector) are never in the wheel: a user downloads them once
        EMODESK_MODEL_DIR=str(SHARED / "models"),
    )
    elsewhere = root / "elsewhere"  # not the checkout: nothing may be read from models/ or resources/ there
    elsewhere.mkdir()
    return {"python": python, "exe": python.parent / "emodesk", "wheel": wheel, "env": env, "cwd": elsewhere}


def run(installed: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], check=False, capture_output=True, text=True, timeout=600, cwd=installed["cwd"], env=installed["env"]
    )


def test_the_wheel_holds_manifest_schema_and_own_weights_only(installed: dict) -> None:
    names = set(zipfile.ZipFile(installed["wheel"]).namelist())
    assert "emodesk/_models/manifest.json" in names
    assert "emodesk/_resources/session.schema.json" in names
    assert "emodesk/_resources/emodesk.desktop" in names
    own = [m for m in MANIFEST["models"] if m.get("card")]
    assert own, "the manifest names no model of this project's own"
    for model in own:
        assert f"emodesk/_models/{model['file']}" in names, model["id"]
        assert f"emodesk/_models/{model['card']}" in names, model["id"]
    third_party = {m["file"] for m in MANIFEST["models"] if not m.get("card")}
    assert not {n.rsplit("/", 1)[-1] for n in names} & third_party, "third-party weights in the wheel"
    assert not [n for n in names if n.startswith("emodesk/_models/training")], "training recipe or runs in the wheel"


def test_installed_emodesk_is_the_wheel_not_the_checkout(installed: dict) -> None:
    out = run(installed, installed["python"], "-c", "import emodesk; print(emodesk.__file__)")
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip()).resolve()
    assert path.is_relative_to(installed["python"].parent.parent.resolve()), path
    assert not path.is_relative_to(REPO.resolve()), path


def test_analyze_from_another_folder_uses_the_wheels_manifest_schema_and_weights(installed: dict) -> None:
    out_dir = installed["cwd"] / "sessions"
    clip = VIDEOS / "liveportrait_d19.mp4"
    proc = run(installed, installed["exe"], "analyze", clip, "--out", out_dir, "--max-frames", "8", "--quiet")
    assert proc.returncode == 0, proc.stderr
    session = json.loads((out_dir / "liveportrait_d19.session.json").read_text(encoding="utf-8"))

    listing = run(installed, installed["exe"], "models", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    rows = {row["id"]: row for row in json.loads(listing.stdout)}
    site = installed["python"].parent.parent.resolve()
    # the default emotion model is one of ours: found inside the installed package, not in EMODESK_MODEL_DIR
    emotion = next(m for m in MANIFEST["models"] if m["kind"] == "emotion_classifier" and m["default"])
    assert emotion.get("card"), "the default emotion model is expected to be this project's own"
    assert Path(rows[emotion["id"]]["path"]).resolve().is_relative_to(site), rows[emotion["id"]]["path"]
    assert emotion["id"] in {m["id"] for m in session["models"]}

    # the schema shipped in the wheel validates what the installed app wrote
    where = run(installed, installed["python"], "-c", "import emodesk; print(emodesk.__file__)").stdout.strip()
    schema = json.loads((Path(where).parent / "_resources" / "session.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(session)
    assert session["frames"] and any(frame["faces"] for frame in session["frames"])
