"""Atomic file writes: readers see the old file or the complete new one, never half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

from emodesk.errors import OutputError


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
