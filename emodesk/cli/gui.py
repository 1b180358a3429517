"""``emodesk gui`` (the default command): the desktop window."""

from __future__ import annotations

import argparse
import os
import sys

from emodesk.errors import EmodeskError

# Qt platforms that draw without a display server (tests, remote rendering, kiosks)
_HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"})


def register(sub: argparse._SubParsersAction) -> None:
    gui = sub.add_parser(
        "gui",
        help="open the desktop window (the default when emodesk is run with no command)",
        description="Open the desktop window; with PATH, open that video, image or folder and analyse it, "
        "or review that saved .session.json.",
    )
    gui.add_argument("path", nargs="?", metavar="PATH", help="video, image or folder to analyse at once, or a saved .session.json to review")
    gui.add_argument("--theme", choices=("auto", "dark", "light"), default="auto", help="colour theme (default: follow the OS)")
    gui.set_defaults(handler=run)


def missing_display(environ: dict[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the window cannot open here, or None. Checked before Qt starts: without a display Qt's xcb
    plugin aborts the process (exit 134) with a message about libxcb that hides the real cause."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform in ("win32", "darwin"):  # the OS always has a window system there
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip().lower()
    if qpa in _HEADLESS_PLATFORMS:
        return None
    if qpa == "wayland":
        return None if env.get("WAYLAND_DISPLAY") else "QT_QPA_PLATFORM is wayland but WAYLAND_DISPLAY is not set"
    if qpa == "xcb":
        return None if env.get("DISPLAY") else "QT_QPA_PLATFORM is xcb but DISPLAY is not set"
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return "DISPLAY and WAYLAND_DISPLAY are not set"


def run(args: argparse.Namespace) -> int:
    why = missing_display()
    if why is not None:
        raise EmodeskError(
            f"no display found ({why}), so the window cannot open; analyse without a window instead: "
            "emodesk analyze FILE --out DIR (see emodesk analyze --help)"
        )
    from emodesk.ui.app import run_gui

    return run_gui(args.path, theme=args.theme)
