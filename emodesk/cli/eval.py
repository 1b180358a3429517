"""``emodesk eval``: a model's accuracy on a labelled image folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emodesk.cli.common import add_setting_options, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser(
        "eval",
        help="measure an emotion model's accuracy on a labelled image folder",
        description=(
            "Classify every image listed in a labels CSV (columns path,label; paths relative to the CSV) and "
            "report accuracy, balanced accuracy, macro F1, per-class precision/recall/F1, the confusion "
            "matrix and the calibration of the confidences (ECE over 15 equal-width bins of the top-1 confidence, "
            "NLL, Brier score), with the model's calibration temperature applied as the app applies it. Unreadable images are listed and left out; with --crop detect, images where no face is "
            "found are listed and counted as wrong."
        ),
    )
    ev.add_argument("folder", type=Path, metavar="FOLDER", help="labelled image folder (e.g. ../shared/data/fer2013/val)")
    ev.add_argument("--labels", type=Path, metavar="CSV", help="labels file, columns path,label (default: FOLDER/labels.csv)")
    add_setting_options(ev, ("emotion", "detector", "device"))  # --detector is used with --crop detect
    ev.add_argument("--crop", choices=("whole", "detect"), default="whole", help="whole: each image is a face crop (default); detect: find the face first")
    ev.add_argument("--out", "-o", type=Path, metavar="JSON", help="write the full report (metrics, confusion, per-image predictions) as JSON")
    ev.add_argument("--confusion-png", type=Path, metavar="PATH", help="draw the row-normalised confusion matrix as a PNG")
    ev.add_argument("--reliability-png", type=Path, metavar="PATH", help="draw the reliability diagram (accuracy against confidence per bin) as a PNG")
    ev.add_argument("--uncalibrated", action="store_true", help="measure the raw model (temperature 1) instead of the calibrated probabilities the app shows")
    ev.add_argument("--batch", type=positive_int, default=64, metavar="N", help="images per classifier call (default: 64)")
    ev.add_argument("--quiet", "-q", action="store_true", help="print only the one-line summary (and errors)")
    ev.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from emodesk.atomic import atomic_text_file
    from emodesk.core.eval_report import (
        confusion_png,
        format_report,
        reliability_png,
        summary_line,
    )
    from emodesk.core.evaluate import LabelsFileError, evaluate
    from emodesk.errors import OutputError

    # fail before minutes of work if a result could not be written
    for target in (args.out, args.confusion_png, args.reliability_png):
        if target is not None and not target.parent.is_dir():
            raise OutputError(f"{target}: folder {target.parent} does not exist")
    if args.detector and args.crop == "whole":
        print("emodesk: warning: --detector is used only with --crop detect; ignored", file=sys.stderr)
    bars: list[tqdm] = []  # made on the first image, so that errors in the CSV or the model come first, alone

    def progress(done: int, total: int) -> None:
        if args.quiet:
            return
        if not bars:
            mininterval = 0.2 if sys.stderr.isatty() else 10.0  # a log file gets a line now and then
            bars.append(tqdm(desc="eval", total=total, unit="image", dynamic_ncols=True, leave=False, file=sys.stderr, mininterval=mininterval))
        bars[0].update(done - bars[0].n)

    try:
        report = evaluate(
            args.folder,
            labels_csv=args.labels,
            emotion=args.emotion,
            detector=args.detector if args.crop == "detect" else None,
            crop=args.crop,
            device=args.device,
            batch=args.batch,
            progress=progress,
            calibrated=not args.uncalibrated,
        )
    except LabelsFileError as exc:  # a malformed labels file is a usage error
        print(f"emodesk: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    if report.unreadable:
        shown = "; ".join(f"{name} ({why})" for name, why in list(report.unreadable.items())[:5])
        more = f"; … {len(report.unreadable) - 5} more" if len(report.unreadable) > 5 else ""
        print(f"emodesk: warning: {len(report.unreadable)} image(s) could not be read and are left out: {shown}{more}", file=sys.stderr)
    if report.misses:
        print(f"emodesk: warning: no face found in {report.misses} image(s); counted as wrong (\"no_face\" in the report)", file=sys.stderr)
    if args.out is not None:
        with atomic_text_file(args.out) as fh:
            fh.write(report.to_json())
    if args.confusion_png is not None:
        confusion_png(report, args.confusion_png)
    if args.reliability_png is not None:
        if report.calibration is None:
            print("emodesk: warning: no image got a prediction of a label the model has; no reliability diagram", file=sys.stderr)
        else:
            reliability_png(report, args.reliability_png)
    print(summary_line(report) if args.quiet else format_report(report))
    return 0
