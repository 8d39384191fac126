import os

import numpy as np
import pytest
import keras
import tensorflow as tf

from kwm import PatchTrigger, architectures, export_for_serving, generate_key
from kwm.export import ServingTemperature, serving_model


def test_export_serves_exactly_and_holds_no_key(toy_data, tmp_path):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    key = generate_key(toy_data, "baseline", 0, 2, trigger=PatchTrigger(), num_verify=20)
    key.save(tmp_path / "key.json")
    path = export_for_serving(model, tmp_path / "served", check_inputs=toy_data.test.x[:16])
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(
        served.serve(tf.constant(toy_data.test.x[:8])).numpy(),
        model.predict(toy_data.test.x[:8], verbose=0),
        atol=1e-6,
    )
    # Nothing of the key is in the export: not its fingerprint, not the bytes of
    # any watermark input.
    blobs = b""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                blobs += f.read()
    assert key.fingerprint.encode() not in blobs
    for row in np.concatenate([key.verify_inputs[:5], key.embed_inputs[:5]]):
        assert row.astype("float32").tobytes() not in blobs


def test_refuses_to_overwrite(tmp_path):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    (tmp_path / "served").mkdir()
    with pytest.raises(FileExistsError, match="Received: path="):
        export_for_serving(model, tmp_path / "served")


def test_serving_at_a_temperature_keeps_decisions_and_softens_answers(toy_data, tmp_path):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    x = toy_data.test.x[:32]
    path = export_for_serving(model, tmp_path / "served", check_inputs=x, temperature=4.0)
    loaded = tf.saved_model.load(path)
    answered = loaded.serve(tf.constant(x)).numpy()
    p = model.predict(x, verbose=0).astype("float64")
    expected = p ** 0.25 / (p ** 0.25).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(answered, expected, atol=1e-5)
    np.testing.assert_array_equal(answered.argmax(1), p.argmax(1))
    assert answered.max(1).mean() < p.max(1).mean()
    # The tempered model shares the classifier's weights; at T = 1 nothing is wrapped.
    served = serving_model(model, 4.0)
    assert served.layers[1] is model and isinstance(served.layers[-1], ServingTemperature)
    assert serving_model(model, 1.0) is model


def test_serving_temperature_layer(tmp_path):
    p = np.array([[0.7, 0.2, 0.1, 0.0]], "float32")
    np.testing.assert_allclose(ServingTemperature(1.0)(p).numpy(), p, atol=1e-6)
    sharpened = ServingTemperature(0.5)(p).numpy()
    np.testing.assert_allclose(sharpened[0, :3], p[0, :3] ** 2 / (p[0, :3] ** 2).sum(), atol=1e-6)
    assert ServingTemperature(1e6)(p).numpy().std() < 1e-4  # every class alike
    layer = ServingTemperature(3.0, epsilon=1e-20)
    restored = ServingTemperature.from_config(layer.get_config())
    assert (restored.temperature, restored.epsilon) == (3.0, 1e-20)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, ServingTemperature(3.0)(keras.layers.Softmax()(inputs)))
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="Received: temperature="):
            ServingTemperature(bad)
    with pytest.raises(ValueError, match="Received: epsilon="):
        ServingTemperature(2.0, epsilon=0.0)


def test_tempering_composes_from_an_api_already_tempered():
    # What benchmarks/reextraction.py relies on to serve a run's victims at another temperature:
    # answers served at T0, re-tempered by T / T0, are softmax(z / T) of the logits.
    from kwm.export.serving_temperature import temper_probabilities

    z = np.random.default_rng(0).normal(scale=6.0, size=(8, 10))
    served_at_4 = temper_probabilities(keras.ops.convert_to_numpy(keras.ops.softmax(z)), 4.0)
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(z / 16.0))
    np.testing.assert_allclose(temper_probabilities(served_at_4, 16.0 / 4.0), expected, atol=1e-6)
    assert not np.allclose(temper_probabilities(served_at_4, 16.0), expected, atol=1e-3)
