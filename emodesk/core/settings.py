"""Analysis settings: one declarative schema, and the frozen ``Settings`` object it validates.

``SCHEMA`` is the single source of truth for every analysis setting: name, type, range, default, help
text, the dialog's label and unit, and the choices (model ids come from the manifest). ``Settings``
validates against it, the CLI builds its options from it (``emodesk.cli.common.add_setting_options``),
and the settings dialog builds its form and checks stored values with it (``emodesk.ui.settings_*``).
So a value is valid or invalid the same way everywhere, and a new setting is one entry here plus its
dataclass field.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from emodesk.errors import EmodeskError, ModelError, SettingError
from emodesk.inference.manifest import CLASSIFIER, DETECTOR, load_manifest
from emodesk.inference.providers import DEVICES

log = logging.getLogger(__name__)

# the kinds of value a setting can hold
MODEL = "model"  # a manifest id of ``model_kind`` (None = the manifest's default)
CHOICE = "choice"  # one of ``choices``
INT = "int"
FLOAT = "float"
BOOL = "bool"
SIZE = "size"  # (width, height), each a multiple of ``multiple_of``

_NONE_WORDS = frozenset({"", "none", "default", "@invalid()"})  # how "no value" is written in text
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class SettingSpec:
    """One analysis setting. Ranges are inclusive; ``*_exclusive`` makes a bound open."""

    name: str
    kind: str
    default: Any
    help: str  # one sentence: the CLI's help and the dialog's tooltip
    label: str  # the dialog's row label
    group: str  # the dialog's group box
    metavar: str | None = None
    optional: bool = False  # None is allowed and means ``none_text``
    none_text: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    multiple_of: int | None = None
    choices: tuple[str, ...] = ()
    choice_notes: tuple[tuple[str, str], ...] = ()  # (choice, what it means), shown beside it in the dialog
    model_kind: str | None = None
    zero_text: str = ""  # what 0 means, e.g. "off", "all"
    unit: str = ""  # shown after the value ("s", "fps")
    decimals: int = 2
    step: float = 1.0

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    # ------------------------------------------------------------------ what is allowed, in words

    def allowed(self) -> str:
        """What a valid value looks like, for messages: 'a number from 0 to 60 s; 0 = off'."""
        if self.kind == MODEL:
            return f"one of {', '.join(self.model_choices()) or 'the known models'}"
        if self.kind == CHOICE:
            return f"one of {', '.join(self.choices)}"
        if self.kind == BOOL:
            return "true or false"
        if self.kind == SIZE:
            lo, hi, m = int(self.minimum or 0), int(self.maximum or 0), self.multiple_of or 1
            return f"WIDTHxHEIGHT, each side a multiple of {m} from {lo} to {hi} (e.g. 640x640)"
        what = "a whole number" if self.kind == INT else "a number"
        lo = f"{self.minimum:g}" if self.minimum is not None else None
        hi = f"{self.maximum:g}" if self.maximum is not None else None
        if lo is not None and hi is not None:
            text = f"{what} above {lo} up to {hi}" if self.min_exclusive else f"{what} from {lo} to {hi}"
        elif lo is not None:
            text = f"{what} above {lo}" if self.min_exclusive else f"{what} of {lo} or more"
        else:
            text = what
        if self.unit:
            text += f" {self.unit}"
        if self.zero_text:
            text += f"; 0 = {self.zero_text}"
        return text

    def model_choices(self) -> tuple[str, ...]:
        """The manifest's ids of this model kind (empty when the manifest cannot be read)."""
        try:
            return tuple(spec.id for spec in load_manifest().of_kind(self.model_kind or ""))
        except EmodeskError as exc:  # reported when a model is loaded; do not fail a setting on it
            log.debug("cannot list %s models from the manifest: %s", self.model_kind, exc)
            return ()

    # ------------------------------------------------------------------------------- checking

    def parse(self, raw: Any) -> Any:
        """A value from text (the command line, QSettings) or from Python, checked; ValueError says why."""
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in _NONE_WORDS and self.kind != BOOL):
            if self.optional:
                return None
            raise ValueError(f"a value is required: {self.allowed()}")
        value = self._convert(raw)
        self.check(value)
        return value

    def _convert(self, raw: Any) -> Any:
        if self.kind in (MODEL, CHOICE):
            return str(raw).strip() if self.kind == MODEL else str(raw).strip().lower()
        if self.kind == BOOL:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in _TRUE_WORDS:
                return True
            if text in _FALSE_WORDS:
                return False
            raise ValueError("not true or false")
        if self.kind == SIZE:
            parts = raw if isinstance(raw, (list, tuple)) else str(raw).lower().replace(",", "x").split("x")
            if len(parts) != 2:
                raise ValueError(f"not WIDTHxHEIGHT: {self.allowed()}")
            w, h = (_to_int(p) for p in parts)
            return (w, h)
        if self.kind == INT:
            return _to_int(raw)
        return _to_float(raw)

    def check(self, value: Any) -> None:
        """Raise ValueError (one clause, no setting name) unless ``value`` is allowed."""
        if value is None:
            if not self.optional:
                raise ValueError(f"a value is required: {self.allowed()}")
            return
        if self.kind == MODEL:
            self._check_model(value)
        elif self.kind == CHOICE:
            if value not in self.choices:
                raise ValueError(f"not {self.allowed()}")
        elif self.kind == BOOL:
            if not isinstance(value, bool):
                raise ValueError("not true or false")
        elif self.kind == SIZE:
            self._check_size(value)
        else:
            self._check_number(value)

    def _check_number(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"not {self.allowed()}")
        if self.kind == INT and not float(value).is_integer():
            raise ValueError(f"not {self.allowed()}")
        if not math.isfinite(value):  # NaN or Infinity would also make the session invalid JSON
            raise ValueError(f"not a finite number: {self.allowed()}")
        too_low = self.minimum is not None and (value <= self.minimum if self.min_exclusive else value < self.minimum)
        too_high = self.maximum is not None and value > self.maximum
        if too_low or too_high:
            raise ValueError(f"out of range: {self.allowed()}")

    def _check_size(self, value: Any) -> None:
        if not isinstance(value, tuple) or len(value) != 2 or not all(_is_int(v) for v in value):
            raise ValueError(f"not {self.allowed()}")
        lo, hi, m = int(self.minimum or 1), int(self.maximum or 1 << 30), self.multiple_of or 1
        if not all(lo <= v <= hi for v in value):
            raise ValueError(f"out of range: {self.allowed()}")
        if any(v % m for v in value):
            rounded = "x".join(str(-(-v // m) * m) for v in value)
            raise ValueError(f"each side must be a multiple of {m} (the detector's stride); try {rounded}")

    def _check_model(self, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError(f"not {self.allowed()}")
        try:
            manifest = load_manifest()
        except EmodeskError as exc:  # a broken manifest is reported when a model is loaded
            log.debug("cannot check model id %r against the manifest: %s", value, exc)
            return
        known = self.model_choices()
        if value in known:
            return
        other = next((spec for spec in manifest.models if spec.id == value), None)
        if other is not None:
            raise ValueError(f"model {value!r} is {_KIND_WORDS.get(other.kind, other.kind)}, not {self._kind_words()}; known: {', '.join(known)}")
        raise ValueError(f"unknown model {value!r}; known {self._kind_words()[2:].lstrip()}s: {', '.join(known)}")

    def _kind_words(self) -> str:
        return _KIND_WORDS.get(self.model_kind or "", f"a {self.model_kind}")

    # --------------------------------------------------------------------------------- output

    def format(self, value: Any) -> str:
        """The value as the command line writes it (``640x480``, ``none``)."""
        if value is None:
            return "none"
        if self.kind == SIZE:
            return "x".join(str(v) for v in value)
        if self.kind == BOOL:
            return "true" if value else "false"
        return f"{value:g}" if isinstance(value, float) else str(value)


_KIND_WORDS = {DETECTOR: "a face detector", CLASSIFIER: "an emotion model"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError(f"{raw:g} is not a whole number")
        return int(raw)
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ValueError(f"{str(raw).strip()!r} is not a whole number") from None


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("a boolean is not a number")
    try:
        return float(raw if isinstance(raw, (int, float)) else str(raw).strip())
    except ValueError:
        raise ValueError(f"{str(raw).strip()!r} is not a number") from None


MODELS_GROUP = "Models"
ANALYSIS_GROUP = "Analysis"
ADVANCED_GROUP = "Advanced"

# the order here is the order of the CLI options and of the dialog's rows
SCHEMA: tuple[SettingSpec, ...] = (
    SettingSpec(
        "detector", MODEL, None, "face detector model id (see `emodesk models list`)", "Face detector",
        MODELS_GROUP, metavar="ID", optional=True, none_text="the manifest's default", model_kind=DETECTOR,
    ),
    SettingSpec(
        "emotion", MODEL, None, "emotion model id (see `emodesk models list`)", "Emotion model",
        MODELS_GROUP, metavar="ID", optional=True, none_text="the manifest's default", model_kind=CLASSIFIER,
    ),
    SettingSpec(
        "device", CHOICE, "auto", "where models run: auto = CUDA when it works, else the CPU; cuda and "
        "tensorrt fail clearly when unavailable (tensorrt builds an engine per input size on first use)",
        "Device", MODELS_GROUP, choices=DEVICES,
        choice_notes=(("auto", "CUDA when it works, else the CPU"), ("tensorrt", "builds an engine per input size on first use")),
    ),
    SettingSpec(
        "threshold", FLOAT, None, "minimum face detection score; lower finds more faces (and more false ones)",
        "Detection threshold", ANALYSIS_GROUP, metavar="P", optional=True, none_text="the model's default",
        minimum=0.01, maximum=0.99, step=0.05,
    ),
    SettingSpec(
        "smoothing", FLOAT, 0.25, "half-life of the per-face smoothing of the emotion probabilities; raw "
        "values are always kept too", "Smoothing half-life", ANALYSIS_GROUP, metavar="SECONDS",
        minimum=0.0, maximum=60.0, zero_text="off", unit="s", step=0.05,
    ),
    SettingSpec(
        "detect_every", INT, 1, "run the face detector on every N-th frame and track faces in between",
        "Detect faces on every N-th frame", ANALYSIS_GROUP, metavar="N", minimum=1, maximum=100,
    ),
    SettingSpec(
        "adaptive_detection", BOOL, False, "run the face detector only when tracking is uncertain (no face yet, "
        "change outside the tracked faces, a poor prediction, a shot cut, at least once a second) and at an "
        "input size fitted to the faces present; detect_every is then not used", "Detect only when needed",
        ANALYSIS_GROUP,
    ),
    SettingSpec(
        "max_faces", INT, 0, "analyse only the N largest faces of each frame", "Max faces", ANALYSIS_GROUP,
        metavar="N", minimum=0, maximum=1000, zero_text="all",
    ),
    SettingSpec(
        "sample_fps", FLOAT, None, "analyse N frames per second of a video file (the first frame at or after "
        "every 1/N s; the others are counted as skipped)", "Analyse", ANALYSIS_GROUP, metavar="N",
        optional=True, none_text="every frame", minimum=0.0, min_exclusive=True, maximum=1000.0,
        unit="frames per second", step=1.0,
    ),
    SettingSpec(
        "det_size", SIZE, None, "detector input size", "Detector input size", ADVANCED_GROUP,
        metavar="WxH", optional=True, none_text="the model's default (640x640)", minimum=32, maximum=4096,
        multiple_of=32,
    ),
    SettingSpec(
        "track_max_age_s", FLOAT, 1.0, "how long a face may go undetected before its ID is retired",
        "Keep lost faces for", ADVANCED_GROUP, metavar="SECONDS", minimum=0.0, min_exclusive=True,
        maximum=60.0, unit="s", step=0.25,
    ),
    SettingSpec(
        "shot_cuts", BOOL, True, "reset face IDs at detected shot cuts in video files and streams",
        "Reset IDs at shot cuts", ADVANCED_GROUP,
    ),
    SettingSpec(
        "threads", INT, None, "CPU threads per model", "CPU threads per model", ADVANCED_GROUP, metavar="N",
        optional=True, none_text="the usable cores less one", minimum=1, maximum=256,
    ),
)
SCHEMA_BY_NAME: Mapping[str, SettingSpec] = {spec.name: spec for spec in SCHEMA}


@dataclass(frozen=True)
class Settings:
    """How to analyse; every field is described (type, range, default, help) by its entry in ``SCHEMA``.

    Values are checked on construction: a bad one raises ``SettingError`` naming the setting and what is
    allowed (an unknown model id raises ``ModelError``). Lists are accepted for ``det_size`` and whole
    floats for integer settings; they are stored normalised.
    """

    detector: str | None = None
    emotion: str | None = None
    device: str = "auto"
    threshold: float | None = None
    max_faces: int = 0
    det_size: tuple[int, int] | None = None
    detect_every: int = 1
    adaptive_detection: bool = False
    smoothing: float = 0.25
    track_max_age_s: float = 1.0
    shot_cuts: bool = True
    threads: int | None = None
    sample_fps: float | None = None  # None = every frame

    def __post_init__(self) -> None:
        for f in fields(self):
            spec = SCHEMA_BY_NAME.get(f.name)
            if spec is None:  # a field added without its SCHEMA entry: tests/core/test_settings.py fails on it
                continue
            raw = getattr(self, f.name)
            value = _normalise(spec, raw)
            try:
                spec.check(value)
            except ValueError as exc:
                error = ModelError if spec.kind == MODEL else SettingError
                shown = spec.format(value) if isinstance(value, (int, float, tuple)) and spec.kind != BOOL else repr(raw)
                raise error(f"{f.name} {shown}: {exc}") from None
            if value is not raw:
                object.__setattr__(self, f.name, value)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["det_size"] = list(self.det_size) if self.det_size else None
        return out


def parse_setting(name: str, raw: Any) -> Any:
    """``raw`` (text or a Python value) as setting ``name``; ValueError says what is allowed."""
    return SCHEMA_BY_NAME[name].parse(raw)


def _normalise(spec: SettingSpec, raw: Any) -> Any:
    """Python values of a near type made exact (a list for a size, 2.0 for an int, numpy scalars); text
    is not parsed here: ``Settings(smoothing="0.5")`` is an error, ``parse_setting`` reads text."""
    if raw is None or isinstance(raw, (str, bool)):
        return raw
    if spec.kind == SIZE and isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(v, numbers.Integral) for v in raw):
        return (int(raw[0]), int(raw[1]))
    if spec.kind == INT and isinstance(raw, numbers.Real) and float(raw).is_integer():
        return int(raw)
    if spec.kind == FLOAT and isinstance(raw, numbers.Real):
        return float(raw)
    return raw
