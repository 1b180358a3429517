"""The ``emodesk`` command: the desktop window (default), ``analyze`` for batch analysis, ``export`` (reports,
CSV, annotated video of a saved session), ``recover`` (sessions from journals of unfinished runs), ``eval``,
``models`` and ``bench`` (speed figures).

Each command lives in its own module with ``register(subparsers)``, which adds its parser and sets
``handler``; ``main`` only dispatches. Exit status: 0 when everything asked for succeeded, 1 when any
input or model failed (each with one line on stderr; the other inputs are still processed), 2 for usage
errors (a bad option or setting value, an unknown command), 130 after Ctrl+C and 143 (128 + SIGTERM)
after SIGTERM from ``timeout``, ``kill`` or a job scheduler (either way the sessions analysed so far are
written). ``analyse`` is accepted for ``analyze``.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from emodesk import __version__
from emodesk.cli import analyze, bench, eval, export, gui, models, recover
from emodesk.cli.common import EXAMPLES, Parser, configure_logging
from emodesk.errors import EmodeskError, SettingError

# other spellings of a command (README prose says "analyse")
_ALIASES = {"analyse": "analyze"}

# order of `emodesk --help`; each module registers one command
_COMMAND_MODULES = (analyze, export, recover, gui, eval, models, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="emodesk",
        description="Facial-emotion analysis of webcam video, video files and photos.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emodesk {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if argv and argv[0] in _ALIASES:
        argv[0] = _ALIASES[argv[0]]
    # `emodesk` opens the window; `emodesk FILE` opens it on FILE (a file is not a command name)
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        if argv and not Path(argv[0]).exists():
            close = difflib.get_close_matches(argv[0], [*commands, *_ALIASES], n=1, cutoff=0.75)
            if close:  # a mistyped command, not a file to open in the window
                parser.error(f"unknown command {argv[0]!r}; did you mean {_ALIASES.get(close[0], close[0])!r}?")
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    handler = getattr(args, "handler", None)
    if handler is None:  # options alone, e.g. `emodesk -v`
        parser.print_help()
        return 0
    try:
        return handler(args)
    except SettingError as exc:  # a value the settings schema rejects, found after parsing: still usage
        print(f"emodesk: usage error: {exc}", file=sys.stderr)
        return 2
    except EmodeskError as exc:
        print(f"emodesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("emodesk: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
