"""SNNL against a plain NumPy implementation of EWE Eq. 1."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kwm.losses import SoftNearestNeighbourLoss, soft_nearest_neighbour_loss


def numpy_snnl(x, y, temperature, distance):
    x = x.reshape(len(x), -1).astype("float64")
    if distance == "cosine":
        n = x / np.linalg.norm(x, axis=1, keepdims=True)
        d = 1 - n @ n.T
    else:
        d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    terms = []
    for i in range(len(x)):
        num = sum(np.exp(-d[i, j] / temperature) for j in range(len(x)) if j != i and y[j] == y[i])
        den = sum(np.exp(-d[i, k] / temperature) for k in range(len(x)) if k != i)
        terms.append(-np.log(num / den))
    return np.array(terms)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("temperature", [0.5, 2.0, 50.0])
def test_matches_equation_1(distance, temperature):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 3, 2)).astype("float32")
    y = rng.integers(0, 3, size=12)
    while np.bincount(y).min() < 2:
        y = rng.integers(0, 3, size=12)
    expected = numpy_snnl(x, y, temperature, distance)
    got = np.asarray(soft_nearest_neighbour_loss(y, x, temperature, distance))
    np.testing.assert_allclose(got, expected, rtol=2e-4, atol=2e-5)
    loss = SoftNearestNeighbourLoss(temperature, distance)
    assert float(loss(y, x)) == pytest.approx(expected.mean(), rel=2e-4)


def test_limits_separated_low_mixed_high():
    rng = np.random.default_rng(1)
    y = np.array([0] * 8 + [1] * 8)
    centers = np.where(y[:, None] == 0, [5.0, 0.0], [0.0, 5.0])
    separated = centers + 0.05 * rng.normal(size=(16, 2))
    mixed = rng.normal(size=(16, 2))
    low = float(np.mean(soft_nearest_neighbour_loss(y, separated, 1.0, "euclidean")))
    high = float(np.mean(soft_nearest_neighbour_loss(y, mixed, 1.0, "euclidean")))
    assert low < 1e-3
    # Fully mixed groups of 8: about -log(7 / 15) = 0.76.
    assert high > 0.4


def test_tiny_temperature_and_far_points_stay_finite():
    x = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]], "float32")
    y = np.array([0, 0, 1, 1])
    values = np.asarray(soft_nearest_neighbour_loss(y, x, 1e-3, "euclidean"))
    assert np.isfinite(values).all()


def test_single_member_group_gives_no_nan_value_or_gradient():
    x = tf.Variable(np.random.default_rng(2).normal(size=(5, 4)).astype("float32"))
    y = np.array([0, 0, 0, 0, 1])  # group 1 has one member
    with tf.GradientTape() as tape:
        values = soft_nearest_neighbour_loss(y, x, 1.0)
        total = tf.reduce_mean(values)
    gradient = tape.gradient(total, x)
    assert float(values[4]) == 0.0
    assert np.isfinite(values.numpy()).all() and np.isfinite(gradient.numpy()).all()


def test_temperature_variable_gets_a_gradient():
    t = keras.Variable(1.0)
    x = np.random.default_rng(3).normal(size=(6, 4)).astype("float32")
    y = np.array([0, 1, 0, 1, 0, 1])
    with tf.GradientTape() as tape:
        value = SoftNearestNeighbourLoss(t)(y, x)
    assert np.isfinite(float(tape.gradient(value, t.value)))


def test_config_round_trip_and_errors():
    loss = SoftNearestNeighbourLoss(temperature=keras.Variable(3.0), distance="euclidean")
    config = loss.get_config()
    assert config["temperature"] == 3.0
    again = SoftNearestNeighbourLoss.from_config(json.loads(json.dumps(config)))
    assert json.dumps(again.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(again))
    assert isinstance(restored, SoftNearestNeighbourLoss) and restored.distance == "euclidean"
    with pytest.raises(ValueError, match="Received: distance='manhattan'"):
        SoftNearestNeighbourLoss(distance="manhattan")
    with pytest.raises(ValueError, match="temperature"):
        SoftNearestNeighbourLoss(temperature=0)
