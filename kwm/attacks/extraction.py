"""Model extraction: train a copy of a model from its prediction API alone."""

import dataclasses

import keras
import numpy as np

from kwm import training
from kwm.export.serving_temperature import temper_probabilities
from kwm.prediction_api import as_prediction_api


def soft_labels(probabilities):
    """The API's probabilities, unchanged (the default extraction)."""
    return probabilities


def hard_labels(probabilities):
    """One-hot top-1 labels, as the EWE reference code extracts."""
    return np.eye(probabilities.shape[1], dtype="float32")[probabilities.argmax(axis=1)]


def quantized_labels(levels):
    """A label transform that rounds each probability to one of `levels` values.

    Posterior quantisation (Tramer et al., 2016; feature sharing Fig. 7,
    from 1000 levels down to 2): an API that answers with coarse
    probabilities. Each probability becomes the nearest of
    `0, 1/(levels-1), ..., 1`; a row rounded to all zeros (no class above
    `1/(2(levels-1))`) keeps only its top class at 1, so every answer still
    names a class. Rows are not renormalised, so the answers take at most
    `levels` distinct values.

    Args:
        levels: int. Number of values, at least 2 (2: hard labels wherever
            one class exceeds 0.5).

    Returns:
        A callable `(n, K)` probabilities -> `(n, K)` quantised targets,
        named `quantized_<levels>`.

    Examples:

    >>> import numpy as np
    >>> quantized_labels(3)(np.array([[0.7, 0.2, 0.1]])).tolist()
    [[0.5, 0.0, 0.0]]
    """
    levels = int(levels)
    if levels < 2:
        raise ValueError(f"`levels` must be at least 2. Received: levels={levels}")

    def quantize(probabilities):
        p = np.asarray(probabilities, dtype="float64")
        q = np.round(p * (levels - 1)) / (levels - 1)
        empty = q.sum(axis=1) == 0
        q[empty, p[empty].argmax(axis=1)] = 1.0
        return q.astype("float32")

    quantize.__name__ = f"quantized_{levels}"
    return quantize


def tempered_labels(temperature):
    """A label transform that softens (T > 1) or sharpens (T < 1) the API's probabilities.

    Distillation with temperature (Hinton et al., 2015) as an extraction
    variant: the thief trains on `p ** (1 / T)` renormalised, the softmax of
    the victim's log-probabilities divided by `T`.

    Args:
        temperature: float. Positive.

    Returns:
        A callable named `tempered_<T>`.

    Examples:

    >>> import numpy as np
    >>> tempered_labels(1e9)(np.array([[0.9, 0.1]])).round(3).tolist()
    [[0.5, 0.5]]
    """
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"`temperature` must be positive. Received: temperature={temperature}")

    def temper(probabilities):
        return temper_probabilities(probabilities, temperature, floor=1e-12).astype("float32")

    temper.__name__ = f"tempered_{temperature:g}"
    return temper


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


def label_transform(name):
    """The label transform a name stands for: `soft`, `hard`, `quantized:<k>`, `tempered:<T>`.

    Examples:

    >>> label_transform("quantized:10").__name__
    'quantized_10'
    """
    kind, _, argument = name.partition(":")
    try:
        if kind in _LABELS and not argument:
            return _LABELS[kind]
        if kind == "quantized" and argument:
            return quantized_labels(int(argument))
        if kind == "tempered" and argument:
            return tempered_labels(float(argument))
    except ValueError as e:
        raise ValueError(f"{e} Received: labels={name!r}") from e
    raise ValueError(
        "`labels` must be 'soft', 'hard', 'quantized:<levels>', 'tempered:<temperature>' "
        f"or a callable. Received: labels={name!r}"
    )


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
        labels: `"soft"`, `"hard"`, `"quantized:<levels>"`,
            `"tempered:<T>"`, or a callable mapping the API's `(n, K)`
            probabilities to training targets of the same shape (e.g.
            `quantized_labels(k)`, `tempered_labels(T)`).
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
        transform = label_transform(labels)
        label_name = labels
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
    queries, targets = training.shuffled_for(student, queries, targets, seed)
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
