"""Magnitude pruning during fine-tuning with TF-MOT, through a tf_keras twin of a Keras 3 model.

TF-MOT's `prune_low_magnitude` accepts only tf_keras (Keras 2) models. kwm rebuilds the Keras 3
model layer by layer in tf_keras (same classes, same configuration, same weights), prunes and
fine-tunes that twin, strips the pruning wrappers and copies the weights back into a copy of the
Keras 3 model. Importing TF-MOT sets `TF_USE_LEGACY_KERAS=1` for the whole process, so it is
imported here lazily, inside the attack, and the variable is restored afterwards. Models the twin
cannot rebuild (custom layers, shared layers) fall back to kwm's native Keras 3 path: one-shot
magnitude pruning, then fine-tuning with the pruned weights held at zero.
"""

import inspect
import os

import keras
import numpy as np

from kwm import training
from kwm.attacks.pruning import PruningResult, check_ratio, copy_model, magnitude_prune


class TwinUnavailableError(ValueError):
    """A Keras 3 model has layers tf_keras cannot rebuild."""


def _import_tfmot():
    previous = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tensorflow_model_optimization as tfmot
    finally:
        if previous is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = previous
    return tfmot


def _twin_config(layer, cls):
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    config = {}
    for key, value in layer.get_config().items():
        # Initialisers, regularisers and constraints do not matter: the weights are copied.
        if key not in accepted or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        if key == "dtype" and isinstance(value, dict):
            value = value.get("config", {}).get("name", "float32")
        config[key] = value
    return config


def tf_keras_twin(model):
    """Rebuilds a functional Keras 3 model in tf_keras with identical weights.

    Args:
        model: keras.Model. A functional model of standard Keras layers,
            each used once.

    Returns:
        A `tf_keras.Model` computing the same function.

    Raises:
        TwinUnavailableError: a layer has no tf_keras counterpart or is
            shared between several calls.
    """
    import tf_keras

    problems = [
        layer.name
        for layer in model.layers
        if len(layer._inbound_nodes) != 1
        or not hasattr(tf_keras.layers, type(layer).__name__)
        or type(layer).__module__.split(".")[0] != "keras"
    ]
    if problems or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TwinUnavailableError(
            "tf_keras cannot rebuild this model (custom or shared layers, or several inputs or "
            f"outputs). Received: layers {problems} of {model.name}"
        )
    tensors = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            tensors[id(layer.output)] = tf_keras.Input(shape=layer.batch_shape[1:], name=layer.name)
            continue
        cls = getattr(tf_keras.layers, type(layer).__name__)
        twin = cls.from_config(_twin_config(layer, cls))
        inputs = [tensors[id(t)] for t in layer._inbound_nodes[0].input_tensors]
        tensors[id(layer.output)] = twin(inputs[0] if len(inputs) == 1 else inputs)
    twin_model = tf_keras.Model(tensors[id(model.inputs[0])], tensors[id(model.outputs[0])])
    for layer in model.layers:
        if layer.weights:
            twin_model.get_layer(layer.name).set_weights(layer.get_weights())
    return twin_model


class _KeepZeros(keras.callbacks.Callback):
    def __init__(self, masks):
        super().__init__()
        self.masks = masks

    def on_train_batch_end(self, batch, logs=None):
        for name, mask in self.masks.items():
            kernel = self.model.get_layer(name).kernel
            kernel.assign(kernel * mask)


def tfmot_prune(
    model,
    x,
    targets,
    sparsity,
    epochs=2,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose=0,
    backend="auto",
):
    """Prunes the smallest-magnitude weights while fine-tuning (TF-MOT `prune_low_magnitude`).

    Every Dense and Conv2D kernel reaches `sparsity` at the first step
    (`ConstantSparsity`, masks updated every step) and the model is
    fine-tuned on `(x, targets)` for `epochs` with the pruned weights held
    at zero, as an adversary compressing a stolen model would.

    Args:
        model: keras.Model. The (stolen) model; it is not modified.
        x: np.ndarray. The adversary's inputs.
        targets: np.ndarray. Integer labels or `(n, classes)` probabilities.
        sparsity: float. Fraction of each kernel pruned, in [0, 1).
        epochs: int. Fine-tuning epochs.
        batch_size, learning_rate, seed, verbose: training settings.
        backend: `"auto"` (TF-MOT, else the native path), `"tfmot"` (raise
            if the twin cannot be built) or `"native"`.

    Returns:
        A `PruningResult` whose `layer` names the backend used
        (`"tfmot"` or `"native"`) and whose `pruned` is the number of zero
        kernel weights.
    """
    check_ratio(sparsity)
    if backend not in ("auto", "tfmot", "native"):
        raise ValueError(
            f"`backend` must be 'auto', 'tfmot' or 'native'. Received: backend={backend!r}"
        )
    targets = np.asarray(targets)
    soft = targets.ndim == 2
    if seed is not None:
        keras.utils.set_random_seed(seed)
    twin = None
    if backend != "native":
        try:
            twin = tf_keras_twin(model)
        except TwinUnavailableError:
            if backend == "tfmot":
                raise
    copy = copy_model(model)
    if twin is not None:
        import tf_keras

        tfmot = _import_tfmot()
        pruned = tfmot.sparsity.keras.prune_low_magnitude(
            twin,
            pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(sparsity, 0, frequency=1),
        )
        loss = "categorical_crossentropy" if soft else "sparse_categorical_crossentropy"
        pruned.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss=loss)
        pruned.fit(
            x, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
            callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        )
        stripped = tfmot.sparsity.keras.strip_pruning(pruned)
        for layer in copy.layers:
            if layer.weights:
                layer.set_weights(stripped.get_layer(layer.name).get_weights())
        used = "tfmot"
    else:
        copy = magnitude_prune(model, sparsity).model
        masks = {
            layer.name: (np.array(layer.kernel) != 0).astype("float32")
            for layer in copy.layers
            if hasattr(layer, "kernel")
        }
        training.compile_classifier(copy, learning_rate, soft_labels=soft)
        copy.fit(
            x, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose,
            callbacks=[_KeepZeros(masks)],
        )
        used = "native"
    zeros = sum(
        int((np.array(layer.kernel) == 0).sum()) for layer in copy.layers if hasattr(layer, "kernel")
    )
    return PruningResult(model=copy, layer=used, ratio=sparsity, pruned=zeros)
