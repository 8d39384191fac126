import dataclasses

import keras
import numpy as np
import pytest

from kwm import architectures, watermarks
from kwm.verification import task_accuracy, watermark_accuracy


class _RecordWeights(keras.callbacks.Callback):
    """Snapshots every layer's weights when a training step (fit call) begins."""

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_train_begin(self, logs=None):
        self.snapshots.append(
            {layer.name: [np.array(w) for w in layer.get_weights()] for layer in self.model.layers}
        )


def test_step_two_leaves_the_feature_extractor_bit_identical(toy_data):
    key = watermarks.generate_key(toy_data, "feature_sharing", source_class=0, target_class=2,
                                  trigger=watermarks.PatchTrigger(size=(3, 3)), num_verify=60)
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    record = _RecordWeights()
    history = watermarks.embed_feature_sharing_watermark(
        model, toy_data, key, freeze_up_to="relu3", epochs=3, watermark_epochs=3,
        batch_size=32, seed=0, verbose=0, callbacks=[record],
    )
    assert history["frozen"] == ["conv1", "conv2", "dense1"]
    before_step_two = record.snapshots[1]
    for layer in model.layers:
        for old, new in zip(before_step_two[layer.name], layer.get_weights()):
            if layer.name in history["frozen"]:
                np.testing.assert_array_equal(old, new)  # bit-identical
            else:
                assert not np.array_equal(old, new)  # the decision layer learned
    # The model comes back trainable everywhere, an ordinary Keras model.
    assert all(layer.trainable for layer in model.layers)
    assert task_accuracy(model, toy_data.test.x, toy_data.test.y) > 0.9
    # The last layer alone learned the watermark on the task's features.
    assert watermark_accuracy(model, key) > 0.8


@pytest.mark.parametrize(
    "up_to, frozen",
    [
        (0, []),
        (1, ["conv1"]),
        (-2, ["conv1", "conv2"]),
        ("pool1", ["conv1"]),
        ("dense1", ["conv1", "conv2", "dense1"]),
    ],
)
def test_freeze_depth(up_to, frozen):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    assert watermarks.freeze_feature_extractor(model, up_to) == frozen
    trainable = [layer.name for layer in model.layers if layer.trainable_weights]
    assert trainable == [n for n in ("conv1", "conv2", "dense1", "logits") if n not in frozen]


def test_freeze_rejects_bad_split_points():
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    with pytest.raises(ValueError, match="Received: up_to='dense9'"):
        watermarks.freeze_feature_extractor(model, "dense9")
    with pytest.raises(ValueError, match="no layer with weights"):
        watermarks.freeze_feature_extractor(model, "logits")
    with pytest.raises(ValueError, match="no layer with weights"):
        watermarks.freeze_feature_extractor(model, 4)
    with pytest.raises(ValueError, match=r"Received: up_to=7"):
        watermarks.freeze_feature_extractor(model, 7)


def test_frozen_batch_normalisation_keeps_its_statistics(toy_data):
    """On a ResNet, step 2 must not move the frozen batch-norm moving means and variances."""
    rgb = np.repeat(toy_data.train.x, 3, axis=-1)
    data = dataclasses.replace(
        toy_data,
        train=dataclasses.replace(toy_data.train, x=rgb),
        test=dataclasses.replace(toy_data.test, x=np.repeat(toy_data.test.x, 3, axis=-1)),
    )
    key = watermarks.generate_key(data, "feature_sharing", source_class=0, target_class=2,
                                  trigger=watermarks.PatchTrigger(size=(3, 3)), num_verify=60)
    model = architectures.resnet8(input_shape=(16, 16, 3), num_classes=3)
    record = _RecordWeights()
    history = watermarks.embed_feature_sharing_watermark(
        model, data, key, freeze_up_to="features", epochs=2, watermark_epochs=2,
        batch_size=32, seed=0, verbose=0, callbacks=[record],
    )
    assert history["frozen"][-1] == "stage3_block1_bn2" and "logits" not in history["frozen"]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 9
    for layer in norms:
        # moving mean and variance changed in step 1 (training mode) ...
        assert not np.array_equal(record.snapshots[0][layer.name][2], record.snapshots[1][layer.name][2])
        # ... and not at all in step 2.
        for old, new in zip(record.snapshots[1][layer.name], layer.get_weights()):
            np.testing.assert_array_equal(old, new)
    assert not np.array_equal(record.snapshots[1]["logits"][0], model.get_layer("logits").get_weights()[0])
