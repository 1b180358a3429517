"""``emodesk export``: PDF report, per-frame CSV and annotated video from a saved session, without
analysing again; and the same exports after ``emodesk analyze --pdf --csv --video``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from emodesk.errors import EmodeskError

_BESIDE = Path("")  # --pdf/--csv/--video without FILE: the default name beside the session


def events_file(text: str) -> list[Any]:
    """argparse type: the events of a ``time_s,label[,duration_s]`` CSV (one-line errors name the line)."""
    from emodesk.core.events import read_events_csv

    try:
        return read_events_csv(Path(text))
    except EmodeskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def baseline_interval(text: str) -> Any:
    from emodesk.core.baseline import BaselineInterval

    try:
        return BaselineInterval.parse(text)
    except EmodeskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_study_options(parser: argparse.ArgumentParser) -> None:
    """``--events`` and ``--baseline``, shared by ``analyze`` and ``export``."""
    parser.add_argument("--events", type=events_file, metavar="CSV",
                        help="import event markers from a CSV of time_s,label[,duration_s] rows (e.g. a PsychoPy log)")  # fmt: skip
    parser.add_argument("--baseline", type=baseline_interval, metavar="START:END",
                        help="seconds in which participants are at rest: each face's mean there is its baseline; "
                             "adds calibrated probabilities and computes valence from them")  # fmt: skip


def add_analyze_options(parser: argparse.ArgumentParser) -> None:
    """The export options of ``emodesk analyze`` (registered from cli/analyze.py)."""
    parser.add_argument("--pdf", action="store_true", help="also write OUT/<stem>.report.pdf for each input")
    parser.add_argument("--csv", action="store_true", help="also write OUT/<stem>.frames.csv (one row per face per frame)")
    parser.add_argument("--video", action="store_true", help="also write OUT/<stem>.annotated.mp4 (video inputs)")
    add_study_options(parser)


def register(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser(
        "export",
        help="PDF report, per-frame CSV or annotated video from a saved session",
        description=(
            "Write exports of SESSION.json without analysing again. Without FILE, --pdf, --csv and --video\n"
            "write <stem>.report.pdf, <stem>.frames.csv and <stem>.annotated.mp4 beside the session.\n"
            "The session file itself is not changed: --events and --baseline apply to these exports."
        ),
        epilog=(
            "examples:\n"
            "  emodesk export out/clip.session.json --pdf --csv\n"
            "  emodesk export s.session.json --video clip.annotated.mp4 --source /new/place/clip.mp4\n"
            "  emodesk export s.session.json --pdf report.pdf --events stimuli.csv --baseline 0:10\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("session", type=Path, metavar="SESSION.json", help="a session written by emodesk")
    ex.add_argument("--pdf", nargs="?", const=_BESIDE, type=Path, metavar="FILE", help="PDF report")
    ex.add_argument("--csv", nargs="?", const=_BESIDE, type=Path, metavar="FILE", help="per-frame CSV")
    ex.add_argument("--video", nargs="?", const=_BESIDE, type=Path, metavar="FILE", help="annotated video (.mp4, .mov, .mkv, .avi)")
    ex.add_argument("--source", type=Path, metavar="VIDEO", help="the source video, when it is no longer where the session says")
    add_study_options(ex)
    ex.add_argument("--paper", choices=("a4", "letter"), default="a4", help="PDF page size (default: a4)")
    ex.add_argument("--quiet", "-q", action="store_true", help="no progress bar or list of files written; errors only")
    ex.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from emodesk.core.export import ExportCancelled, SessionView, default_paths

    if args.pdf is None and args.csv is None and args.video is None:
        print("emodesk: usage error: nothing to export: give --pdf, --csv and/or --video (see emodesk export --help)", file=sys.stderr)
        return 2
    beside = default_paths(args.session)
    targets = {kind: (beside[kind] if value == _BESIDE else value) for kind in ("pdf", "csv", "video") if (value := getattr(args, kind)) is not None}
    if "video" in targets:
        from emodesk.core.recording import check_video_path

        try:
            check_video_path(targets["video"])  # a file name the user chose: a usage error, before any work
        except EmodeskError as exc:
            print(f"emodesk: usage error: {exc}", file=sys.stderr)
            return 2
    # the session is read (and its errors reported) before a progress bar is drawn
    view = SessionView(args.session, events=args.events or (), baseline=args.baseline, source=args.source)
    _warn_inputs(view, args)
    # SIGTERM (kill, timeout, a scheduler) cancels like Ctrl+C does: the file being written is removed,
    # the ones finished stay; exit status 128 + 15 as for analyze
    cancel = threading.Event()
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: cancel.set()) if on_main else None
    try:
        written = _export(view, targets, quiet=args.quiet, paper=args.paper, cancel=cancel)
    except ExportCancelled:
        print("emodesk: terminated (SIGTERM); the export being written was removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if not args.quiet:
        for kind, path in written.items():
            print(f"{kind:5s} → {path}")
    return 0


def export_after_analysis(args: argparse.Namespace, session_path: Path) -> int:
    """After ``analyze`` wrote ``session_path``: record --events/--baseline in it, then write the exports
    asked for beside it. Returns the number of failures (0 or 1), each reported on one line."""
    from emodesk.core.export import SessionView, default_paths, record_in_session

    try:
        view = SessionView(session_path, events=args.events or (), baseline=args.baseline)
        _warn_inputs(view, args)
        if args.events or args.baseline:
            record_in_session(session_path, view)
        beside = default_paths(session_path)
        targets = {kind: beside[kind] for kind in ("pdf", "csv", "video") if getattr(args, kind)}
        if "video" in targets and view.source.get("kind") != "video":
            # a batch may mix photos and videos: the photos' other exports are still written
            del targets["video"]
            print(f"emodesk: warning: {view.source.get('path')}: not a video file, so no annotated video", file=sys.stderr)
        if targets:
            written = _export(view, targets, quiet=args.quiet)
            if not args.quiet:
                print("          exports: " + ", ".join(str(p) for p in written.values()))
    except EmodeskError as exc:
        print(f"emodesk: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _warn_inputs(view: Any, args: argparse.Namespace) -> None:
    """A --baseline or --events that matches no analysed frame is accepted, with one warning line each."""
    for line in view.input_warnings(args.events or (), args.baseline):
        print(f"emodesk: warning: {line}", file=sys.stderr)


def _export(view: Any, targets: dict[str, Path], *, quiet: bool, **options: Any) -> dict[str, Path]:
    from tqdm import tqdm

    from emodesk.core.export import export_session

    # a bar only on a terminal: in a log, a few seconds of export need no progress lines
    bar = None
    if not quiet and sys.stderr.isatty():
        name = view.session_path.name if view.session_path else "session"
        bar = tqdm(total=1000, desc=f"export {name}", leave=False, file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")  # fmt: skip

    def progress(done: int, total: int | None) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    try:
        return export_session(view, progress=progress, **targets, **options)
    finally:
        if bar is not None:
            bar.close()
