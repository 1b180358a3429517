"""Frame sources, pipeline, tracker, smoothing, annotators, sessions. No Qt here."""
