"""Classification and calibration metrics, in numpy: what ``emodesk eval`` and ``emodesk models calibrate`` compute.

Classification: accuracy, balanced accuracy, macro F1, per-class precision/recall/F1 and the confusion matrix
(:func:`metrics`). Calibration of the top-1 confidence (:func:`calibration`): expected calibration error over
15 equal-width confidence bins, negative log-likelihood of the true label, and the multi-class Brier score;
:func:`fit_temperature` finds the softmax temperature that minimises the NLL on held-out logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

ECE_BINS = 15
# log-probabilities are floored here so that one confidently wrong image gives a large, finite NLL term
_MIN_PROB = 1e-12


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@dataclass(frozen=True)
class Metrics:
    """Classification metrics over ``labels``; see :func:`metrics`."""

    labels: tuple[str, ...]
    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    per_class: Mapping[str, ClassMetrics]
    confusion: tuple[tuple[int, ...], ...]  # rows = true, columns = predicted, both in ``labels`` order
    misses: tuple[int, ...]  # per true label: predictions that were None (no face found)


def metrics(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str]) -> Metrics:
    """Accuracy, balanced accuracy, macro F1, per-class P/R/F1 and the confusion matrix, in numpy.

    ``y_pred[i] is None`` is a miss (no prediction): wrong, in the support of its true class, in no column.
    Precision of a label never predicted is 0; recall and F1 of a label with no support are 0 and such
    labels are left out of the macro averages (balanced accuracy = mean recall over labels present in
    ``y_true``). Nothing is NaN and numpy emits no warnings.
    """
    labels = tuple(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {labels}")
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    try:
        t = np.fromiter((index[y] for y in y_true), np.int64, len(y_true))
    except KeyError as exc:
        raise ValueError(f"true label {exc.args[0]!r} is not in labels {labels}") from None
    try:
        p = np.fromiter((-1 if y is None else index[y] for y in y_pred), np.int64, len(y_pred))
    except KeyError as exc:
        raise ValueError(f"predicted label {exc.args[0]!r} is not in labels {labels}") from None
    hit = p >= 0
    confusion = np.bincount(t[hit] * k + p[hit], minlength=k * k).reshape(k, k)
    misses = np.bincount(t[~hit], minlength=k)
    support = np.bincount(t, minlength=k)
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    # np.divide with ``where`` leaves 0 where the denominator is 0: defined values, no RuntimeWarning
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support.astype(np.float64), out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    present = support > 0
    n = len(y_true)
    return Metrics(
        labels=labels,
        n=n,
        accuracy=float(tp.sum() / n) if n else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        per_class=MappingProxyType(
            {
                label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
                for i, label in enumerate(labels)
            }
        ),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        misses=tuple(int(v) for v in misses),
    )




@dataclass(frozen=True)
class ReliabilityBin:
    low: float  # the bin holds confidences in (low, high]; the first bin also holds 0
    high: float
    count: int
    confidence: float  # mean top-1 confidence in the bin (0 when empty)
    accuracy: float  # share of the bin's top-1 predictions that are right (0 when empty)


@dataclass(frozen=True)
class Calibration:
    """How far the top-1 confidences are from the accuracies; see :func:`calibration`."""

    n: int
    ece: float
    nll: float
    brier: float
    mean_confidence: float
    accuracy: float
    bins: tuple[ReliabilityBin, ...]

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "ece": self.ece,
            "nll": self.nll,
            "brier": self.brier,
            "mean_confidence": self.mean_confidence,
            "accuracy": self.accuracy,
            "bins": [vars(b).copy() for b in self.bins],
        }


def _checked(probs: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    if probs.ndim != 2 or true.shape != (probs.shape[0],):
        raise ValueError(f"probabilities must be (n, classes) and labels (n,), got {probs.shape} and {true.shape}")
    if len(true) and (true.min() < 0 or true.max() >= probs.shape[1]):
        raise ValueError(f"label indices must lie in 0..{probs.shape[1] - 1}")
    return probs, true


def reliability_bins(probs: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> tuple[ReliabilityBin, ...]:
    """Top-1 confidence in ``bins`` equal-width bins over [0, 1]: count, mean confidence, accuracy."""
    probs, true = _checked(probs, true)
    conf = probs.max(axis=1) if len(true) else np.zeros(0)
    right = (probs.argmax(axis=1) == true) if len(true) else np.zeros(0, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes to bin 0
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    out = []
    for i in range(bins):
        mask = which == i
        count = int(mask.sum())
        out.append(
            ReliabilityBin(
                low=float(edges[i]),
                high=float(edges[i + 1]),
                count=count,
                confidence=float(conf[mask].mean()) if count else 0.0,
                accuracy=float(right[mask].mean()) if count else 0.0,
            )
        )
    return tuple(out)


def expected_calibration_error(probs: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: sum over equal-width top-1 confidence bins of (bin share) x |accuracy - mean confidence|."""
    table = reliability_bins(probs, true, bins)
    n = sum(b.count for b in table)
    return float(sum(b.count / n * abs(b.accuracy - b.confidence) for b in table)) if n else 0.0


def negative_log_likelihood(probs: np.ndarray, true: np.ndarray) -> float:
    """Mean of -log p(true label), natural log; probabilities are floored at 1e-12."""
    probs, true = _checked(probs, true)
    if not len(true):
        return 0.0
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(true)), true], _MIN_PROB))))


def brier_score(probs: np.ndarray, true: np.ndarray) -> float:
    """Multi-class Brier score: mean over images of sum over classes of (p_k - [k is the true label])^2."""
    probs, true = _checked(probs, true)
    if not len(true):
        return 0.0
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(true)), true] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibration(probs: np.ndarray, true: np.ndarray, bins: int = ECE_BINS) -> Calibration:
    """ECE, NLL, Brier, mean confidence, accuracy and the reliability table of ``probs`` against ``true``."""
    probs, true = _checked(probs, true)
    table = reliability_bins(probs, true, bins)
    n = len(true)
    return Calibration(
        n=n,
        ece=expected_calibration_error(probs, true, bins),
        nll=negative_log_likelihood(probs, true),
        brier=brier_score(probs, true),
        mean_confidence=float(probs.max(axis=1).mean()) if n else 0.0,
        accuracy=float(np.mean(probs.argmax(axis=1) == true)) if n else 0.0,
        bins=table,
    )


def softmax_t(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` in float64 (for fitting and measuring; the app uses the adapter's)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit_temperature(logits: np.ndarray, true: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """The temperature T in [low, high] that minimises the NLL of ``softmax(logits / T)`` on ``true``.

    The NLL is convex in 1/T, so a golden-section search over log T finds the minimum; deterministic.
    """
    logits = np.asarray(logits, dtype=np.float64)
    true = np.asarray(true, dtype=np.int64)
    if not len(true):
        raise ValueError("no labelled logits to fit a temperature on")

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(true)), true]))

    a, b = np.log(low), np.log(high)
    ratio = (np.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    for _ in range(80):  # the bracket shrinks by 0.618 per step: far below float precision after 80
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return float(np.exp((a + b) / 2))
