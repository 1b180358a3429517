"""The ``emodesk`` command: the desktop window (default), ``analyze`` for batch analysis, ``models``.

Exit status: 0 when everything asked for succeeded, 1 when any input or model failed (each with one
line on stderr; the other inputs are still processed), 2 for usage errors, 130 after Ctrl+C (sessions
analysed so far are written).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from emodesk import __version__
from emodesk.errors import EmodeskError

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

models are looked for in $EMODESK_MODEL_DIR, the project's models/ folder, then the per-user data folder;
missing ones are downloaded unless --offline or EMODESK_OFFLINE=1.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"emodesk: usage error: {message} (see emodesk --help)\n")


def _det_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 640x640") from None
    return w, h


def _unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="emodesk",
        description="Facial-emotion analysis of webcam video, video files and photos.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"emodesk {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    an = sub.add_parser(
        "analyze",
        help="analyse videos, images, folders, cameras or streams into session JSON files",
        description="Analyse each INPUT and write OUT/<input stem>.session.json (schema: resources/session.schema.json).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    an.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, image, folder of images, camera index or device, stream URL")
    an.add_argument("--out", "-o", type=Path, default=Path("."), metavar="DIR", help="folder for the session files (default: current folder)")
    an.add_argument("--detector", metavar="ID", help="face detector model id (default: the manifest's; see `emodesk models list`)")
    an.add_argument("--emotion", metavar="ID", help="emotion model id (default: the manifest's)")
    an.add_argument("--device", choices=("auto", "cpu", "cuda", "tensorrt"), default="auto", help="where models run (default: auto = CUDA if it works, else CPU)")
    an.add_argument("--threshold", type=_unit_interval, metavar="P", help="face detection score threshold (default: the model's)")
    an.add_argument("--max-faces", type=int, default=0, metavar="N", help="keep only the N largest faces per frame (default: 0 = all)")
    an.add_argument("--det-size", type=_det_size, metavar="WxH", help="detector input size, multiples of 32 (default: 640x640)")
    an.add_argument("--detect-every", type=_positive_int, default=1, metavar="N", help="run the detector every N frames and track in between (default: 1)")
    an.add_argument("--smoothing", type=_non_negative, default=0.25, metavar="SECONDS", help="half-life of per-face emotion smoothing; 0 = off (default: 0.25). Raw values are always kept too")
    an.add_argument("--live", action="store_true", help="treat video files as live: replay at their frame rate, drop frames the models cannot keep up with")
    an.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop each input after N frames")
    an.add_argument("--duration", type=_non_negative, metavar="SECONDS", help="stop each input after this many seconds (useful for cameras)")
    an.add_argument("--threads", type=_positive_int, metavar="N", help="CPU threads per model (default: onnxruntime's choice)")
    an.add_argument("--offline", action="store_true", help="never download models; fail with a message saying what is missing")
    an.add_argument("--quiet", "-q", action="store_true", help="no progress bar or per-input summary; errors only")

    gui = sub.add_parser(
        "gui",
        help="open the desktop window (the default when emodesk is run with no command)",
        description="Open the desktop window; with PATH, open that video, image or folder and analyse it.",
    )
    gui.add_argument("path", nargs="?", metavar="PATH", help="video, image or folder to analyse at once")
    gui.add_argument("--theme", choices=("auto", "dark", "light"), default="auto", help="colour theme (default: follow the OS)")

    ev = sub.add_parser(
        "eval",
        help="measure an emotion model's accuracy on a labelled image folder",
        description=(
            "Classify every image listed in a labels CSV (columns path,label; paths relative to the CSV) and "
            "report accuracy, balanced accuracy, macro F1, per-class precision/recall/F1 and the confusion "
            "matrix. Unreadable images are listed and left out; with --crop detect, images where no face is "
            "found are listed and counted as wrong."
        ),
    )
    ev.add_argument("folder", type=Path, metavar="FOLDER", help="labelled image folder (e.g. ../shared/data/fer2013/val)")
    ev.add_argument("--labels", type=Path, metavar="CSV", help="labels file, columns path,label (default: FOLDER/labels.csv)")
    ev.add_argument("--emotion", metavar="ID", help="emotion model id (default: the manifest's)")
    ev.add_argument("--detector", metavar="ID", help="face detector for --crop detect (default: the manifest's)")
    ev.add_argument("--crop", choices=("whole", "detect"), default="whole", help="whole: each image is a face crop (default); detect: find the face first")
    ev.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where models run (default: auto)")
    ev.add_argument("--out", "-o", type=Path, metavar="JSON", help="write the full report (metrics, confusion, per-image predictions) as JSON")
    ev.add_argument("--confusion-png", type=Path, metavar="PATH", help="draw the row-normalised confusion matrix as a PNG")
    ev.add_argument("--batch", type=_positive_int, default=64, metavar="N", help="images per classifier call (default: 64)")
    ev.add_argument("--quiet", "-q", action="store_true", help="print only the one-line summary (and errors)")

    md = sub.add_parser("models", help="list, verify and download models", description="Manage the ONNX models emodesk knows.")
    msub = md.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    ls = msub.add_parser("list", help="every known model: id, kind, licence, present or missing, path")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    msub.add_parser("verify", help="check the sha256 of every model file found; exit 1 if one is corrupt or a default is missing")
    bench = msub.add_parser(
        "bench",
        help="time emotion models per face at batch 1 and 8 (crop + preprocessing + inference)",
        description="Median milliseconds per face for each present emotion model (or the ids given), "
        "crop and preprocessing included, on synthetic faces. Figures for comparison; these machines are noisy.",
    )
    bench.add_argument("ids", nargs="*", metavar="ID", help="emotion model ids (default: every one present)")
    bench.add_argument("--device", choices=("auto", "cpu", "cuda", "tensorrt"), default="cpu")
    bench.add_argument("--repeats", type=_positive_int, default=30, metavar="N")
    dl = msub.add_parser("download", help="download models into the per-user folder (sha256 checked)")
    dl.add_argument("ids", nargs="*", metavar="ID", help="model ids (see `emodesk models list`)")
    dl.add_argument("--all", action="store_true", help="every model that has a download URL")
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="emodesk: %(levelname)s: %(message)s", stream=sys.stderr)


COMMANDS = ("analyze", "eval", "models", "gui")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `emodesk` opens the window; `emodesk FILE` opens it on FILE (a file is not a command name)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "analyze":
            return _cmd_analyze(args)
        if args.command == "eval":
            return _cmd_eval(args)
        if args.command == "models":
            return _cmd_models(args, parser)
        if args.command == "gui":
            from emodesk.ui.app import run_gui

            return run_gui(args.path, theme=args.theme)
        parser.print_help()
        return 0
    except EmodeskError as exc:
        print(f"emodesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("emodesk: interrupted", file=sys.stderr)
        return 130


def _cmd_analyze(args: argparse.Namespace) -> int:
    import os

    from tqdm import tqdm

    from emodesk.core.analyze import analyze_source, ensure_output_dir, unique_session_path
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.settings import Settings

    if args.offline:
        os.environ["EMODESK_OFFLINE"] = "1"
    settings = Settings(
        detector=args.detector,
        emotion=args.emotion,
        device=args.device,
        threshold=args.threshold,
        max_faces=max(args.max_faces, 0),
        det_size=args.det_size,
        detect_every=args.detect_every,
        smoothing=args.smoothing,
        threads=args.threads,
    )
    out_dir = ensure_output_dir(args.out)
    pipeline = Pipeline(settings)
    if not args.quiet:
        for info in pipeline.models:
            print(f"{info.kind.replace('_', ' ')}: {info.id} on {', '.join(info.providers)} (licence: {info.licence})", file=sys.stderr)
    taken: set[Path] = set()
    failures = 0
    stop = threading.Event()
    for target in args.inputs:
        session_path = unique_session_path(out_dir, target, taken)
        bar = None
        if not args.quiet:
            bar = tqdm(
                desc=Path(str(target)).name or str(target),
                unit="frame",
                dynamic_ncols=True,
                leave=False,
                file=sys.stderr,
                mininterval=0.2 if sys.stderr.isatty() else 10.0,  # a log file gets a line now and then
            )

        def progress(done: int, total: int | None, bar: tqdm | None = bar) -> None:
            if bar is None:
                return
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
            if bar is not None:
                bar.close()
        for warning in outcome.warnings:
            if warning != outcome.error:
                print(f"emodesk: warning: {warning}", file=sys.stderr)
        if outcome.error:
            print(f"emodesk: error: {outcome.error}", file=sys.stderr)
        if not outcome.ok:
            failures += 1
        if outcome.session_path and not args.quiet:
            ms = outcome.mean_ms
            print(
                f"{outcome.status:9s} {target} → {outcome.session_path}: {outcome.frames} frames, "
                f"{outcome.faces} face track(s), {outcome.fps:.1f} frames/s "
                f"(ms/frame: decode {ms.get('mean_decode_ms', 0):.1f}, detect {ms.get('mean_detect_ms', 0):.1f}, "
                f"classify {ms.get('mean_classify_ms', 0):.1f}, total {ms.get('mean_total_ms', 0):.1f})"
            )
    return 1 if failures else 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from emodesk.core.atomic import atomic_text_file
    from emodesk.core.evaluate import LabelsFileError, confusion_png, evaluate, format_report, summary_line
    from emodesk.errors import OutputError

    # fail before minutes of work if a result could not be written
    for target in (args.out, args.confusion_png):
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
    print(summary_line(report) if args.quiet else format_report(report))
    return 0


def _cmd_models(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from emodesk.inference import store
    from emodesk.inference.manifest import load_manifest

    manifest = load_manifest()
    if args.models_command == "list":
        rows = []
        for spec in manifest.models:
            status = store.locate(spec)
            state = "present" if status.present else ("corrupt" if status.problem else "missing")
            rows.append((spec, state, status))
        if args.json:
            payload = [
                {**spec.to_dict(), "status": state, "path": str(st.path) if st.path else None, "problem": st.problem}
                for spec, state, st in rows
            ]
            print(json.dumps(payload, indent=2))
            return 0
        print(f"{'id':26} {'kind':18} {'status':8} {'licence':42} path / source")
        for spec, state, st in rows:
            default = "*" if spec.default else " "
            where = str(st.path) if st.path else (spec.url or spec.upstream or "no public download")
            print(f"{spec.id + default:26} {spec.kind:18} {state:8} {spec.licence[:42]:42} {where}")
        print("* default model.  Search order: " + ", ".join(str(d) for d in store.search_dirs()))
        return 0
    if args.models_command == "verify":
        bad = 0
        for spec in manifest.models:
            status = store.locate(spec)
            if status.present:
                pinned = "" if spec.sha256 else " (no published checksum; checked against the local pin)"
                print(f"ok       {spec.id}: {status.path}{pinned}")
            elif status.problem:
                bad += 1
                print(f"CORRUPT  {spec.id}: {status.problem}")
            elif spec.default:
                bad += 1
                print(f"MISSING  {spec.id}: default model not found (emodesk models download {spec.id})")
            else:
                print(f"missing  {spec.id}")
        return 1 if bad else 0
    if args.models_command == "bench":
        from emodesk.inference.base import load_classifier
        from emodesk.inference.benchmark import time_classifier
        from emodesk.inference.manifest import CLASSIFIER

        ids = args.ids or [s.id for s in manifest.of_kind(CLASSIFIER) if store.locate(s).present]
        print(f"{'model':26} {'provider':10} {'batch 1':>12} {'batch 8':>12}   ms per face (median)")
        failures = 0
        for model_id in ids:
            try:
                classifier = load_classifier(model_id, device=args.device)
            except EmodeskError as exc:
                failures += 1
                print(f"emodesk: error: {exc}", file=sys.stderr)
                continue
            timing = time_classifier(classifier, repeats=args.repeats)
            provider = timing.providers[0].removesuffix("ExecutionProvider")
            print(f"{model_id:26} {provider:10} {timing.ms_per_face[1]:12.2f} {timing.ms_per_face[8]:12.2f}")
        return 1 if failures else 0
    if args.models_command == "download":
        ids = [s.id for s in manifest.models if s.url] if args.all else args.ids
        if not ids:
            parser.exit(2, "emodesk: usage error: name model ids to download, or --all\n")
        failures = 0
        for model_id in ids:
            try:
                spec = manifest.get(model_id)
                path = _download_with_bar(spec)
                print(f"ok       {model_id}: {path}")
            except EmodeskError as exc:
                failures += 1
                print(f"emodesk: error: {exc}", file=sys.stderr)
        return 1 if failures else 0
    parser.exit(2, "emodesk: usage error: models needs an action: list, verify, bench or download\n")
    return 2


def _download_with_bar(spec):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    from emodesk.inference import store

    present = store.locate(spec)
    if present.path is not None:
        return present.path
    with tqdm(desc=spec.file, unit="B", unit_scale=True, file=sys.stderr, leave=False) as bar:

        def progress(done: int, total: int | None) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        return store.resolve(spec, progress=progress)


if __name__ == "__main__":
    sys.exit(main())
