"""Kept for existing imports: the atomic writers and the JSON writer live in :mod:`emodesk.atomic`, outside
the layers, so that every layer (``inference`` too, which must not import ``core``) writes files one way."""

from emodesk.atomic import atomic_file, atomic_text_file, current_umask, json_dumps, write_json

__all__ = ["atomic_file", "atomic_text_file", "current_umask", "json_dumps", "write_json"]
