"""Reviewing a saved session: the typed ``emodesk.load_session`` Session, and its video when it can still
be found (the recorded path, else a file of that name beside the session file).

``load_review(path)`` runs on the jobs thread (it reads the file). The window then shows the session
exactly as stored: nothing is analysed again, so the summary equals the one written at the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emodesk.core.baseline import BaselineInterval
from emodesk.core.results import FrameResult
from emodesk.core.session import SESSION_SUFFIX
from emodesk.core.session_model import Session, load_session


def is_session_file(path: str | Path) -> bool:
    return str(path).lower().endswith(SESSION_SUFFIX)


def find_video(session_path: Path, source_path: str) -> Path | None:
    """The session's video: its recorded path, else a file of that name beside the session file."""
    if not source_path:
        return None
    recorded = Path(source_path)
    if recorded.is_file():
        return recorded
    beside = session_path.parent / recorded.name
    return beside if beside.is_file() else None


@dataclass(frozen=True)
class ReviewSession:
    """A saved session as the window shows it (immutable, so the player thread may read it)."""

    path: Path
    session: Session
    video: Path | None

    def record_at(self, index: int) -> FrameResult | None:
        return self.session.frame_at(index)

    @property
    def source(self):
        return self.session.source

    @property
    def labels(self) -> tuple[str, ...]:
        return self.session.labels

    @property
    def faces(self):
        return self.session.faces

    @property
    def events(self):
        return self.session.events

    @property
    def baseline(self) -> BaselineInterval | None:
        """The baseline interval the file records (``emodesk analyze --baseline`` or the window's B key)."""
        stored = self.session._document.get("baseline")  # Session keeps the whole document; no typed field yet
        return None if not stored else BaselineInterval(float(stored["start_s"]), float(stored["end_s"]))

    @property
    def indices(self) -> tuple[int, ...]:
        return self.session.frames.indices

    @property
    def frames(self) -> int:
        return len(self.session.frames)

    @property
    def status(self) -> str:
        return self.session.status.value

    @property
    def sample_fps(self) -> float | None:
        return self.session.analysis.get("sample_fps")

    @property
    def model_names(self) -> str:
        return " + ".join(str(m.get("id")) for m in self.session.models)


def load_review(path: str | Path) -> ReviewSession:
    """Read a saved session (a one-line EmodeskError when it is not one) and look for its video."""
    path = Path(path)
    session = load_session(path)
    video = find_video(path, session.source.path) if session.source.kind == "video" else None
    return ReviewSession(path, session, video)
