"""``emodesk gui`` (the default command): the desktop window."""

from __future__ import annotations

import argparse
import os
import re
import socket
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
    if qpa == "xcb" and not env.get("DISPLAY"):
        return "QT_QPA_PLATFORM is xcb but DISPLAY is not set"
    if qpa != "xcb" and env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY")
    if not display:
        return "DISPLAY and WAYLAND_DISPLAY are not set"
    # a stale DISPLAY (an old export, an ended X forwarding) aborts Qt just the same
    return None if x_server_reachable(display) else f"no X server answers on DISPLAY={display}"


def x_server_reachable(display: str, timeout_s: float = 1.0) -> bool:
    """Whether an X server accepts connections at ``display`` (``:0``, ``host:0.0``, ``unix:1``). A form
    this does not know is given the benefit of the doubt."""
    match = re.fullmatch(r"(?P<host>[^:]*):(?P<number>\d+)(\.\d+)?", display.strip())
    if match is None:
        return True
    host, number = match["host"], int(match["number"])
    if host.startswith("/"):  # macOS launchd: a socket path
        return os.path.exists(host)
    if host not in ("", "unix"):
        try:
            socket.create_connection((host, 6000 + number), timeout=timeout_s).close()
        except OSError:
            return False
        return True
    path = f"/tmp/.X11-unix/X{number}"
    for address in [path] + (["\0" + path] if sys.platform.startswith("linux") else []):  # + abstract socket
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_s)
                sock.connect(address)
                return True
        except OSError:
            continue
    return False


def run(args: argparse.Namespace) -> int:
    why = missing_display()
    if why is not None:
        raise EmodeskError(
            f"no display found ({why}), so the window cannot open; analyse without a window instead: "
            "emodesk analyze FILE --out DIR (see emodesk analyze --help)"
        )
    from emodesk.ui.app import run_gui

    return run_gui(args.path, theme=args.theme)
