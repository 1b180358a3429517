"""Wheel build hook: what of models/ goes into the wheel as emodesk/_models.

models/ holds more than the package needs at run time: the training recipe and, on a trainer's machine,
gitignored training runs and caches (hatch's force-include copies a folder whole, ignores included). The
wheel gets the manifest, the top-level notes and records (*.md, *.json) and the weights of this project's
own models, named by the manifest entries that carry a model card; third-party weights are never shipped
(they are resolved at run time), even if someone keeps a copy in models/.
"""

from __future__ import annotations

import json
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ModelFilesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if version == "editable":  # an editable install reads the checkout's models/ directly
            return
        models = Path(self.root) / "models"
        manifest = json.loads((models / "manifest.json").read_text(encoding="utf-8"))
        names = {p.name for p in models.iterdir() if p.is_file() and p.suffix in (".md", ".json")}
        for entry in manifest.get("models", ()):
            if entry.get("card"):  # the project's own models come with a card; third-party ones do not
                names.add(entry["file"])
        for name in sorted(names):
            if (models / name).is_file():
                build_data["force_include"][str(models / name)] = f"emodesk/_models/{name}"
