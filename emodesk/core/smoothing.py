"""Per-track temporal smoothing of class probabilities, in media time so it is frame-rate independent."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["ProbabilitySmoother"]


@dataclass(frozen=True)
class _State:
    time_s: float
    probs: dict[str, float]


def _normalised(probs: Mapping[str, float]) -> dict[str, float]:
    values = {k: float(v) for k, v in probs.items()}
    total = sum(values.values())
    if not math.isfinite(total) or total <= 0.0:
        # nothing sensible to scale by; hand the values back rather than invent a distribution
        return values
    return {k: v / total for k, v in values.items()}


class ProbabilitySmoother:
    """Exponential smoothing of each track's probabilities.

    The previous smoothed value keeps weight ``0.5 ** (dt / half_life_s)``, so a step change is half
    way after one half-life at any frame rate and a long gap forgets the past. ``half_life_s == 0``
    turns smoothing off: the result is the raw mapping, unchanged. Otherwise results are re-normalised
    to sum to 1 and carry exactly the keys of the latest ``probs``.
    """

    def __init__(self, half_life_s: float = 0.25) -> None:
        if not half_life_s >= 0.0:
            raise ValueError(f"half_life_s must be >= 0, got {half_life_s}")
        self.half_life_s = float(half_life_s)
        self._states: dict[int, _State] = {}

    @property
    def enabled(self) -> bool:
        return self.half_life_s > 0.0

    def update(self, track_id: int, probs: Mapping[str, float], time_s: float) -> dict[str, float]:
        """Fold ``probs`` observed at ``time_s`` into ``track_id``'s history and return the smoothed value."""
        if not self.enabled:
            return dict(probs)
        raw = _normalised(probs)
        previous = self._states.get(track_id)
        dt = time_s - previous.time_s if previous is not None else 0.0
        # dt <= 0 is the same frame again or a seek back: the history does not precede this observation;
        # a changed label set means a different model, whose old values mean nothing here
        if previous is None or dt <= 0.0 or previous.probs.keys() != raw.keys():
            smoothed = raw
        else:
            keep = 0.5 ** (dt / self.half_life_s)
            smoothed = _normalised({k: keep * previous.probs[k] + (1.0 - keep) * v for k, v in raw.items()})
        self._states[track_id] = _State(time_s=time_s, probs=smoothed)
        return dict(smoothed)

    def prune(self, live_ids: Iterable[int]) -> None:
        """Forget every track not in ``live_ids``."""
        live = set(live_ids)
        for track_id in [t for t in self._states if t not in live]:
            del self._states[track_id]

    def reset(self) -> None:
        self._states.clear()
