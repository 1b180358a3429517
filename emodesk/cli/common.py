"""What every ``emodesk`` command shares: the one-line usage-error parser, the argument types, and the
options of the analysis settings (built from ``emodesk.core.settings.SCHEMA``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emodesk.core.settings import Settings, SettingSpec

EXAMPLES = """\
examples:
  emodesk                                             open the desktop window
  emodesk clip.mp4                                    open the window and analyse clip.mp4
  emodesk analyze clip.mp4 --out sessions/           one video → sessions/clip.session.json
  emodesk analyze a.mp4 b.mov photos/ --out out/      several inputs; a folder of images is one session
  emodesk analyze 0 --duration 30 --out live/         30 s from camera 0 (live mode: drops frames, never lags)
  emodesk analyze clip.mp4 --detector scrfd_2.5g --emotion mini_xception --device cpu
  emodesk analyze clip.mp4 --detect-every 3 --smoothing 0.5 --threshold 0.7
  emodesk models list                                 every known model, its licence and where it is
  emodesk models download scrfd_10g                   fetch a download-only model (sha256 checked)
  emodesk models bench                                ms per face of each emotion model at batch 1 and 8
  emodesk eval faces/ --emotion mini_xception         accuracy, F1, confusion matrix on labelled faces
  emodesk analyze clip.mp4 --pdf --csv --out out/     the session plus a PDF report and a per-frame CSV
  emodesk export out/clip.session.json --video        an annotated video of a saved session
  emodesk recover ~/.local/share/emodesk/recovery/    sessions from the journals of runs that did not finish
  emodesk bench clip.mp4                              speed per stage, against decoding alone

models are looked for in $EMODESK_MODEL_DIR, the project's models/ folder, then the per-user data folder;
missing ones are downloaded unless --offline or EMODESK_OFFLINE=1.
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"emodesk: usage error: {message} (see emodesk --help)\n")


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of 0 or more")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def add_setting_options(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    """Add ``--detector``, ``--smoothing`` … for the settings ``names`` (default: every setting), with the
    schema's help, default and range; a value the schema rejects is a one-line usage error (exit 2).
    Model ids are checked when ``Settings`` is built, like any model failure (exit 1, known ids listed)."""
    from emodesk.core.settings import BOOL, CHOICE, SCHEMA, SCHEMA_BY_NAME

    for spec in [SCHEMA_BY_NAME[n] for n in names] if names is not None else SCHEMA:
        if spec.kind == BOOL:
            parser.add_argument(
                spec.flag, action=argparse.BooleanOptionalAction, default=spec.default, help=_setting_help(spec)
            )
        elif spec.kind == CHOICE:
            parser.add_argument(
                spec.flag, type=str.lower, choices=spec.choices, default=spec.default, help=_setting_help(spec)
            )
        else:
            parser.add_argument(
                spec.flag, type=_setting_type(spec), default=spec.default, metavar=spec.metavar, help=_setting_help(spec)
            )


def settings_from_args(args: argparse.Namespace, names: Sequence[str] | None = None) -> Settings:
    """The ``Settings`` that the options added by :func:`add_setting_options` ask for."""
    from emodesk.core.settings import SCHEMA, Settings

    names = names if names is not None else [spec.name for spec in SCHEMA]
    return Settings(**{name: getattr(args, name) for name in names})


def _setting_help(spec: SettingSpec) -> str:
    default = spec.none_text if spec.default is None else spec.format(spec.default)
    if spec.kind == "size":
        default += f"; multiples of {spec.multiple_of} from {spec.minimum:g} to {spec.maximum:g}"
    elif spec.kind in ("int", "float"):
        default += f"; {spec.allowed()}"
    elif spec.kind == "model" and spec.model_choices():
        from emodesk.errors import EmodeskError
        from emodesk.inference.manifest import load_manifest

        try:
            default = f"{load_manifest().default(spec.model_kind or '').id}, {default}"
        except EmodeskError:  # no default in the manifest: said when a model is loaded
            pass
        default += f"; {spec.allowed()}"
    return f"{spec.help} (default: {default})".replace("%", "%%")


def _setting_type(spec: SettingSpec) -> Callable[[str], Any]:
    from emodesk.core.settings import MODEL

    def parse(text: str) -> Any:
        if spec.kind == MODEL:
            return text.strip()  # checked by Settings against the manifest (a model failure, exit 1)
        try:
            return spec.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    parse.__name__ = spec.name  # argparse names the type in some messages
    return parse


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="emodesk: %(levelname)s: %(message)s", stream=sys.stderr)
