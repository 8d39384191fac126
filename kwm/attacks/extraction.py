"""Model extraction: train a copy of a model from its prediction API alone."""

import dataclasses

import keras
import numpy as np

from kwm import training
from kwm.prediction_api import as_prediction_api


def soft_labels(probabilities):
    """The API's probabilities, unchanged (the default extraction)."""
    return probabilities


def hard_labels(probabilities):
    """One-hot top-1 labels, as the EWE reference code extracts."""
    return np.eye(probabilities.shape[1], dtype="float32")[probabilities.argmax(axis=1)]


_LABELS = {"soft": soft_labels, "hard": hard_labels}


@dataclasses.dataclass
class ExtractionResult:
    """What an extraction attack produced.

    Args:
        model: keras.Model. The stolen copy.
        num_queries: int. Queries the thief made to the API.
        labels: str. Kind of labels trained on.
        history: keras.callbacks.History. Training history of the copy.
    """

    model: keras.Model
    num_queries: int
    labels: str
    history: object = None


def extract_model(
    api,
    queries,
    student,
    labels="soft",
    epochs=20,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose="auto",
    callbacks=None,
):
    """Steals a model by training `student` on the API's answers to `queries`.

    The retraining-based extraction of both papers (EWE section 4.3.3;
    feature-sharing Eq. 1, after Tramer et al. 2016): the thief labels its
    own task inputs - by default the victim's training inputs without
    labels, the strongest case of EWE's threat model - with the victim's
    predictions and trains a fresh model on them with cross-entropy only.

    Args:
        api: anything `PredictionAPI` accepts (Keras model, SavedModel or
            its path, callable) - the thief sees nothing else.
        queries: np.ndarray. The thief's inputs (any modality).
        student: keras.Model. A fresh model to train (same architecture as
            the victim by default in kwm's recipes; any classifier works).
        labels: `"soft"`, `"hard"` or a callable mapping the API's
            `(n, K)` probabilities to training targets of the same shape.
        epochs: int. Training epochs of the copy.
        batch_size: int. Batch size.
        learning_rate: float. Adam learning rate.
        seed: int or None. Seed of the copy's shuffling (build `student`
            after `keras.utils.set_random_seed` to seed its initialisation).
        verbose: Keras verbosity.
        callbacks: list of keras callbacks.

    Returns:
        An `ExtractionResult` with the trained copy and the query count.

    Examples:

    >>> import numpy as np, kwm
    >>> victim = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> queries = np.random.default_rng(0).random((64, 8, 8, 1), "float32")
    >>> result = extract_model(victim, queries,
    ...     kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2), epochs=1, verbose=0)
    >>> result.num_queries
    64
    """
    if isinstance(labels, str):
        if labels not in _LABELS:
            raise ValueError(
                f"`labels` must be one of {sorted(_LABELS)} or a callable. "
                f"Received: labels={labels!r}"
            )
        label_name, transform = labels, _LABELS[labels]
    elif callable(labels):
        label_name, transform = getattr(labels, "__name__", "custom"), labels
    else:
        raise ValueError(
            f"`labels` must be a string or a callable. Received: labels={labels!r}"
        )
    num_classes = student.output_shape[-1]
    api = as_prediction_api(api, num_classes=num_classes)
    before = api.num_queries
    targets = np.asarray(transform(api(queries)), dtype="float32")
    if targets.shape != (len(queries), num_classes):
        raise ValueError(
            f"The label transform must return shape {(len(queries), num_classes)}. "
            f"Received: shape={targets.shape}"
        )
    if seed is not None:
        keras.utils.set_random_seed(seed)
    training.compile_classifier(student, learning_rate, soft_labels=True)
    history = student.fit(
        queries,
        targets,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )
    return ExtractionResult(
        model=student,
        num_queries=api.num_queries - before,
        labels=label_name,
        history=history,
    )
