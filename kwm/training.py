"""Training helpers shared by watermarking methods, attacks and recipes."""

import keras
import numpy as np


def adam(learning_rate=1e-3):
    """Adam as configured in the EWE reference code (beta_2 0.99, epsilon 1e-5)."""
    return keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.99, epsilon=1e-5)


def compile_classifier(model, learning_rate=1e-3, soft_labels=False):
    """Compiles a classifier with Adam and cross-entropy (on its logits, if it outputs logits).

    Args:
        model: keras.Model. Outputs class probabilities, or logits (a
            keras-hub classifier; `kwm.export.outputs_logits`).
        learning_rate: float. Adam learning rate.
        soft_labels: bool. Targets are probability vectors (extraction on
            soft labels) instead of integer labels.

    Returns:
        The model, compiled (`jit_compile="auto"`: XLA slows CNNs on CPU).
    """
    from kwm.export.serving import outputs_logits

    logits = outputs_logits(model)
    if soft_labels:
        loss = keras.losses.CategoricalCrossentropy(from_logits=logits)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=adam(learning_rate), loss=loss, metrics=metrics)
    return model


def shuffled_for(model, x, y, seed=None):
    """`(x, y)` in a seeded random order if `model` is a keras-hub task (whose `fit` ignores
    `shuffle`), else unchanged (`fit` shuffles them)."""
    if getattr(model, "preprocessor", None) is None:
        return x, y
    order = np.random.default_rng(seed).permutation(len(y))
    return np.asarray(x)[order], np.asarray(y)[order]


def train_classifier(
    model,
    x,
    y,
    epochs,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose="auto",
    callbacks=None,
):
    """Trains a classifier on integer labels with `model.fit`.

    Args:
        model: keras.Model. Outputs class probabilities.
        x: np.ndarray. Inputs.
        y: np.ndarray. Integer labels.
        epochs: int. Number of epochs.
        batch_size: int. Batch size.
        learning_rate: float. Adam learning rate.
        seed: int or None. Seeds Python, NumPy and TensorFlow first.
        verbose: Keras verbosity (progress bars by default).
        callbacks: list of keras callbacks.

    Returns:
        The `History` of `model.fit`.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    x, y = shuffled_for(model, x, y, seed)
    compile_classifier(model, learning_rate)
    return model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
        callbacks=callbacks,
    )

