"""Removal attacks on tiny models: what they remove is really removed, the input model untouched."""

import keras
import numpy as np
import pytest

from kwm import architectures, attacks, training
from kwm.analysis import layer_outputs
from kwm.verification import task_accuracy

from conftest import toy_images


@pytest.fixture(scope="module")
def model():
    x, y = toy_images(600, seed=0)
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    training.train_classifier(model, x, y, epochs=4, batch_size=32, seed=0, verbose=0)
    return model


@pytest.fixture(scope="module")
def task():
    return toy_images(300, seed=1)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.9, 1.0])
def test_pruned_units_are_silent_and_were_the_least_active(model, task, ratio):
    x, _ = task
    before = _weights(model)
    result = attacks.prune_neurons(model, "dense1", x, ratio, activation_layer="relu3")
    assert len(result.pruned) == round(128 * ratio)
    outputs = layer_outputs(result.model, "relu3", x)
    np.testing.assert_array_equal(outputs[:, result.pruned], 0.0)  # silent on every input
    activations = attacks.mean_activations(model, "dense1", x, activation_layer="relu3")
    kept = np.setdiff1d(np.arange(128), result.pruned)
    if 0 < len(result.pruned) < 128:
        assert activations[result.pruned].max() <= activations[kept].min()
    for old, new in zip(before, _weights(model)):
        np.testing.assert_array_equal(old, new)  # the attacked model is a copy
    if ratio == 0.0:
        np.testing.assert_allclose(result.model.predict(x, verbose=0), model.predict(x, verbose=0))


def test_convolution_channels_before_batch_norm_are_silenced():
    model = architectures.resnet8(input_shape=(16, 16, 3), num_classes=3)
    x = np.random.default_rng(0).random((32, 16, 16, 3), "float32")
    # Give the batch norm an offset, so zeroing the convolution alone would not silence a channel.
    norm = model.get_layer("stage2_block1_bn1")
    norm.beta.assign(np.full(32, 0.5, "float32"))
    result = attacks.prune_neurons(model, "stage2_block1_conv1", x, 0.25,
                                   activation_layer="stage2_block1_relu1")
    outputs = layer_outputs(result.model, "stage2_block1_relu1", x)
    assert len(result.pruned) == 8
    np.testing.assert_array_equal(outputs[..., result.pruned], 0.0)
    assert outputs[..., np.setdiff1d(np.arange(32), result.pruned)].max() > 0


def test_fine_pruning_keeps_the_pruned_units_removed(model, task):
    x, y = task
    pruned = attacks.prune_neurons(model, "dense1", x, 0.9, activation_layer="relu3")
    result = attacks.fine_prune(model, "dense1", x, y, 0.9, epochs=3, batch_size=32,
                                activation_layer="relu3", seed=0)
    np.testing.assert_array_equal(result.pruned, pruned.pruned)
    kernel = result.model.get_layer("dense1").kernel.numpy()
    np.testing.assert_array_equal(kernel[:, result.pruned], 0.0)  # still removed after training
    assert len(result.history.history["loss"]) == 3
    assert task_accuracy(result.model, x, y) >= task_accuracy(pruned.model, x, y)


def test_fine_tuning_the_last_layer_changes_only_it(model, task):
    x, y = task
    result = attacks.fine_tune(model, x, y, layers="last", epochs=1, batch_size=32, seed=0)
    for layer in model.layers:
        changed = any(not np.array_equal(a, b) for a, b in
                      zip(layer.get_weights(), result.model.get_layer(layer.name).get_weights()))
        assert changed == (layer.name == "logits"), layer.name
    assert all(layer.trainable for layer in result.model.layers)
    soft = model.predict(x, verbose=0)
    everything = attacks.fine_tune(model, x, soft, layers="all", epochs=1, batch_size=32, seed=0)
    assert not np.array_equal(everything.model.get_layer("conv1").kernel.numpy(),
                              model.get_layer("conv1").kernel.numpy())
    with pytest.raises(ValueError, match="Received: layers='first'"):
        attacks.fine_tune(model, x, y, layers="first")


@pytest.mark.parametrize("ratio", [0.3, 0.9])
def test_magnitude_pruning_zeroes_the_smallest_weights(model, ratio):
    result = attacks.magnitude_prune(model, ratio)
    total = 0
    for layer in model.layers:
        if not hasattr(layer, "kernel"):
            continue
        old = layer.kernel.numpy()
        new = result.model.get_layer(layer.name).kernel.numpy()
        zeros = new == 0
        assert zeros.sum() == int(ratio * old.size)
        assert np.abs(old[zeros]).max() <= np.abs(old[~zeros]).min()  # the smallest went
        np.testing.assert_array_equal(new[~zeros], old[~zeros])
        np.testing.assert_array_equal(result.model.get_layer(layer.name).bias.numpy(),
                                      layer.bias.numpy())
        total += zeros.sum()
    assert result.pruned == total


def test_bad_arguments(model, task):
    x, _ = task
    with pytest.raises(ValueError, match="Received: layer='relu3'"):
        attacks.prune_neurons(model, "relu3", x, 0.5)
    with pytest.raises(ValueError, match="Received: ratio=1.5"):
        attacks.prune_neurons(model, "dense1", x, 1.5)
    with pytest.raises(ValueError, match="Received: activation_layer='relu2'"):
        attacks.prune_neurons(model, "dense1", x, 0.5, activation_layer="relu2")
    with pytest.raises(ValueError, match="Received: ratio=-0.1"):
        attacks.magnitude_prune(model, -0.1)


def test_model_is_an_ordinary_keras_model_after_pruning(model, task, tmp_path):
    x, _ = task
    result = attacks.prune_neurons(model, "conv2", x, 0.5, activation_layer="relu2")
    path = tmp_path / "pruned.keras"
    result.model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0),
                               result.model.predict(x, verbose=0), atol=1e-6)
