"""Adaptive extraction (EWE section 4.4): a thief who knows EWE disentangles while it extracts."""

import numpy as np

from kwm import training
from kwm.attacks.extraction import ExtractionResult, label_transform
from kwm.prediction_api import as_prediction_api


def adaptive_extract_model(
    api,
    queries,
    student,
    layers,
    snnl_weight=0.0625,
    temperature=100.0,
    distance="cosine",
    labels="soft",
    epochs=20,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose="auto",
):
    """Extracts a copy while *minimising* the SNNL of its hidden layers between classes.

    EWE section 4.4, "knowledge of the parameters of EWE": an adversary who
    knows EWE is used, but not its classes, can extract while minimising
    the soft nearest neighbour loss (Eq. 1) of the copy's representations
    grouped by the API's top-1 class, pushing classes apart ("task
    separation") so that watermarks entangled with a class are less likely
    to be inherited. The copy minimises `CE + w * sum_l SNNL(h_l, class, T)`
    on every batch; it is `kwm.EWEModel` with the sign of `w` reversed and
    fixed temperatures.

    Args:
        api: anything `PredictionAPI` accepts.
        queries: np.ndarray. The thief's inputs.
        student: keras.Model. A fresh functional model with the named layers.
        layers: sequence of str. Hidden layers whose SNNL the thief minimises.
        snnl_weight: float. `w` (for a batch-mean cross-entropy), >= 0.
        temperature: float. Temperature `T` of every layer, > 0.
        distance: `"cosine"` or `"euclidean"`.
        labels: label kind or transform, as `extract_model`.
        epochs, batch_size, learning_rate, seed, verbose: training settings.

    Returns:
        An `ExtractionResult` whose `history` logs `snnl_<layer>`.

    Examples:

    >>> import numpy as np, kwm
    >>> victim = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> queries = np.random.default_rng(0).random((64, 8, 8, 1), "float32")
    >>> result = adaptive_extract_model(victim, queries,
    ...     kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2), ["relu3"], epochs=1, verbose=0)
    >>> result.labels
    'soft+snnl'
    """
    from kwm.watermarks.ewe_model import EWEModel

    if snnl_weight < 0:
        raise ValueError(
            f"`snnl_weight` must be >= 0 (the thief minimises the SNNL). Received: snnl_weight={snnl_weight}"
        )
    transform = label_transform(labels) if isinstance(labels, str) else labels
    num_classes = student.output_shape[-1]
    api = as_prediction_api(api, num_classes=num_classes)
    before = api.num_queries
    answers = np.asarray(api(queries), "float32")
    targets = np.asarray(transform(answers), "float32")
    groups = answers.argmax(axis=1).astype("int32")
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)
    model = EWEModel(
        student,
        layers,
        snnl_weight=-float(snnl_weight),
        temperatures=temperature,
        temperature_learning_rate=0.0,
        distance=distance,
    )
    training.compile_classifier(model, learning_rate, soft_labels=True)
    history = model.fit(
        (queries, groups), targets, epochs=epochs, batch_size=batch_size, shuffle=True,
        verbose=verbose,
    )
    name = labels if isinstance(labels, str) else getattr(labels, "__name__", "custom")
    return ExtractionResult(
        model=student,
        num_queries=api.num_queries - before,
        labels=f"{name}+snnl",
        history=history,
    )
