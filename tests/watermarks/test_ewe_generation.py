import keras
import numpy as np
import pytest

from kwm.losses import soft_nearest_neighbour_loss
from kwm.watermarks import (
    class_confusion,
    class_similarity,
    ordered_class_pairs,
    refine_watermarks,
    select_class_pair,
    snnl_input_gradient,
    trigger_position,
    trigger_positions,
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


def test_next_trigger_positions_are_distinct_places_in_score_order():
    gradient = np.zeros((12, 12))
    gradient[1:4, 1:4] = 3.0  # best window at (1, 1); its shifted neighbours score high too
    gradient[8:11, 6:9] = 2.0  # a separate bump: (8, 6)
    gradient[0, 11] = 1.0  # a weak corner: (0, 9) scores 1
    positions = trigger_positions(gradient, (3, 3), count=3)
    assert positions == [(1, 1), (8, 6), (0, 9)]
    assert positions[0] == trigger_position(gradient, (3, 3))
    # Fewer non-overlapping windows than asked: every one of them, none overlapping.
    everything = trigger_positions(gradient, (3, 3), count=1000)
    assert everything[:3] == positions and len(everything) <= 16  # at most 16 fit in 12 x 12
    for i, (r1, c1) in enumerate(everything):
        for r2, c2 in everything[:i]:
            assert abs(r1 - r2) >= 3 or abs(c1 - c2) >= 3
    with pytest.raises(ValueError, match="Received: count=0"):
        trigger_positions(gradient, (3, 3), count=0)


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


def test_class_pair_passes_over_pairs_the_clean_model_confuses():
    rng = np.random.default_rng(0)
    base = rng.random((4, 16))
    base[3] = base[1] + 0.05 * rng.random(16)  # 1 and 3 most alike
    base[2] = base[0] + 0.10 * rng.random(16)  # then 0 and 2
    y = np.repeat(np.arange(4), 20)
    x = base[y] + 0.3 * rng.random((80, 16))
    similarity = class_similarity(x, y, 4)
    order = ordered_class_pairs(similarity)
    assert order[:2] == [(3, 1), (1, 3)] and set(order[2:4]) == {(2, 0), (0, 2)}
    assert len(order) == 12 and len(set(order)) == 12
    predicted = y.copy()
    predicted[np.flatnonzero(y == 3)[:2]] = 1  # 3 -> 1: 2 of 20 (10%)
    confusion = class_confusion(y, predicted, 4)
    assert confusion[3, 1] == pytest.approx(0.1) and confusion[1, 3] == 0
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    # No bound, or a loose one: the most similar pair, larger index as source.
    assert select_class_pair(x, y, 4)[:2] == (3, 1)
    assert select_class_pair(x, y, 4, confusion, max_confusion=0.1)[:2] == (3, 1)
    # 3 -> 1 refused: the same pair the other way round, which the model does not confuse.
    assert select_class_pair(x, y, 4, confusion, max_confusion=0.05)[:2] == (1, 3)
    predicted[np.flatnonzero(y == 1)[:3]] = 3  # 1 -> 3 too: the next pair
    confusion = class_confusion(y, predicted, 4)
    assert select_class_pair(x, y, 4, confusion, max_confusion=0.05)[:2] == order[2]
    with pytest.raises(ValueError, match="Received: max_confusion=-1"):
        select_class_pair(x, y, 4, confusion, max_confusion=-1)
    with pytest.raises(ValueError, match="Received: confusion=None"):
        select_class_pair(x, y, 4, max_confusion=0.05)
    with pytest.raises(ValueError, match=r"Received: confusion.shape=\(3, 3\)"):
        select_class_pair(x, y, 4, np.eye(3), max_confusion=0.05)


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


def _linear_classifier(weights):
    inputs = keras.Input((2, 2, 1))
    hidden = keras.layers.Flatten(name="hidden")(inputs)
    logits = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    model.get_layer("logits").set_weights(weights)
    return model


def test_refinement_suppresses_the_target_until_the_false_rate_is_met():
    # Class 1 wins while the pixel sum exceeds 2: each suppression step lowers every pixel.
    model = _linear_classifier([np.ones((4, 2)) * [0.0, 1.0], np.array([0.0, -2.0])])
    marks = np.full((4, 2, 2, 1), 0.8, "float32")
    refined = refine_watermarks(
        model, marks, marks, target_class=1, layers=["hidden"], step_size=0.05,
        iterations=1, false_rate=0.0, final_suppression_steps=0,
    )
    # 0.8 -> 0.75 -> ... until the sum is at most 2 (0.5 or 0.45 per pixel, by
    # rounding), then one signed SNNL step of 0.05 (up, down or none).
    assert np.all((refined >= 0.4 - 1e-6) & (refined <= 0.55 + 1e-6))
    capped = refine_watermarks(
        model, marks, marks, target_class=1, layers=["hidden"], step_size=0.05,
        iterations=1, false_rate=0.0, max_suppression_steps=2, final_suppression_steps=0,
    )
    assert np.all((capped >= 0.65 - 1e-6) & (capped <= 0.75 + 1e-6))


def test_refinement_raises_the_snnl_with_the_target_class():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(keras.layers.Flatten()(inputs))
    logits = keras.layers.Dense(2, name="logits")(hidden)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    rng = np.random.default_rng(0)
    marks = rng.random((8, 4, 4, 1)).astype("float32") * 0.5
    targets = 0.5 + rng.random((8, 4, 4, 1)).astype("float32") * 0.5
    features = keras.Model(model.input, model.get_layer("hidden").output)
    groups = np.array([1] * 8 + [0] * 8)

    def snnl(m):
        return float(np.mean(soft_nearest_neighbour_loss(
            groups, features(np.concatenate([m, targets])), 1.0)))

    refined = refine_watermarks(
        model, marks, targets, target_class=1, layers=["hidden"], temperatures=1.0,
        step_size=0.02, iterations=5, false_rate=1.0, final_suppression_steps=0, batch_size=16,
    )
    assert snnl(refined) > snnl(marks) + 0.01
    assert np.abs(refined - marks).max() <= 5 * 0.02 + 1e-6


def test_refinement_rejects_bad_arguments():
    model = _linear_classifier([np.zeros((4, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="false_rate"):
        refine_watermarks(model, np.zeros((1, 2, 2, 1)), np.zeros((1, 2, 2, 1)), 1, ["hidden"],
                          false_rate=2.0)
