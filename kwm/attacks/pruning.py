"""Removal attacks on a stolen model: neuron pruning, fine-pruning, fine-tuning, magnitude pruning."""

import dataclasses

import keras
import numpy as np

from kwm import training
from kwm.architectures.layers import feature_model, find_layer

_PRUNABLE = (keras.layers.Dense, keras.layers.Conv2D)


@dataclasses.dataclass
class PruningResult:
    """A pruned copy of a model and what was removed.

    Args:
        model: keras.Model. The pruned copy (the input model is untouched).
        layer: str. Layer whose units (or weights) were pruned; `None` for
            magnitude pruning over several layers.
        ratio: float. Fraction requested.
        pruned: np.ndarray. Indices of the pruned units (neuron pruning), or
            the number of zeroed weights (magnitude pruning).
        history: keras.callbacks.History or None. Fine-tuning history.
    """

    model: keras.Model
    layer: object
    ratio: float
    pruned: object
    history: object = None


def copy_model(model):
    """A new model of the same architecture with the same weights (the attacked copy stays untouched)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def check_ratio(ratio):
    """Raises a ValueError unless `ratio` lies in [0, 1]."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"`ratio` must lie in [0, 1]. Received: ratio={ratio}")


def _prunable(model, name):
    try:
        layer = find_layer(model, name)
    except ValueError:
        layer = None
    if not isinstance(layer, _PRUNABLE):
        prunable = [lay.name for lay in model.layers if isinstance(lay, _PRUNABLE)]
        raise ValueError(
            f"`layer` must name a Dense or Conv2D layer of {model.name}: {prunable}. "
            f"Received: layer={name!r}"
        )
    return layer


def _batch_norm_after(model, layer):
    """The BatchNormalization layer fed directly by `layer`'s output, if any."""
    for other in model.layers:
        if isinstance(other, keras.layers.BatchNormalization) and other.input is layer.output:
            return other
    return None


def mean_activations(model, layer, x, activation_layer=None, batch_size=256):
    """Mean activation of each unit of `layer` on inputs `x` (Liu et al., 2018).

    Args:
        model: keras.Model. A functional model.
        layer: str. A Dense or Conv2D layer; its units are its output channels.
        x: np.ndarray. Task inputs.
        activation_layer: str or None. Where to read the activation (e.g. the
            ReLU after `layer`, or after its batch normalisation). Default:
            `layer`'s own output, rectified.
        batch_size: int. Prediction batch size.

    Returns:
        An array `(units,)`: the mean over inputs (and positions, for
        convolutions) of each unit's non-negative activation.
    """
    units = _prunable(model, layer).kernel.shape[-1]
    probe = feature_model(model, [activation_layer or layer])
    a = np.maximum(np.asarray(probe.predict(x, batch_size=batch_size, verbose=0)[0]), 0.0)
    if a.shape[-1] != units:
        raise ValueError(
            f"The activation layer must have {layer}'s {units} units on its last axis. "
            f"Received: activation_layer={activation_layer!r} with shape {a.shape[1:]}"
        )
    return a.reshape(len(a), -1, units).mean(axis=(0, 1))


def prune_neurons(model, layer, x, ratio, activation_layer=None, batch_size=256, activations=None):
    """Removes the units of `layer` that task inputs activate least (pruning attack).

    The pruning defence of Liu et al. (2018) as both papers evaluate it
    (EWE section 5.4, Fig. 13; feature sharing Fig. 5): backdoors tend to
    live in units that task data rarely activates, so the adversary ranks
    the units of a layer by their mean activation on its own task inputs
    and removes the lowest `ratio` of them. A removed unit's kernel column
    and bias are zeroed (and, if a batch normalisation follows, its scale
    and offset), so it outputs 0 for every input.

    Args:
        model: keras.Model. The (stolen) model; it is not modified.
        layer: str. A Dense or Conv2D layer (conv channels are its units).
        x: np.ndarray. The adversary's task inputs.
        ratio: float. Fraction of the layer's units to remove, in [0, 1].
        activation_layer: str or None. See `mean_activations`.
        batch_size: int. Prediction batch size.
        activations: np.ndarray or None. `mean_activations(...)` already
            computed for these inputs (a sweep over ratios ranks once).

    Returns:
        A `PruningResult` with the pruned copy and the removed units.

    Examples:

    >>> import numpy as np, kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1), "float32")
    >>> result = prune_neurons(model, "dense1", x, ratio=0.25)
    >>> len(result.pruned)
    32
    """
    check_ratio(ratio)
    if activations is None:
        activations = mean_activations(model, layer, x, activation_layer, batch_size)
    count = int(round(ratio * len(activations)))
    pruned = np.sort(np.argsort(activations, kind="stable")[:count])
    copy = copy_model(model)
    _zero_units(copy, layer, pruned)
    return PruningResult(model=copy, layer=layer, ratio=ratio, pruned=pruned)


def _zero_units(model, layer, units):
    target = model.get_layer(layer)
    weights = target.get_weights()
    for w in weights:  # the kernel, and the bias if any: units on the last axis
        w[..., units] = 0.0
    target.set_weights(weights)
    norm = _batch_norm_after(model, target)
    if norm is not None:
        weights = norm.get_weights()
        for i, variable in enumerate(norm.weights):
            if variable.name in ("gamma", "beta"):
                weights[i][units] = 0.0
        norm.set_weights(weights)


