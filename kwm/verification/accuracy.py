"""Accuracy of a model on task data and on a watermark key, through its API."""

import numpy as np

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


def fidelity(model, reference, x, num_classes=None):
    """Fraction of inputs on which a model's top class is a reference model's top class.

    Extraction's own measure of success (a copy's agreement with the API
    it was stolen from, Jagielski et al., 2020): a copy that agrees with
    its victim on ordinary inputs has learnt the victim's function, not
    just the task, and that is what a watermark's transfer rides on. An
    independent model's fidelity to the victim is the agreement the task
    alone gives.

    Args:
        model: anything `PredictionAPI` accepts, or an `np.ndarray` of the
            suspect's top classes on `x` (e.g. from the predictions its task
            accuracy was computed on).
        reference: anything `PredictionAPI` accepts, or an `np.ndarray` of
            the reference's top classes on `x` (computed once for many
            suspects).
        x: np.ndarray. Inputs, e.g. the task's test split.
        num_classes: int or None. Expected number of classes.

    Examples:

    >>> import numpy as np
    >>> suspect = lambda x: np.eye(2)[[0, 1, 1, 0]]
    >>> fidelity(suspect, np.array([0, 1, 0, 0]), np.zeros((4, 1)))
    0.75
    """
    predicted = model
    if not isinstance(model, np.ndarray):
        predicted = as_prediction_api(model, num_classes=num_classes)(x).argmax(axis=1)
    if not isinstance(reference, np.ndarray):
        reference = as_prediction_api(reference, num_classes=num_classes)(x).argmax(axis=1)
    if reference.shape != predicted.shape:
        raise ValueError(
            "`reference` must be a model or one top class per input of `x` "
            f"({len(predicted)}). Received: reference with shape {reference.shape}"
        )
    return float((predicted == reference).mean())


def watermark_accuracy(model, key):
    """Fraction of the key's verification inputs classified as its target class.

    The papers' "watermark success rate" (EWE) or "watermark accuracy"
    (feature sharing), measured on held-out watermark inputs.
    """
    probabilities = as_prediction_api(model, num_classes=key.num_classes)(key.verify_inputs)
    return float((probabilities.argmax(axis=1) == key.target_class).mean())
