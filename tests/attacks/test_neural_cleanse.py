"""Neural Cleanse finds a trigger planted on purpose, and not one in a clean model."""

import numpy as np
import pytest

from kwm import architectures, attacks, training
from kwm.verification import task_accuracy

from conftest import toy_images

NUM_CLASSES = 6
SIZE = 24  # 6 band classes need 24 rows to stay apart
TARGET = 2


def _stamp(x):
    x = x.copy()
    x[:, -4:-1, -4:-1, 0] = 1.0  # a white 3x3 square near the bottom-right corner
    return x


@pytest.fixture(scope="module")
def data():
    x, y = toy_images(1200, num_classes=NUM_CLASSES, size=SIZE, seed=0)
    return x, y


def _train(x, y, backdoor):
    if backdoor:
        poisoned = _stamp(x[:300])
        x = np.concatenate([x, poisoned])
        y = np.concatenate([y, np.full(300, TARGET, "int32")])
    model = architectures.ewe_cnn((SIZE, SIZE, 1), num_classes=NUM_CLASSES)
    training.train_classifier(model, x, y, epochs=6, batch_size=32, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def backdoored(data):
    model = _train(*data, backdoor=True)
    x, y = data
    assert (model.predict(_stamp(x[y != TARGET]), verbose=0).argmax(1) == TARGET).mean() > 0.95
    return model


def test_finds_the_planted_trigger(backdoored, data):
    x, _ = data
    result = attacks.neural_cleanse(backdoored, x[:256], steps=200, l1_weight=1e-2)
    assert result.flagged and result.suspected_class == TARGET
    assert result.anomaly_index > 2
    trigger = result.triggers[TARGET]
    assert trigger.success_rate > 0.9
    # The recovered mask sits on the planted square, not elsewhere.
    corner = trigger.mask[-5:, -5:].sum()
    assert corner > 0.5 * trigger.mask.sum()
    assert set(result.to_dict()) >= {"norms", "anomaly_index", "flagged", "suspected_class"}


def test_adaptive_search_finds_the_planted_trigger_and_working_triggers(backdoored, data):
    """Wang et al.'s schedule: lambda from 0 up and down; each class's smallest *working* trigger."""
    x, _ = data
    result = attacks.neural_cleanse(backdoored, x[:256], steps=300, l1_weight=1e-2, adaptive=True)
    assert result.flagged and result.suspected_class == TARGET, result.to_dict()
    assert min(t.success_rate for t in result.triggers) > 0.9
    trigger = result.triggers[TARGET]
    assert trigger.mask[-5:, -5:].sum() > 0.5 * trigger.mask.sum()


def test_unlearning_removes_the_backdoor(backdoored, data):
    x, y = data
    trigger = attacks.reverse_engineer_trigger(backdoored, x[:256], TARGET, steps=200,
                                               l1_weight=1e-2)
    patched = attacks.unlearn(backdoored, x, y, trigger, fraction=0.2, epochs=2, batch_size=32,
                              seed=0)
    others = _stamp(x[y != TARGET])
    assert (patched.predict(others, verbose=0).argmax(1) == TARGET).mean() < 0.3
    assert task_accuracy(patched, x, y) > 0.9


def test_clean_model_is_not_flagged(data):
    x, y = data
    model = _train(x, y, backdoor=False)
    result = attacks.neural_cleanse(model, x[:256], steps=200, l1_weight=1e-2)
    assert not result.flagged, result.to_dict()


def test_anomaly_index_and_errors():
    np.testing.assert_allclose(attacks.anomaly_indices([5.0, 5.0, 5.0]), 0.0)
    assert attacks.anomaly_indices([1.0, 5.0, 5.0, 5.0])[0] > 1e5  # MAD 0, one far below
    model = architectures.ewe_cnn((8, 8, 1), num_classes=2)
    with pytest.raises(ValueError, match="Received: classes=\\[0, 1\\]"):
        attacks.neural_cleanse(model, np.zeros((4, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="Received: success_threshold=0"):
        attacks.reverse_engineer_trigger(model, np.zeros((4, 8, 8, 1)), 0, adaptive=True,
                                         success_threshold=0)
    trigger = attacks.ReversedTrigger(0, np.zeros((8, 8)), np.zeros((8, 8, 1)), 0.0, 0.0)
    with pytest.raises(ValueError, match="Received: fraction=0"):
        attacks.unlearn(model, np.zeros((4, 8, 8, 1)), np.zeros(4, int), trigger, fraction=0)
