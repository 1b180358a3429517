"""numpy (OpenCV BGR) frames → QImage/QPixmap: the one conversion every widget uses.

The QImage is always a deep copy, so the numpy buffer may be freed or reused by the reader thread as soon
as the call returns. QPixmap is a GUI-thread-only object: call ``bgr_to_qpixmap`` only there.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def bgr_to_qimage(frame: np.ndarray) -> QImage:
    """A deep-copied QImage of an HxWx3 BGR, HxWx4 BGRA or HxW grayscale uint8 array.

    Non-contiguous arrays (slices, crops, negative strides) are accepted. Other dtypes are clipped to
    0..255 first so that a float image does not turn into noise.
    """
    if frame.dtype != np.uint8:
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
        channels = 1
    elif frame.ndim == 3 and frame.shape[2] == 3:
        # Format_BGR888 lets Qt read OpenCV's channel order directly; no cvtColor needed
        fmt = QImage.Format.Format_BGR888
        channels = 3
    elif frame.ndim == 3 and frame.shape[2] == 4:
        # little-endian ARGB32 is laid out B, G, R, A in memory: OpenCV's BGRA
        fmt = QImage.Format.Format_ARGB32
        channels = 4
    else:
        raise ValueError(f"cannot convert an array of shape {frame.shape} to an image")
    height, width = frame.shape[:2]
    if height == 0 or width == 0:
        return QImage()
    # QImage needs each row contiguous; the row stride may be anything, but keep it simple and safe
    data = np.ascontiguousarray(frame)
    image = QImage(data.data, width, height, width * channels, fmt)
    # .copy() detaches from the numpy buffer, which `data` only keeps alive until we return
    return image.copy()


def bgr_to_qpixmap(frame: np.ndarray) -> QPixmap:
    """A QPixmap of a BGR/grayscale frame (GUI thread only)."""
    return QPixmap.fromImage(bgr_to_qimage(frame))
