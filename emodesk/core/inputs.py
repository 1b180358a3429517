"""Turn what the user named (paths, folders, globs, a list file) into the inputs of one batch (no Qt).

One rule for local and cluster runs (``emodesk analyze``):

- A folder of **images** stays ONE input (one session whose frames are the images, as before).
- A folder holding **videos** becomes one input per video (its own files, sorted by name; subfolders are
  not searched: use a ``**`` glob for that). If it holds images too, the folder is also kept as one input
  for its images, so nothing the user pointed at is silently left out.
- A **glob** (``'study/*.mp4'``, ``'study/**/*.mp4'``; quote it so the shell leaves it alone) becomes
  one input per match, sorted; a pattern that matches nothing is kept as it is, so it fails like any
  missing file (one line, exit status 1) instead of vanishing.
- ``--inputs-from FILE``: one path per line (blank lines and ``#`` comments ignored), or a CSV file whose
  header has a ``path`` column. Relative paths are relative to the list file's folder, so a list travels
  with its data; each entry is expanded by the rules above.
- Cameras (``0``, ``/dev/video0``) and stream URLs pass through untouched.
"""

from __future__ import annotations

import csv
import glob
import io
from collections.abc import Iterable
from pathlib import Path

from emodesk.core.sources import IMAGE_EXTENSIONS, STREAM_PATTERN, VIDEO_EXTENSIONS
from emodesk.core.textfiles import read_user_text
from emodesk.errors import SourceError

_GLOB_CHARS = frozenset("*?[")


def _is_passthrough(text: str) -> bool:
    return text.isdigit() or text.startswith("/dev/") or bool(STREAM_PATTERN.match(text))


def _is_glob(text: str) -> bool:
    # an existing file whose name has a bracket or star is a file, not a pattern
    return any(c in _GLOB_CHARS for c in text) and not Path(text).expanduser().exists()


def _expand_folder(folder: Path, text: str) -> list[str]:
    try:
        children = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return [text]  # the source reports why it cannot be listed, in one line
    videos = [p for p in children if p.suffix.lower() in VIDEO_EXTENSIONS]
    if not videos:
        return [text]  # a folder of images: one session, as always
    has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in children)
    # keep the user's spelling of the folder in each path (relative stays relative)
    return [str(Path(text) / p.name) for p in videos] + ([text] if has_images else [])


def expand_input(text: str) -> list[str]:
    """The inputs one command-line item stands for (see the module notes)."""
    if _is_passthrough(text):
        return [text]
    if _is_glob(text):
        matches = sorted(glob.glob(str(Path(text).expanduser()), recursive=True))
        found = [m for m in matches if Path(m).is_file() or Path(m).is_dir()]
        return [out for m in found for out in expand_input(m)] or [text]
    path = Path(text).expanduser()
    if path.is_dir():
        return _expand_folder(path, text)
    return [text]


def read_input_list(list_file: Path) -> list[str]:
    """Paths listed in ``list_file``: one a line, or a CSV with a ``path`` column; relative to its folder."""
    text = read_user_text(list_file, "the input list", SourceError)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    header = [cell.strip().lower() for cell in next(csv.reader([first]), [])]
    as_csv = "path" in header and (len(header) > 1 or first.strip().lower() == "path")
    if as_csv:
        rows = csv.DictReader(io.StringIO(text))
        key = next(k for k in rows.fieldnames or () if k.strip().lower() == "path")
        entries = [(row.get(key) or "").strip() for row in rows]
    elif len(header) > 1 and not (Path(list_file).parent / first.strip()).expanduser().exists():
        raise SourceError(f"{list_file}: looks like a CSV file but its header has no 'path' column ({first.strip()[:80]})")
    else:
        entries = [line.strip() for line in lines if not line.lstrip().startswith("#")]
    base = Path(list_file).parent
    out = []
    for entry in entries:
        if not entry:
            continue
        if _is_passthrough(entry) or Path(entry).expanduser().is_absolute():
            out.append(entry)
        else:
            out.append(str(base / entry))
    return out


def gather_inputs(items: Iterable[str], inputs_from: Path | None = None) -> list[str]:
    """Every input of one batch, in order: the command-line items, then the list file's entries."""
    named = list(items) + (read_input_list(inputs_from) if inputs_from is not None else [])
    return [out for item in named for out in expand_input(str(item))]
