"""Atomic file writes: readers see the old file or the complete new one, never half of it.

Also the one JSON writer: :func:`json_dumps` and :func:`write_json` refuse NaN and Infinity
(``allow_nan=False``), which standard JSON has no spelling for and other languages' parsers reject.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from emodesk.errors import OutputError


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (a tiny window another thread could observe)
    os.umask(mask)
    return mask


def json_dumps(data: Any, *, indent: int | None = None, compact: bool = False) -> str:
    """``json.dumps`` that never writes NaN/Infinity: such a value raises ValueError naming the problem."""
    separators = (",", ":") if compact else None
    try:
        return json.dumps(data, indent=indent, separators=separators, allow_nan=False, ensure_ascii=False)
    except ValueError as exc:
        raise ValueError(f"not a finite number in JSON data (NaN/Infinity cannot be written): {exc}") from exc


def write_json(path: Path | str, data: Any, *, indent: int | None = 1) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; NaN/Infinity become a one-line OutputError."""
    path = Path(path)
    try:
        text = json_dumps(data, indent=indent)
    except ValueError as exc:
        raise OutputError(f"{path}: {exc}") from exc
    with atomic_text_file(path) as out:
        out.write(text + "\n")
    return path


def atomic_text_file(path: Path, *, newline: str | None = None) -> contextlib.AbstractContextManager[TextIO]:
    """Write UTF-8 text to ``path`` atomically (see :func:`atomic_file`)."""
    return atomic_file(path, binary=False, newline=newline)


@contextlib.contextmanager
def atomic_file(path: Path, *, binary: bool = True, newline: str | None = None) -> Iterator[IO]:
    """Write to a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    Any failure removes the temporary file; an OSError becomes a one-line OutputError naming ``path``.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    try:
        # mkstemp creates 0600 and os.replace keeps that mode: give the file the user's usual mode instead
        if hasattr(os, "fchmod"):  # POSIX; Windows has no such modes
            os.fchmod(fd, 0o666 & ~current_umask())
        mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": newline}
        with os.fdopen(fd, **mode) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
