"""``emodesk models``: list, verify, bench and download models."""

from __future__ import annotations

import argparse
import json
import sys

from emodesk.cli.common import Parser, positive_int
from emodesk.errors import EmodeskError


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
    bench.add_argument("--device", choices=("auto", "cpu", "cuda", "tensorrt"), default="cpu")
    bench.add_argument("--repeats", type=positive_int, default=30, metavar="N")
    dl = msub.add_parser("download", help="download models into the per-user folder (sha256 checked)")
    dl.add_argument("ids", nargs="*", metavar="ID", help="model ids (see `emodesk models list`)")
    dl.add_argument("--all", action="store_true", help="every model that has a download URL")
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
