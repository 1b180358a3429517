"""Face detector adapters; importing this package registers every detector family."""

from emodesk.inference.detectors import scrfd, yunet  # imported for their @register

__all__ = ["scrfd", "yunet"]
