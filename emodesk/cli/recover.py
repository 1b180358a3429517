"""``emodesk recover``: make session files of journals left by runs that did not finish (crash, kill -9, full disk)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    rec = sub.add_parser(
        "recover",
        help="write session files from the journals of runs that did not finish",
        description=(
            "Rebuild OUT/<stem>.session.json from each JOURNAL (<stem>.journal.jsonl, written while a run goes "
            'and flushed every second). The session says "status": "recovered" when the run never finished. '
            "A session file already there is never overwritten (<stem>-recovered.session.json is written "
            "instead). The journal is deleted once its session is written and read back."
        ),
    )
    rec.add_argument("journals", nargs="+", type=Path, metavar="JOURNAL", help="a .journal.jsonl file, or a folder: every journal in it")
    rec.add_argument("--out", "-o", type=Path, metavar="DIR", help="folder for the session files (default: beside each journal)")
    rec.add_argument("--keep-journal", action="store_true", help="keep each journal after its session is written")
    rec.add_argument("--force", action="store_true", help="recover even a journal whose emodesk process still seems to run")
    rec.set_defaults(handler=run)


def _free(path: Path) -> Path:
    if not path.exists():
        return path
    stem = path.name.removesuffix(".session.json")
    n = 1
    while True:
        candidate = path.with_name(f"{stem}-recovered{'' if n == 1 else f'-{n}'}.session.json")
        if not candidate.exists():
            return candidate
        n += 1


def run(args: argparse.Namespace) -> int:
    from emodesk.core.analyze import ensure_output_dir
    from emodesk.core.session import (
        JOURNAL_SUFFIX,
        inspect_journal,
        read_session_json,
        session_path_for,
        write_session_from_journal,
    )
    from emodesk.errors import EmodeskError

    out_dir = ensure_output_dir(args.out) if args.out else None
    failures = 0
    journals: list[Path] = []
    for given in args.journals:
        found = sorted(given.glob(f"*{JOURNAL_SUFFIX}")) if given.is_dir() else [given]
        if given.is_dir() and not found:
            print(f"emodesk: error: {given}: no journal (*{JOURNAL_SUFFIX}) in this folder", file=sys.stderr)
            failures += 1
        journals += found
    for journal in journals:
        try:
            if not journal.is_file():
                raise EmodeskError(f"{journal}: no such journal file")
            writer = inspect_journal(journal).writer_pid
            if writer is not None and not args.force:
                raise EmodeskError(
                    f"{journal}: still being written by emodesk process {writer}; recover it once that run "
                    "has ended (or --force if that process is not emodesk)"
                )
            target = _free(session_path_for(journal, out_dir))
            document = write_session_from_journal(journal, target)
            read_session_json(target)  # proven readable before the journal goes
        except EmodeskError as exc:
            print(f"emodesk: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if not args.keep_journal:
            journal.unlink(missing_ok=True)
        print(
            f"{document['status']:9s} {journal} → {target}: {document['frames_processed']} frames, "
            f"{len(document['faces'])} face track(s)"
        )
    return 1 if failures else 0
