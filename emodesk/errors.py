"""User-facing errors: each carries one line that names the thing and what is wrong with it.

The CLI prints ``str(error)`` without a traceback; anything that is not an EmodeskError is a bug.
"""

from __future__ import annotations


class EmodeskError(Exception):
    """A problem with the user's input, environment or models, explained in one line."""


class ModelError(EmodeskError):
    """A model is unknown, missing, corrupt or unusable."""


class ProviderError(EmodeskError):
    """A requested execution provider (cuda, tensorrt) cannot run here."""


class SourceError(EmodeskError):
    """A video, image, folder, camera or stream cannot be opened or read."""


class OutputError(EmodeskError):
    """A result cannot be written where it was asked to go."""


class SettingError(EmodeskError, ValueError):
    """An analysis setting has a value its schema does not allow (a usage error: exit 2 in the CLI)."""
