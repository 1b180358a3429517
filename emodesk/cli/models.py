"""``emodesk models``: list, verify, bench, download and calibrate models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emodesk.cli.common import Parser, positive_int
from emodesk.errors import EmodeskError
from emodesk.inference.providers import DEVICES


def register(sub: argparse._SubParsersAction) -> None:
    md = sub.add_parser("models", help="list, verify and download models", description="Manage the ONNX models emodesk knows.")
    msub = md.add_subparsers(dest="models_command", metavar="ACTION", parser_class=Parser)
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
    bench.add_argument("--device", choices=DEVICES, default="cpu")
    bench.add_argument("--repeats", type=positive_int, default=30, metavar="N")
    dl = msub.add_parser("download", help="download models into the per-user folder (sha256 checked)")
    dl.add_argument("ids", nargs="*", metavar="ID", help="model ids (see `emodesk models list`)")
    dl.add_argument("--all", action="store_true", help="every model that has a download URL")
    cal = msub.add_parser(
        "calibrate",
        help="fit an emotion model's confidence temperature on labelled data and store it in the manifest",
        description="Classify every image of a labelled folder (whole-image crops, as `emodesk eval` does), find the "
        "temperature T that minimises the negative log-likelihood of softmax(logits / T), and write it into the "
        "model's manifest entry (`temperature`), which the adapter then applies to every probability the app "
        "shows or exports. Fit it on data the model was not trained on (fer2013/val for emodesk's own models). "
        "Prints ECE, NLL and Brier score before (T = 1) and after.",
    )
    cal.add_argument("id", metavar="ID", help="emotion model id")
    cal.add_argument("--data", type=Path, required=True, metavar="FOLDER", help="labelled folder (labels.csv with path,label)")
    cal.add_argument("--labels", type=Path, metavar="CSV", help="labels file (default: FOLDER/labels.csv)")
    cal.add_argument("--crop", choices=("whole", "detect"), default="whole", help="how to feed the images (default: whole)")
    cal.add_argument("--device", choices=DEVICES, default="cpu")
    cal.add_argument("--manifest", type=Path, metavar="JSON", help="manifest to update (default: the bundled models/manifest.json)")
    cal.add_argument("--dry-run", action="store_true", help="print the fitted temperature, change nothing")
    md.set_defaults(handler=run, models_parser=md)


def run(args: argparse.Namespace) -> int:
    parser = args.models_parser
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
        from emodesk.bundle import (
            describe_runtime,  # what this install (pip or frozen bundle) can run on
        )

        print(describe_runtime())
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
        from emodesk.inference.benchmark import time_classifier
        from emodesk.inference.loader import load_classifier
        from emodesk.inference.manifest import CLASSIFIER
        from emodesk.inference.providers import short_name

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
            provider = short_name(timing.providers[0])
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
    if args.models_command == "calibrate":
        return _calibrate(args)
    parser.exit(2, "emodesk: usage error: models needs an action: list, verify, bench, download or calibrate\n")
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


def _calibrate(args: argparse.Namespace) -> int:
    from emodesk.core.eval_metrics import calibration, fit_temperature, softmax_t
    from emodesk.core.evaluate import LabelsFileError, evaluate
    from emodesk.inference.loader import load_classifier
    from emodesk.inference.manifest import (
        CLASSIFIER,
        bundled_models_dir,
        load_manifest,
        set_temperature,
    )

    spec = load_manifest().get(args.id)
    if spec.kind != CLASSIFIER:
        raise EmodeskError(f"model {spec.id!r} is a {spec.kind}; only emotion models have a temperature")
    classifier = load_classifier(spec.id, device=args.device)
    try:
        report = evaluate(args.data, labels_csv=args.labels, emotion=classifier, crop=args.crop, calibrated=False)
    except LabelsFileError as exc:
        print(f"emodesk: error: {exc}", file=sys.stderr)
        return 2
    if not len(report.true_index):
        raise EmodeskError(f"{args.data}: no image with a label {spec.id!r} predicts; nothing to fit on")
    temperature = fit_temperature(report.logits, report.true_index)
    before = calibration(softmax_t(report.logits), report.true_index)
    after = calibration(softmax_t(report.logits, temperature), report.true_index)
    print(f"{spec.id} on {args.data} ({args.crop}, n={before.n}): temperature {temperature:.4f}")
    for name, c in (("T = 1", before), (f"T = {temperature:.3f}", after)):
        print(
            f"  {name:10} ECE {c.ece:.4f}  NLL {c.nll:.4f}  Brier {c.brier:.4f}  "
            f"mean confidence {c.mean_confidence:.1%}  accuracy {c.accuracy:.1%}"
        )
    if args.dry_run:
        return 0
    path = args.manifest or bundled_models_dir() / "manifest.json"
    set_temperature(path, spec.id, round(temperature, 4))
    print(f"wrote temperature {round(temperature, 4)} for {spec.id} into {path}")
    return 0

