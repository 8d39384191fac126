import keras
import numpy as np
import pytest

from kwm.losses import soft_nearest_neighbour_loss
from kwm.watermarks import (
    class_similarity,
    select_class_pair,
    snnl_input_gradient,
    trigger_position,
)


def test_trigger_goes_where_the_planted_gradient_is_largest():
    gradient = np.random.default_rng(0).normal(0, 0.01, size=(28, 28, 1))
    gradient[20:23, 5:8, 0] += 1.0  # planted
    gradient[2:5, 2:5, 0] -= 5.0  # large but negative: a white patch would lower the SNNL
    assert trigger_position(gradient, (3, 3)) == (20, 5)


def test_trigger_position_uses_the_pattern_and_all_channels():
    gradient = np.zeros((10, 10, 3))
    gradient[6, 1, :] = 1.0  # only a diagonal pattern's first pixel fits here...
    gradient[2, 2, 0] = gradient[3, 3, 1] = 2.0  # ...while this matches the diagonal
    assert trigger_position(gradient, (2, 2), trigger_pattern=np.eye(2)) == (2, 2)
    assert trigger_position(gradient, (1, 1)) == (6, 1)  # three channels of 1 beat one of 2


def test_class_pair_by_average_cosine_similarity():
    rng = np.random.default_rng(0)
    base = rng.random((4, 16))
    base[3] = base[1] + 0.05 * rng.random(16)  # classes 1 and 3 look alike
    y = np.repeat(np.arange(4), 20)
    x = base[y] + 0.3 * rng.random((80, 16))
    source, target, similarity = select_class_pair(x, y, 4)
    assert (source, target) == (3, 1)
    # S[a, b] is the mean pairwise cosine similarity, checked by brute force.
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    brute = (unit[y == 0] @ unit[y == 2].T).mean()
    assert similarity[0, 2] == pytest.approx(brute)
    np.testing.assert_allclose(class_similarity(x, y, 4), similarity.T)


def test_snnl_input_gradient_matches_finite_differences():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3, 3, 1))
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    rng = np.random.default_rng(1)
    marks = rng.random((3, 3, 3, 1)).astype("float32")
    targets = rng.random((3, 3, 3, 1)).astype("float32")
    gradient = snnl_input_gradient(model, ["hidden"], marks, targets, temperatures=0.5, batch_size=6)
    features = keras.Model(model.input, model.get_layer("hidden").output)
    groups = np.array([1, 1, 1, 0, 0, 0])

    def snnl(m):
        h = features(np.concatenate([m, targets]).astype("float64"))
        return float(np.mean(soft_nearest_neighbour_loss(groups, h, 0.5)))

    eps = 1e-3
    numeric = np.zeros((3, 3, 1))
    for index in np.ndindex(3, 3, 1):
        for i in range(3):  # the mean over candidates of d SNNL / d candidate_i
            plus, minus = marks.copy(), marks.copy()
            plus[(i,) + index] += eps
            minus[(i,) + index] -= eps
            numeric[index] += (snnl(plus) - snnl(minus)) / (2 * eps) / 3
    np.testing.assert_allclose(gradient, numeric, atol=2e-3)
