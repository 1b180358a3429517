"""What every ``emodesk`` command shares: the one-line usage-error parser and the argument types."""

from __future__ import annotations

import argparse
import logging
import sys

EXAMPLES = """\
examples:
  emodesk                                             open the desktop window
  emodesk clip.mp4                                    open the window and analyse clip.mp4
  emodesk analyze clip.mp4 --out sessions/           one video → sessions/clip.session.json
  emodesk analyze a.mp4 b.mov photos/ --out out/      several inputs; a folder of images is one session
  emodesk analyze 0 --duration 30 --out live/         30 s from camera 0 (live mode: drops frames, never lags)
  emodesk analyze clip.mp4 --detector scrfd_2.5g --emotion mini_xception --device cpu
  emodesk analyze clip.mp4 --detect-every 3 --smoothing 0.5 --threshold 0.7
  emodesk models list                                 every known model, its licence and where it is
  emodesk models download scrfd_10g                   fetch a download-only model (sha256 checked)
  emodesk models bench                                ms per face of each emotion model at batch 1 and 8
  emodesk eval faces/ --emotion mini_xception         accuracy, F1, confusion matrix on labelled faces

models are looked for in $EMODESK_MODEL_DIR, the project's models/ folder, then the per-user data folder;
missing ones are downloaded unless --offline or EMODESK_OFFLINE=1.
"""



class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        self.exit(2, f"emodesk: usage error: {message} (see emodesk --help)\n")


def det_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 640x640") from None
    return w, h


def unit_interval(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value




def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="emodesk: %(levelname)s: %(message)s", stream=sys.stderr)
