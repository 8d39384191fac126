"""Accuracy of a model on task data and on a watermark key, through its API."""

from kwm.prediction_api import as_prediction_api


def task_accuracy(model, x, y, num_classes=None):
    """Top-1 accuracy of any prediction API on labelled task data.

    Args:
        model: anything `PredictionAPI` accepts.
        x: np.ndarray. Inputs.
        y: np.ndarray. Integer labels.
        num_classes: int or None. Expected number of classes.

    Examples:

    >>> import numpy as np
    >>> task_accuracy(lambda x: np.eye(2)[[0, 1, 1]], np.zeros((3, 1)), np.array([0, 1, 0]))
    0.6666666666666666
    """
    probabilities = as_prediction_api(model, num_classes=num_classes)(x)
    return float((probabilities.argmax(axis=1) == y).mean())


def watermark_accuracy(model, key):
    """Fraction of the key's verification inputs classified as its target class.

    The papers' "watermark success rate" (EWE) or "watermark accuracy"
    (feature sharing), measured on held-out watermark inputs.
    """
    probabilities = as_prediction_api(model, num_classes=key.num_classes)(key.verify_inputs)
    return float((probabilities.argmax(axis=1) == key.target_class).mean())