class _KeepPruned(keras.callbacks.Callback):
    """Re-zeroes the pruned units after every training step (fine-pruning)."""

    def __init__(self, layer, units):
        super().__init__()
        self.layer, self.units = layer, units

    def on_train_batch_end(self, batch, logs=None):
        _zero_units(self.model, self.layer, self.units)


def _fit(model, x, targets, epochs, batch_size, learning_rate, seed, verbose, callbacks):
    if seed is not None:
        keras.utils.set_random_seed(seed)
    targets = np.asarray(targets)
    training.compile_classifier(model, learning_rate, soft_labels=targets.ndim == 2)
    return model.fit(
        x, targets, epochs=epochs, batch_size=batch_size, shuffle=True,
        verbose=verbose, callbacks=callbacks,
    )


def fine_prune(
    model,
    layer,
    x,
    targets,
    ratio,
    epochs=5,
    activation_layer=None,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose=0,
):
    """Prunes `layer` (see `prune_neurons`), then fine-tunes what is left (fine-pruning).

    Liu et al. (2018); EWE Fig. 15 and feature sharing Fig. 6: after
    pruning, the adversary trains the remaining weights on its task inputs
    labelled by the victim's API, recovering accuracy and possibly
    overwriting the watermark. The pruned units stay removed throughout.

    Args:
        model: keras.Model. The (stolen) model; it is not modified.
        layer: str. A Dense or Conv2D layer.
        x: np.ndarray. The adversary's task inputs.
        targets: np.ndarray. Their labels: integers, or probabilities from
            the victim's API (`(n, classes)`).
        ratio: float. Fraction of units to remove.
        epochs: int. Fine-tuning epochs.
        activation_layer: str or None. See `mean_activations`.
        batch_size: int. Batch size.
        learning_rate: float. Adam learning rate.
        seed: int or None. Seed of the fine-tuning.
        verbose: Keras verbosity.

    Returns:
        A `PruningResult` with the fine-tuned copy and its history.
    """
    result = prune_neurons(model, layer, x, ratio, activation_layer)
    keep = _KeepPruned(layer, result.pruned)
    result.history = _fit(
        result.model, x, targets, epochs, batch_size, learning_rate, seed, verbose, [keep]
    )
    return result


def fine_tune(
    model,
    x,
    targets,
    layers="all",
    epochs=5,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose=0,
):
    """Fine-tunes a copy of `model` on a (small) clean set (fine-tuning attack).

    Args:
        model: keras.Model. The (stolen) model; it is not modified.
        x: np.ndarray. The adversary's clean inputs.
        targets: np.ndarray. Integer labels or `(n, classes)` probabilities.
        layers: `"all"` (every layer) or `"last"` (only the last layer with
            weights; the rest frozen).
        epochs: int. Epochs.
        batch_size: int. Batch size.
        learning_rate: float. Adam learning rate.
        seed: int or None. Seed of the fine-tuning.
        verbose: Keras verbosity.

    Returns:
        A `PruningResult` (nothing pruned: `pruned` is empty) with the copy
        and its history.
    """
    if layers not in ("all", "last"):
        raise ValueError(f"`layers` must be 'all' or 'last'. Received: layers={layers!r}")
    copy = copy_model(model)
    if layers == "last":
        weighted = [layer for layer in copy.layers if layer.weights]
        for layer in weighted[:-1]:
            layer.trainable = False
    history = _fit(copy, x, targets, epochs, batch_size, learning_rate, seed, verbose, None)
    for layer in copy.layers:
        layer.trainable = True
    return PruningResult(
        model=copy, layer=layers, ratio=0.0, pruned=np.array([], int), history=history
    )


def magnitude_prune(model, ratio, layers=None):
    """Zeroes the smallest-magnitude weights of each kernel (native Keras 3 magnitude pruning).

    The one-shot form of TF-MOT's `prune_low_magnitude` at a constant
    sparsity: in every Dense and Conv2D kernel (or those named in
    `layers`), the `ratio` fraction of weights with the smallest absolute
    value is set to 0. Biases and batch-norm parameters are kept.

    Args:
        model: keras.Model. The (stolen) model; it is not modified.
        ratio: float. Sparsity of each kernel, in [0, 1].
        layers: sequence of str or None. Layers to prune (default: every
            Dense and Conv2D layer).

    Returns:
        A `PruningResult` whose `pruned` is the number of zeroed weights.

    Examples:

    >>> import kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> result = magnitude_prune(model, 0.5)
    >>> result.pruned == sum(int(np.prod(l.kernel.shape)) // 2
    ...                      for l in model.layers if hasattr(l, "kernel"))
    True
    """
    check_ratio(ratio)
    copy = copy_model(model)
    names = layers or [layer.name for layer in copy.layers if isinstance(layer, _PRUNABLE)]
    zeroed = 0
    for name in names:
        layer = _prunable(copy, name)
        kernel = np.array(layer.kernel)
        count = int(ratio * kernel.size)
        order = np.argsort(np.abs(kernel), axis=None, kind="stable")[:count]
        kernel.reshape(-1)[order] = 0.0
        layer.kernel.assign(kernel)
        zeroed += count
    return PruningResult(model=copy, layer=None, ratio=ratio, pruned=zeroed)
