"""``emodesk bench``: speed figures for video clips (decode-only, per stage, whole pipeline, live, vs fer)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emodesk.cli.common import (
    add_setting_options,
    non_negative,
    positive_int,
    settings_from_args,
)

_BENCH_SETTINGS = (
    "detector",
    "emotion",
    "device",
    "det_size",
    "detect_every",
    "adaptive_detection",
    "sample_fps",
    "threads",
    "threshold",
    "max_faces",
)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not WIDTHxHEIGHT, e.g. 640x480"
        ) from None
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 16x16")
    return w, h


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser(
        "bench",
        help="measure analysis speed on video clips (per stage, against decoding alone, live, vs fer)",
        description=(
            "For each clip and the settings given: decode-only FPS, the detector's ms per frame, the emotion "
            "model's ms per face, full-pipeline FPS (overlapped as the app runs, and sequential) and its ratio "
            "to decode-only, the share of time per stage and the peak RSS. --live adds the clip replayed as a "
            "virtual camera (capture-to-overlay latency p50/p95 with the window's drawing, analysed FPS, drop "
            "rate); --vs-fer runs the fer package on the same frames in a child process and prints the ratio. "
            "Figures depend on the machine and its load: compare ratios and run twice."
        ),
    )
    bench.add_argument(
        "videos", nargs="+", type=Path, metavar="VIDEO", help="video files to measure"
    )
    add_setting_options(bench, _BENCH_SETTINGS)
    bench.add_argument(
        "--frames",
        type=positive_int,
        metavar="N",
        help="measure only the first N frames of each clip",
    )
    bench.add_argument(
        "--live",
        action="store_true",
        help="also replay each clip as a virtual camera (real time)",
    )
    bench.add_argument(
        "--live-size",
        type=_size,
        default=(640, 480),
        metavar="WxH",
        help="camera resolution for --live (default: 640x480)",
    )
    bench.add_argument(
        "--live-seconds",
        type=non_negative,
        metavar="S",
        help="cap each --live replay at S seconds",
    )
    bench.add_argument(
        "--vs-fer",
        action="store_true",
        help="also run the fer package on the same clip (if installed)",
    )
    bench.add_argument(
        "--fer-python",
        metavar="PYTHON",
        help="interpreter that has fer and tensorflow (default: this one)",
    )
    bench.add_argument(
        "--json", action="store_true", help="print the figures as JSON instead"
    )
    bench.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from emodesk.core.bench import bench_clip, format_figures
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.sources import open_source
    from emodesk.errors import EmodeskError

    settings = settings_from_args(args, _BENCH_SETTINGS)
    pipeline = Pipeline(settings)
    models = " + ".join(
        f"{m.id} ({', '.join(p.removesuffix('ExecutionProvider') for p in m.providers)})"
        for m in pipeline.models
    )
    failed = 0
    out = []
    for path in args.videos:
        try:
            with open_source(
                path
            ) as src:  # one clear line for a file that is not a video
                if src.info.kind != "video":
                    raise EmodeskError(
                        f"{path}: not a video file (bench measures video clips)"
                    )
            figures = bench_clip(
                pipeline,
                path,
                limit=args.frames,
                live_size=args.live_size if args.live else None,
                live_seconds=args.live_seconds,
                vs_fer=args.vs_fer,
                fer_python=args.fer_python,
            )
        except EmodeskError as exc:
            print(f"emodesk: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.json:
            out.append(figures.to_json())
        else:
            print(format_figures(figures, models), flush=True)
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failed else 0
