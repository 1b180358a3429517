"""``emodesk analyze``: many inputs, one session file each, a progress bar, exit codes."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from emodesk.cli.cluster import add_options as add_cluster_options
from emodesk.cli.common import EXAMPLES, add_setting_options, non_negative, positive_int, settings_from_args
from emodesk.cli.export import add_analyze_options as add_export_options
from emodesk.cli.export import export_after_analysis

if TYPE_CHECKING:
    from emodesk.core.analyze import AnalysisOutcome


def register(sub: argparse._SubParsersAction) -> None:
    an = sub.add_parser(
        "analyze",
        help="analyse videos, images, folders, cameras or streams into session JSON files",
        description="Analyse each INPUT and write OUT/<input stem>.session.json (schema: resources/session.schema.json).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    an.add_argument("inputs", nargs="*", metavar="INPUT", help="video file, image, folder of images (one session), folder of videos or quoted glob (one session per video), camera index or device, stream URL")
    an.add_argument("--out", "-o", type=Path, default=Path("."), metavar="DIR", help="folder for the session files (default: current folder)")
    add_setting_options(an)  # every analysis setting, from emodesk.core.settings.SCHEMA
    an.add_argument("--live", action="store_true", help="treat video files as live: replay at their frame rate, drop frames the models cannot keep up with")
    an.add_argument("--max-frames", type=positive_int, metavar="N", help="stop each input after N frames")
    an.add_argument("--duration", type=non_negative, metavar="SECONDS", help="stop each input after this many seconds (useful for cameras)")
    an.add_argument("--offline", action="store_true", help="never download models; fail with a message saying what is missing")
    an.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-input summary; errors only")
    add_export_options(an)  # --pdf --csv --video --events --baseline (cli/export.py)
    add_cluster_options(an)  # --inputs-from --cluster --workers --gpus-per-task (cli/cluster.py)
    an.set_defaults(handler=run)


# SIGTERM (``timeout``, a job scheduler, ``kill``) ends the run like Ctrl+C: the session of what was
# analysed is written with status "stopped", and the exit status is 128 + SIGTERM = 143 (README)
EXIT_TERMINATED = 143


def run(args: argparse.Namespace) -> int:
    import os
    import signal

    from emodesk.core.inputs import gather_inputs

    if (args.workers or args.gpus_per_task) and not args.cluster:
        print("emodesk: usage error: --workers and --gpus-per-task need --cluster (see emodesk --help)", file=sys.stderr)
        return 2
    # folders of videos, globs, then the entries of --inputs-from (read and checked by argparse: cli/cluster.py)
    args.inputs = gather_inputs([*args.inputs, *(args.inputs_from or [])])
    if not args.inputs:
        print("emodesk: usage error: no INPUT given (name files, folders or globs, or --inputs-from FILE) (see emodesk --help)", file=sys.stderr)
        return 2
    if args.offline:
        os.environ["EMODESK_OFFLINE"] = "1"
    settings = settings_from_args(args)
    stop = threading.Event()
    terminated = threading.Event()

    def on_sigterm(signum: int, frame: object) -> None:
        terminated.set()
        stop.set()  # the current input ends between two frames and its session is written

    previous = signal.signal(signal.SIGTERM, on_sigterm) if threading.current_thread() is threading.main_thread() else None
    try:
        if args.cluster:  # one task per input on a Ray cluster (cli/cluster.py): same lines, same exit codes
            from emodesk.cli.cluster import run_on_cluster

            return _exit_status(run_on_cluster(args, settings, stop, report_outcome), terminated)
        return _run_inputs(args, settings, stop, terminated)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run_inputs(args: argparse.Namespace, settings: object, stop: threading.Event, terminated: threading.Event) -> int:
    from tqdm import tqdm

    from emodesk.core.analyze import analyze_source, ensure_output_dir, unique_session_path
    from emodesk.core.pipeline import Pipeline

    out_dir = ensure_output_dir(args.out)
    pipeline = Pipeline(settings)
    if not args.quiet:
        for info in pipeline.models:
            print(f"{info.kind.replace('_', ' ')}: {info.id} on {', '.join(info.providers)} (licence: {info.licence})", file=sys.stderr)
    taken: set[Path] = set()
    failures = 0
    for target in args.inputs:
        if terminated.is_set():
            break
        session_path = unique_session_path(out_dir, target, taken)
        bars: list[tqdm] = []  # the input's bar, made at its first progress report

        def progress(done: int, total: int | None, bars: list[tqdm] = bars, target: object = target) -> None:
            if not bars:
                # made once the expected count is known (or on a terminal, for a live source without one):
                # a bar without a total would print a meaningless "0frame [00:00, ?frame/s]" into a log
                if args.quiet or not (total or sys.stderr.isatty()):
                    return
                bars.append(
                    tqdm(
                        total=total or None,
                        desc=Path(str(target)).name or str(target),
                        unit="frame",
                        dynamic_ncols=True,
                        leave=False,
                        file=sys.stderr,
                        mininterval=0.2 if sys.stderr.isatty() else 10.0,  # a log file gets a line now and then
                    )
                )
            bar = bars[0]
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            outcome = analyze_source(
                pipeline,
                target,
                session_path,
                live=True if args.live else None,
                realtime=args.live,
                max_frames=args.max_frames,
                duration_s=args.duration,
                stop=stop,
                progress=progress,
            )
        finally:
            for bar in bars:
                bar.close()
        failures += report_outcome(args, target, outcome)
    return _exit_status(failures, terminated)


def _exit_status(failures: int, terminated: threading.Event) -> int:
    if terminated.is_set():
        print("emodesk: terminated (SIGTERM); sessions analysed so far are written", file=sys.stderr)
        return EXIT_TERMINATED
    return 1 if failures else 0


def report_outcome(args: argparse.Namespace, target: object, outcome: AnalysisOutcome) -> int:
    """Print how one input went (warnings, its error, the summary line) and run the exports asked for;
    returns how many things failed. Local and cluster runs (cli/cluster.py) report through this."""
    failures = 0
    for warning in outcome.warnings:
        if warning != outcome.error:
            print(f"emodesk: warning: {warning}", file=sys.stderr)
    if outcome.error:
        print(f"emodesk: error: {outcome.error}", file=sys.stderr)
    if not outcome.ok:
        failures += 1
    if outcome.session_path and not args.quiet:
        ms = outcome.mean_ms
        c = outcome.counts
        left_out = f" of {c.delivered} ({c.skipped} skipped, {c.dropped} dropped)" if c.skipped or c.dropped else ""
        print(
            f"{outcome.status:9s} {target} → {outcome.session_path}: {outcome.frames}{left_out} frames, "
            f"{outcome.faces} face track(s), {outcome.fps:.1f} frames/s "
            f"(ms/frame: decode {ms.get('mean_decode_ms', 0):.1f}, detect {ms.get('mean_detect_ms', 0):.1f}, "
            f"classify {ms.get('mean_classify_ms', 0):.1f}, total {ms.get('mean_total_ms', 0):.1f})"
        )
    if outcome.session_path:  # --pdf/--csv/--video/--events/--baseline (cli/export.py)
        failures += export_after_analysis(args, outcome.session_path)
    return failures
