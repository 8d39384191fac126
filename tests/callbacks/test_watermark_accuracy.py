import keras
import numpy as np
import pytest

from kwm.callbacks import WatermarkAccuracy
from kwm.watermarks import WatermarkKey


def _key(reference_inputs=None):
    return WatermarkKey(
        method="feature_sharing", dataset="toy", num_classes=2, target_class=1,
        source_class=0, source_dataset="other" if reference_inputs is None else "toy",
        trigger=None, seed=0, embed_inputs=np.ones((4, 3), "float32"),
        verify_inputs=np.ones((4, 3), "float32"), reference_inputs=reference_inputs,
        false_rate=None if reference_inputs is not None else {"value": 0.0, "rates": [0.0]},
    )


def _model(bias):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="zeros")])
    model.layers[0].bias.assign(np.array(bias, "float32"))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def test_logs_the_rates_measured_on_the_key():
    model = _model([0.0, 5.0])  # logits: every input goes to class 1, the target
    model.optimizer = keras.optimizers.SGD(0.0)
    history = model.fit(np.zeros((4, 3)), np.ones(4), epochs=1, verbose=0,
                        callbacks=[WatermarkAccuracy(_key(np.zeros((4, 3), "float32")))])
    assert history.history["watermark_accuracy"] == [1.0]
    assert history.history["false_watermark_rate"] == [1.0]


def test_out_of_distribution_key_logs_no_false_rate_and_bad_outputs_are_errors():
    model = _model([5.0, 0.0])
    model.compile(optimizer=keras.optimizers.SGD(0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(np.zeros((4, 3)), np.zeros(4), epochs=1, verbose=0,
                        callbacks=[WatermarkAccuracy(_key())])
    assert history.history["watermark_accuracy"] == [0.0]
    assert "false_watermark_rate" not in history.history
    wide = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    wide.compile(loss="mse")
    with pytest.raises(ValueError, match="one score per class"):
        wide.fit(np.zeros((4, 3)), np.zeros((4, 5)), epochs=1, verbose=0,
                 callbacks=[WatermarkAccuracy(_key())])
    with pytest.raises(ValueError, match="WatermarkKey"):
        WatermarkAccuracy("key.json")
