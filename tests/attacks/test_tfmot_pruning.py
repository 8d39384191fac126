"""TF-MOT magnitude pruning through a tf_keras twin, and the native path for what it cannot rebuild."""

import os

import keras
import numpy as np
import pytest

from kwm import architectures, attacks
from kwm.attacks.tfmot_pruning import TwinUnavailableError, tf_keras_twin


@keras.saving.register_keras_serializable(package="kwm_tests")
class Scale(keras.layers.Layer):
    """A custom layer tf_keras has never heard of."""

    def call(self, x):
        return 2.0 * x


def _inputs(shape, n=64):
    return np.random.default_rng(0).random((n, *shape), "float32")


@pytest.mark.parametrize(
    "build, shape",
    [(lambda: architectures.ewe_cnn((16, 16, 1), 3), (16, 16, 1)),
     (lambda: architectures.resnet8((16, 16, 3), 3, fc_units=16), (16, 16, 3))],
)
def test_twin_computes_the_same_function(build, shape):
    model = build()
    x = _inputs(shape)
    twin = tf_keras_twin(model)
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_tfmot_prunes_every_kernel_and_leaves_the_model_alone():
    model = architectures.ewe_cnn((16, 16, 1), 3)
    before = [np.array(w) for w in model.get_weights()]
    x = _inputs((16, 16, 1), 128)
    targets = model.predict(x, verbose=0)
    result = attacks.tfmot_prune(model, x, targets, 0.8, epochs=1, batch_size=32, seed=0)
    assert result.layer == "tfmot"
    for layer in result.model.layers:
        if hasattr(layer, "kernel"):
            assert abs((layer.kernel.numpy() == 0).mean() - 0.8) < 0.01, layer.name
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, np.array(new))
    assert os.environ.get("TF_USE_LEGACY_KERAS") is None  # importing TF-MOT leaked nothing
    assert isinstance(result.model, keras.Model)  # a Keras 3 model again


def _custom_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = Scale(name="scale")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs)


def test_models_tf_keras_cannot_rebuild_take_the_native_path():
    model = _custom_model()
    x = _inputs((8, 8, 1), 96)
    y = np.arange(96) % 3
    with pytest.raises(TwinUnavailableError, match="Received: layers \\['scale'\\]"):
        attacks.tfmot_prune(model, x, y, 0.5, backend="tfmot")
    result = attacks.tfmot_prune(model, x, y, 0.5, epochs=2, batch_size=16, seed=0)
    assert result.layer == "native"
    for name in ("conv", "dense"):
        kernel = result.model.get_layer(name).kernel.numpy()
        assert (kernel == 0).sum() == int(0.5 * kernel.size)  # still pruned after fine-tuning
    with pytest.raises(ValueError, match="Received: backend='tf'"):
        attacks.tfmot_prune(model, x, y, 0.5, backend="tf")
