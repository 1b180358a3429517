"""README's "Command line" part names every option each command's --help has (they drifted apart once)."""

from __future__ import annotations

import argparse

import pytest

from emodesk.cli import build_parser
from tests.conftest import REPO


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["analyze", "export", "eval", "recover", "bench"])
def test_readme_command_line_names_every_option(command: str) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    # the command-line reference and the batch section after it (--cluster and friends)
    section = text[text.index("## Command line") : text.index("## Session files")]
    parser = _subparsers(build_parser())[command]
    options = {s for a in parser._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
    # a --no-X negation is documented with its --X
    missing = sorted(o for o in options if o not in section and not (o.startswith("--no-") and "--" + o[5:] in section))
    assert not missing, f"README's Command line section does not name these `emodesk {command}` options: {missing}"
    assert f"emodesk {command}" in section


def test_readme_names_every_models_action() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("emodesk models "))
    actions = _subparsers(_subparsers(build_parser())["models"])
    assert [a for a in actions if a not in line] == []
