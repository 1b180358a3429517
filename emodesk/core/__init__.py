"""Frame sources, pipeline, tracker, smoothing, annotators, sessions. No Qt here."""

import os

# FFmpeg's decoder messages must not reach the terminal beside emodesk's one-line reports. OpenCV reads
# this once, when the first capture or writer opens, so it is set here, before any core module can open
# one (the UI's player and recorder import core too). A user's own setting wins. See core/sources.py.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
