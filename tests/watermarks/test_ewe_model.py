import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kwm import architectures
from kwm.losses import soft_nearest_neighbour_loss
from kwm.watermarks import EWEModel

LAYERS = ["relu1", "relu3"]


def _model(weight=0.5, lr=0.1, t_lr=2.0, temperature_step="temperature"):
    keras.utils.set_random_seed(0)
    classifier = architectures.ewe_cnn((8, 8, 1), num_classes=3)
    model = EWEModel(classifier, LAYERS, snnl_weight=weight, temperatures=[0.5, 2.0],
                     temperature_learning_rate=t_lr, temperature_step=temperature_step)
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    return model


def _batch():
    rng = np.random.default_rng(0)
    x = rng.random((8, 8, 8, 1)).astype("float32")
    return x, np.array([1, 1, 1, 1, 0, 0, 0, 0]), np.full(8, 2)


def _expected_step(model, x, groups, y, watermark):
    """One SGD step of Eq. 2 (or plain CE) and Algorithm 1 line 14, by hand."""
    features = keras.Model(model.classifier.input,
                           [model.classifier.get_layer(n).output for n in LAYERS]
                           + [model.classifier.output])
    temperatures = [tf.Variable(float(t.numpy())) for t in model.temperatures]
    weights = model.classifier.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        *hidden, probabilities = features(x, training=True)
        ce = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, probabilities))
        snnls = [tf.reduce_mean(soft_nearest_neighbour_loss(groups, h, t))
                 for h, t in zip(hidden, temperatures)]
        loss = ce - 0.5 * tf.add_n(snnls) if watermark else ce
    new_weights = [w.numpy() - 0.1 * g.numpy() for w, g in zip(weights, tape.gradient(loss, weights))]
    t_grads = tape.gradient(snnls, temperatures)
    new_t = [t.numpy() - 2.0 * g.numpy() for t, g in zip(temperatures, t_grads)] if watermark \
        else [t.numpy() for t in temperatures]
    return new_weights, new_t, [float(s) for s in snnls]


def test_watermark_batch_follows_equation_2_and_updates_temperatures():
    model = _model()
    x, groups, y = _batch()
    expected_weights, expected_t, snnls = _expected_step(model, x, groups, y, watermark=True)
    logs = model.train_on_batch((x, groups), y, return_dict=True)
    for w, e in zip(model.classifier.trainable_variables, expected_weights):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-6)
    got_t = [float(t.numpy()) for t in model.temperatures]
    np.testing.assert_allclose(got_t, expected_t, rtol=1e-4)
    assert got_t != [0.5, 2.0]  # the temperatures did move
    assert logs["snnl_relu1"] == pytest.approx(snnls[0], rel=1e-4)


def test_inverse_temperature_step_is_the_reference_codes():
    # The reference code learns T_ref with kernel exp(-d * T_ref / 100): T = 100 / T_ref.
    model = _model(temperature_step="inverse", t_lr=0.5)
    x, groups, y = _batch()
    features = keras.Model(model.classifier.input,
                           [model.classifier.get_layer(n).output for n in LAYERS])
    inverse = [tf.Variable(100.0 / float(t.numpy())) for t in model.temperatures]
    with tf.GradientTape() as tape:
        hidden = features(x, training=True)
        snnls = [tf.reduce_mean(soft_nearest_neighbour_loss(groups, h, 100.0 / t))
                 for h, t in zip(hidden, inverse)]
    expected = [100.0 / (t.numpy() - 0.5 * g.numpy())
                for t, g in zip(inverse, tape.gradient(snnls, inverse))]
    model.train_on_batch((x, groups), y)
    got = [float(t.numpy()) for t in model.temperatures]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # The same epsilon on T itself moves it by a different amount.
    plain = _model(t_lr=0.5)
    plain.train_on_batch((x, groups), y)
    assert not np.allclose([float(t.numpy()) for t in plain.temperatures], got, rtol=1e-3)
    restored = EWEModel.from_config(model.get_config())
    assert restored.temperature_step == "inverse"


def test_task_batch_is_plain_cross_entropy_and_leaves_temperatures():
    model = _model()
    x, _, y = _batch()
    expected_weights, _, _ = _expected_step(model, x, -np.ones(8, "int32"), y, watermark=False)
    model.train_on_batch((x, -np.ones(8, "int32")), y)
    for w, e in zip(model.classifier.trainable_variables, expected_weights):
        np.testing.assert_allclose(w.numpy(), e, rtol=1e-4, atol=1e-6)
    assert [float(t.numpy()) for t in model.temperatures] == [0.5, 2.0]
    # Plain (x, y) batches are task batches too.
    model.train_on_batch(x, y)
    assert [float(t.numpy()) for t in model.temperatures] == [0.5, 2.0]


def test_save_load_round_trip(tmp_path):
    model = _model()
    x, groups, y = _batch()
    model.train_on_batch((x, groups), y)
    config = json.dumps(model.get_config(), sort_keys=True)
    restored = EWEModel.from_config(json.loads(config))
    assert json.dumps(restored.get_config(), sort_keys=True).replace(
        '"trainable": true', "") == config.replace('"trainable": true', "")
    model.save(tmp_path / "ewe.keras")
    loaded = keras.saving.load_model(tmp_path / "ewe.keras")
    assert isinstance(loaded, EWEModel) and loaded.entangled_layers == LAYERS
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose([t.numpy() for t in loaded.temperatures],
                               [t.numpy() for t in model.temperatures], rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="temperature_step"):
        EWEModel(architectures.ewe_cnn((8, 8, 1), num_classes=3), LAYERS, temperature_step="log")
    classifier = architectures.ewe_cnn((8, 8, 1), num_classes=3)
    with pytest.raises(ValueError, match="has no layer 'conv9'"):
        EWEModel(classifier, ["conv9"])
    with pytest.raises(ValueError, match="one positive temperature per entangled layer"):
        EWEModel(classifier, LAYERS, temperatures=[1.0])
    with pytest.raises(ValueError, match="distance"):
        EWEModel(classifier, LAYERS, distance="l1")


def test_compile_takes_the_users_compiled_classifier():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(3, name="logits")(hidden)  # the user's model outputs logits
    classifier = keras.Model(inputs, logits)
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model = EWEModel(classifier, ["hidden"])
    model.compile(snnl_weight=0.25, temperature_learning_rate=0.5)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.snnl_weight == 0.25 and model.temperature_learning_rate == 0.5
    x, groups, y = _batch()
    logs = model.train_on_batch((x, groups), y, return_dict=True)
    assert {"accuracy", "snnl_hidden", "task_loss"} <= set(logs)
    # The task loss is the user's: cross-entropy on logits.
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, classifier(x))
    assert np.isfinite(logs["task_loss"]) and abs(float(expected) - logs["task_loss"]) < 0.5
    with pytest.raises(ValueError, match="snnl_weight"):
        model.compile(snnl_weight=-1.0)
    with pytest.raises(ValueError, match="uncompiled classifier"):
        EWEModel(architectures.ewe_cnn((8, 8, 1), num_classes=3), ["relu3"]).compile()
