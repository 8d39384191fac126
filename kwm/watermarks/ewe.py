"""Entangled Watermark Embedding (EWE): trigger placement and the watermarking phase."""

import numpy as np

from kwm import training
from kwm.watermarks.ewe_generation import snnl_input_gradient, trigger_positions
from kwm.watermarks.ewe_model import EWEModel
from kwm.watermarks.schedule import check_key_matches, fit_on_watermark_schedule
from kwm.watermarks.trigger import PatchTrigger


def ewe_triggers(
    model,
    source_x,
    target_x,
    layers,
    size=(3, 3),
    value=1.0,
    temperatures=100.0,
    distance="cosine",
    max_candidates=1024,
    seed=0,
    count=1,
):
    """Patch triggers where the SNNL input gradient is largest, best first (Algorithm 1, lines 1-2).

    The first is the paper's trigger; the others are the next best
    non-overlapping positions (`trigger_positions`), for an owner who must
    pass over a position (a trigger that moves models without the
    watermark on its own, see `kwm.verification.check_trigger_effect`).

    Args:
        model: keras.Model. The classifier after clean training.
        source_x: np.ndarray. Watermark sources (source-class inputs, of
            the task or of an out-of-distribution dataset).
        target_x: np.ndarray. Task inputs of the target class.
        layers: sequence of str. Entangled layer names.
        size: tuple. Trigger height and width.
        value: float. Trigger pixel value.
        temperatures: float or sequence. SNNL temperatures.
        distance: `"cosine"` or `"euclidean"`.
        max_candidates: int. Sources averaged over (a random subset).
        seed: int. Seed of that subset.
        count: int. How many triggers.

    Returns:
        A list of `PatchTrigger`s with concrete positions, best first.

    Examples:

    >>> import keras, numpy as np
    >>> inputs = keras.Input((8, 8, 1))
    >>> hidden = keras.layers.Dense(4, activation="relu", name="h")(keras.layers.Flatten()(inputs))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    >>> triggers = ewe_triggers(model, x[:8], x[8:], ["h"], size=(2, 2), count=3)
    >>> len(triggers), triggers[0].size
    (3, (2, 2))
    """
    rng = np.random.default_rng(seed)
    sources = source_x[rng.permutation(len(source_x))[:max_candidates]]
    targets = target_x[rng.permutation(len(target_x))]
    gradient = snnl_input_gradient(model, layers, sources, targets, temperatures, distance)
    return [
        PatchTrigger(size=size, value=value, position=position)
        for position in trigger_positions(gradient, size, count=count)
    ]


def ewe_trigger(model, source_x, target_x, layers, **kwargs):
    """A patch trigger placed where the SNNL input gradient is largest (Algorithm 1, lines 1-2).

    Args:
        model, source_x, target_x, layers: as `ewe_triggers`.
        **kwargs: the other arguments of `ewe_triggers` but `count`.

    Returns:
        A `PatchTrigger` with a concrete position: the first of `ewe_triggers`.
    """
    return ewe_triggers(model, source_x, target_x, layers, count=1, **kwargs)[0]


def embed_ewe_watermark(
    model,
    data,
    key,
    layers,
    epochs=0,
    watermark_epochs=10,
    snnl_weight=0.0625,
    temperatures=100.0,
    temperature_learning_rate=0.1,
    distance="cosine",
    temperature_step="temperature",
    batch_size=128,
    ratio=1,
    learning_rate=1e-3,
    seed=0,
    verbose="auto",
    callbacks=None,
):
    """Trains `model` with EWE: optional clean epochs, then entangled watermark batches.

    The EWE reference schedule: `epochs` of task data, then
    `watermark_epochs` in which every `ratio + 1`-th batch is a watermark
    batch trained on Eq. 2 by `EWEModel` (see its docstring for the weight
    convention). Pass `epochs=0` when the model is already trained on the
    task (as when its trigger was placed with `ewe_trigger`).

    Args:
        model: keras.Model. Classifier outputting probabilities.
        data: TaskDataset. Task data.
        key: WatermarkKey. Its `embed_inputs` are the watermarks.
        layers: sequence of str. Entangled layer names.
        epochs: int. Clean epochs first.
        watermark_epochs: int. EWE epochs.
        snnl_weight, temperatures, temperature_learning_rate, distance,
            temperature_step: `EWEModel` arguments.
        batch_size: int. Batch size.
        ratio: int. Task batches per watermark batch (`r`).
        learning_rate: float. Adam learning rate.
        seed: int. Seed of shuffling.
        verbose: Keras verbosity.
        callbacks: list of keras callbacks.

    Returns:
        `(ewe_model, history)`: the trained `EWEModel` (its `classifier` is
        `model`, trained in place) and the `History` of the EWE phase.
    """
    check_key_matches(key, data)
    if epochs:
        training.train_classifier(
            model, data.train.x, data.train.y, epochs=epochs, batch_size=batch_size,
            learning_rate=learning_rate, seed=seed, verbose=verbose, callbacks=callbacks,
        )
    ewe_model = EWEModel(
        model,
        layers,
        snnl_weight=snnl_weight,
        temperatures=temperatures,
        temperature_learning_rate=temperature_learning_rate,
        distance=distance,
        temperature_step=temperature_step,
    )
    ewe_model.compile(
        optimizer=training.adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = fit_on_watermark_schedule(
        ewe_model, data, key, watermark_epochs, batch_size=batch_size, ratio=ratio, seed=seed,
        with_groups=True, verbose=verbose, callbacks=callbacks,
    )
    return ewe_model, history
