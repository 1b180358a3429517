"""``emodesk gui`` (the default command): the desktop window."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    gui = sub.add_parser(
        "gui",
        help="open the desktop window (the default when emodesk is run with no command)",
        description="Open the desktop window; with PATH, open that video, image or folder and analyse it.",
    )
    gui.add_argument("path", nargs="?", metavar="PATH", help="video, image or folder to analyse at once")
    gui.add_argument("--theme", choices=("auto", "dark", "light"), default="auto", help="colour theme (default: follow the OS)")
    gui.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from emodesk.ui.app import run_gui

    return run_gui(args.path, theme=args.theme)
