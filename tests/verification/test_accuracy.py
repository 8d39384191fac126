"""Task accuracy, watermark accuracy and fidelity through any prediction API."""

import numpy as np
import pytest

from kwm.verification import fidelity, task_accuracy


def _answers(classes, num_classes=3):
    """A stand-in API that answers one-hot probabilities of fixed classes."""
    return lambda x: np.eye(num_classes, dtype="float32")[classes[: len(x)]]


def test_fidelity_is_the_fraction_of_inputs_where_top_classes_agree():
    x = np.zeros((5, 2), dtype="float32")
    victim = _answers(np.array([0, 1, 2, 2, 1]))
    copy = _answers(np.array([0, 1, 2, 0, 0]))
    assert fidelity(copy, victim, x) == pytest.approx(0.6)
    assert fidelity(victim, victim, x) == 1.0
    # The reference's top classes, computed once, give the same figure.
    assert fidelity(copy, np.array([0, 1, 2, 2, 1]), x) == pytest.approx(0.6)
    # So do the suspect's own top classes (the predictions its task accuracy came from).
    assert fidelity(np.array([0, 1, 2, 0, 0]), victim, x) == pytest.approx(0.6)


def test_fidelity_is_not_task_accuracy():
    # A copy that repeats its victim's mistakes is faithful without being accurate.
    x = np.zeros((4, 1), dtype="float32")
    labels = np.array([0, 0, 1, 1])
    victim = _answers(np.array([1, 1, 1, 1]), num_classes=2)
    copy = _answers(np.array([1, 1, 1, 1]), num_classes=2)
    assert task_accuracy(copy, x, labels) == 0.5
    assert fidelity(copy, victim, x) == 1.0


def test_fidelity_refuses_top_classes_of_another_length():
    x = np.zeros((3, 1), dtype="float32")
    with pytest.raises(ValueError, match="Received: reference with shape"):
        fidelity(_answers(np.array([0, 1, 2])), np.array([0, 1]), x)
