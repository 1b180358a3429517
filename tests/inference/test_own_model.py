"""emodesk's own emotion model: the shipped file, its card, and preprocessing shared with training."""

from __future__ import annotations

import hashlib
import importlib.util
import re

import numpy as np
import pytest

from emodesk.inference.base import load_classifier
from emodesk.inference.manifest import CLASSIFIER, load_manifest
from emodesk.inference.types import Detection
from tests.conftest import REPO, SHARED

OWN = [s for s in load_manifest().of_kind(CLASSIFIER) if s.card]


def _recipe():
    spec = importlib.util.spec_from_file_location("recipe", REPO / "models" / "training" / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("spec", OWN, ids=lambda s: s.id)
def test_shipped_weights_match_manifest_and_card(spec) -> None:  # noqa: ANN001
    path = REPO / "models" / spec.file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == spec.sha256
    assert path.stat().st_size == spec.size
    card = (REPO / "models" / spec.card).read_text(encoding="utf-8")
    assert re.search(rf"sha256 `{digest}`", card), "the model card names another file"


def test_an_own_model_is_registered_and_loads_through_the_common_adapter() -> None:
    assert OWN, "no model trained by this project is registered"
    classifier = load_classifier(OWN[-1].id, device="cpu")
    assert classifier.spec.family == "onnx_emotion" and classifier.labels == OWN[-1].labels


@pytest.mark.parametrize("spec", OWN, ids=lambda s: s.id)
def test_manifest_entry_is_what_training_fed(spec) -> None:  # noqa: ANN001
    recipe = _recipe()
    assert dict(spec.input) == recipe.INPUT_SPEC
    assert spec.labels == recipe.LABELS


def test_app_and_training_give_equal_tensors_on_real_images() -> None:
    """The adapter's crop of a whole FER2013 image (a square box) equals the training tensor, bit for bit."""
    recipe = _recipe()
    images, _, _ = recipe.read_split(SHARED / "data" / "fer2013" / "val")
    sample = images[:: len(images) // 40][:40]
    trained_on = recipe.preprocess(sample)
    classifier = load_classifier(OWN[-1].id, device="cpu")
    for i, grey in enumerate(sample):
        bgr = np.repeat(grey[:, :, None], 3, axis=2)  # what a decoded frame looks like
        app = classifier.preprocess(bgr, [Detection((0.0, 0.0, 48.0, 48.0), 1.0, None)])
        np.testing.assert_array_equal(app[0], trained_on[i])


@pytest.mark.parametrize("spec", OWN, ids=lambda s: s.id)
def test_own_model_reads_a_smile_on_a_real_photo(spec) -> None:  # noqa: ANN001
    from emodesk.core.pipeline import Pipeline
    from emodesk.core.settings import Settings
    from emodesk.core.sources import read_image

    pipe = Pipeline(Settings(device="cpu", emotion=spec.id))
    result = pipe.analyze_image(read_image(SHARED / "test_images" / "single_smile.jpg"))
    assert [f.emotion for f in result.faces] == ["happiness"]


def test_the_default_emotion_model_is_the_manifest_default_and_its_card_matches_the_file() -> None:
    """Whatever the manifest marks default is what loads with no id, and it is one of ours with a true card."""
    default = load_manifest().default(CLASSIFIER)
    assert [s.id for s in load_manifest().of_kind(CLASSIFIER) if s.default] == [default.id]
    assert default.card, "the default emotion model is not one of this project's models with a card"
    loaded = load_classifier(device="cpu")
    assert loaded.spec.id == default.id
    digest = hashlib.sha256((REPO / "models" / default.file).read_bytes()).hexdigest()
    assert loaded.info.sha256 == digest == default.sha256
    card = (REPO / "models" / default.card).read_text(encoding="utf-8")
    assert f"sha256 `{digest}`" in card
