"""Models: manifest, resolver, execution providers, detectors and emotion classifiers. No Qt here."""
