"""Reading the text files users hand to emodesk (event CSVs, input lists): one encoding rule, one error line."""

from __future__ import annotations

from pathlib import Path

from emodesk.errors import EmodeskError


def read_user_text(path: str | Path, what: str, error: type[EmodeskError] = EmodeskError) -> str:
    """The text of ``path``, UTF-8, without the byte-order mark spreadsheets save (it would otherwise glue
    itself to the first column's name). A file that cannot be read or is not UTF-8 raises ``error`` with
    one line naming it and ``what`` it is ("the events file")."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not UTF-8 text") from None
