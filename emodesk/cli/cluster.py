"""``emodesk analyze --cluster …``: the options and the driver's side (bar, lines, exit status).

The analysis itself is :func:`emodesk.core.cluster.run_batch`; each finished input is reported with the
same line a local run prints (``report_outcome`` in cli/analyze.py).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from emodesk.cli.common import positive_int


def _gpus(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GPUs") from None
    if not 0.0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number of GPUs (0.5 = two workers share one)")
    return value


def input_list(text: str) -> list[str]:
    """argparse type: the entries of an --inputs-from file, so a missing or unreadable list is a usage
    error (exit 2) like a bad --events file, not a failed input."""
    from emodesk.core.inputs import read_input_list
    from emodesk.errors import EmodeskError

    try:
        return read_input_list(Path(text))
    except EmodeskError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("many inputs, many machines (README: 'Many inputs, many machines')")
    group.add_argument(
        "--inputs-from",
        type=input_list,
        metavar="FILE",
        help="also analyse the inputs listed in FILE: one path per line, or a CSV file with a 'path' column "
        "(relative paths are relative to FILE's folder). A folder of videos or a quoted glob ('study/**/*.mp4') "
        "is one input per video; a folder of images stays one session",
    )
    group.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="run the inputs on a Ray cluster (pip install 'emodesk[cluster]'): 'local' (start Ray on this machine), "
        "'auto' (the cluster this machine joined with `ray start`, or $RAY_ADDRESS), 'ray://HOST:PORT' (Ray Client). "
        "One task per input, models loaded once per worker; sessions are written here as tasks finish",
    )
    group.add_argument("--workers", type=positive_int, metavar="N", help="with --cluster: at most N workers (default: one per CPU of the cluster, or per --gpus-per-task)")
    group.add_argument("--gpus-per-task", type=_gpus, metavar="N", help="with --cluster: each worker reserves N GPUs (0.5: two share one) and runs its models there with --device cuda or auto; workers = cluster GPUs / N")


def run_on_cluster(
    args: argparse.Namespace,
    settings: object,
    stop: threading.Event,
    report_outcome: Callable[[argparse.Namespace, str, object], int],
) -> int:
    """Run ``args.inputs`` on the cluster; returns the number of inputs (and exports) that failed."""
    from tqdm import tqdm

    from emodesk.core.cluster import BatchProgress, ClusterOptions, InputResult, WorkerInfo, run_batch

    options = ClusterOptions(address=args.cluster, workers=args.workers, gpus_per_task=args.gpus_per_task)
    bar: tqdm | None = None
    failures = 0
    written = 0

    def write(line: str) -> None:
        (bar.write if bar is not None else print)(line, file=sys.stderr)

    def on_ready(worker: WorkerInfo, size: int) -> None:
        nonlocal bar
        if args.quiet:
            return
        for info in worker.models:
            print(f"{info.kind.replace('_', ' ')}: {info.id} on {', '.join(info.providers)} (licence: {info.licence})", file=sys.stderr)
        print(f"cluster: {size} worker(s) for {len(args.inputs)} input(s)", file=sys.stderr)
        bar = tqdm(
            total=len(args.inputs),
            unit="input",
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format="{n_fmt}/{total_fmt} inputs |{bar}| {elapsed}{postfix}",
            mininterval=0.2 if sys.stderr.isatty() else 10.0,
        )

    def on_progress(progress: BatchProgress) -> None:
        if bar is None:
            return
        eta = "?" if progress.eta_s is None else tqdm.format_interval(progress.eta_s)
        # a terminal redraws about every second; a log file gets the figures with each finished input
        bar.set_postfix_str(f"{progress.fps:.1f} frames/s across the cluster, ETA {eta}", refresh=sys.stderr.isatty())

    def on_result(result: InputResult) -> None:
        nonlocal failures, written
        written += result.outcome.session_path is not None
        # the same lines, in the same words, as a local run (above the bar)
        if bar is not None:
            bar.update(1)
            with bar.external_write_mode(file=sys.stderr):
                failures += report_outcome(args, result.target, result.outcome)
        else:
            failures += report_outcome(args, result.target, result.outcome)

    try:
        run_batch(
            args.inputs,
            args.out,
            settings,  # type: ignore[arg-type]
            options,
            run_options={
                "live": True if args.live else None,
                "realtime": args.live,
                "max_frames": args.max_frames,
                "duration_s": args.duration,
            },
            offline=args.offline,
            stop=stop,
            on_ready=on_ready,
            on_result=on_result,
            on_progress=on_progress,
            on_warning=lambda line: write(f"emodesk: warning: {line}"),
        )
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
            bar = None
        print(f"emodesk: cancelled the running inputs; {written} of {len(args.inputs)} sessions written", file=sys.stderr)
        raise
    finally:
        if bar is not None:
            bar.close()
    return failures
