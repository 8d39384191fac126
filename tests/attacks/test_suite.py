import keras
import numpy as np
import pytest

from kwm import architectures, extract_model, training
from kwm.attacks import AttackSettings, resolve_attacks, run_attacks


def _student(seed):
    keras.utils.set_random_seed(seed)
    return architectures.ewe_cnn((16, 16, 1), num_classes=3)


@pytest.fixture(scope="module")
def setup():
    from conftest import toy_images

    x, y = toy_images(300, seed=0)
    victim = _student(0)
    training.train_classifier(victim, x, y, epochs=3, batch_size=32, seed=0, verbose=0)
    stolen = extract_model(victim, x, _student(7), epochs=1, batch_size=32, seed=7, verbose=0)
    return victim, stolen.model, x, y


def _run(setup, extraction_seed):
    victim, stolen, x, y = setup
    models = []

    def evaluate(model):
        models.append(model)
        return {"accuracy": 0.0, "watermark_accuracy": 0.0}

    cells = run_attacks(
        stolen, victim, x, x, y, evaluate, attacks="hard_labels",
        settings=AttackSettings(extraction_epochs=1, batch_size=32),
        student=lambda: _student(7), seed=0, extraction_seed=extraction_seed,
    )
    return cells, models[0]


def test_re_extraction_differs_from_the_stolen_copy_only_in_its_answers(setup):
    """With the stolen copy's seed and initial model, a re-extraction is that thief on other labels."""
    victim, _, x, _ = setup
    cells, attacked = _run(setup, extraction_seed=7)
    assert [c["setting"] for c in cells["hard_labels"]] == ["top-1"]
    direct = extract_model(victim, x, _student(7), labels="hard", epochs=1, batch_size=32,
                           seed=7, verbose=0).model
    for a, b in zip(attacked.get_weights(), direct.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # Another thief seed trains another copy: the seed is really used.
    _, other = _run(setup, extraction_seed=8)
    assert not all(np.allclose(a, b) for a, b in zip(other.get_weights(), direct.get_weights()))


def test_resolve_attacks():
    assert resolve_attacks("pruning, hard_labels,pruning") == ("pruning", "hard_labels")
    assert "neural_cleanse" in resolve_attacks("all")
    with pytest.raises(ValueError, match="Received: \\['prune'\\]"):
        resolve_attacks(["prune"])
