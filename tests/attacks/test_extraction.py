import numpy as np
import pytest

from kwm import architectures, extract_model, training
from kwm.attacks import hard_labels, label_transform, quantized_labels, tempered_labels


@pytest.fixture(scope="module")
def victim():
    from conftest import toy_images

    x, y = toy_images(600, seed=0)
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    training.train_classifier(model, x, y, epochs=4, batch_size=32, seed=0, verbose=0)
    return model


def test_soft_label_extraction_copies_the_victim(victim):
    from conftest import toy_images

    queries, _ = toy_images(600, seed=2)
    test_x, test_y = toy_images(300, seed=3)
    result = extract_model(victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3),
                           epochs=4, batch_size=32, seed=0, verbose=0)
    assert result.num_queries == 600 and result.labels == "soft"
    agreement = (result.model.predict(test_x, verbose=0).argmax(1)
                 == victim.predict(test_x, verbose=0).argmax(1)).mean()
    assert agreement > 0.95


def test_hard_labels_are_one_hot():
    probabilities = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], "float32")
    np.testing.assert_array_equal(hard_labels(probabilities), [[0, 1, 0], [1, 0, 0]])


def test_label_transform_sees_only_api_answers(victim):
    seen = {}

    def transform(probabilities):
        seen["shape"] = probabilities.shape
        return hard_labels(probabilities)

    queries = np.zeros((40, 16, 16, 1), "float32")
    result = extract_model(victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3),
                           labels=transform, epochs=1, verbose=0)
    assert seen["shape"] == (40, 3) and result.labels == "transform"


def test_errors(victim):
    student = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    queries = np.zeros((8, 16, 16, 1), "float32")
    with pytest.raises(ValueError, match="Received: labels='argmax'"):
        extract_model(victim, queries, student, labels="argmax")
    with pytest.raises(ValueError, match="label transform must return shape"):
        extract_model(victim, queries, student, labels=lambda p: p[:, :2])


@pytest.mark.parametrize("levels", [2, 3, 10, 1000])
def test_quantized_answers_take_at_most_k_values(levels):
    probabilities = np.random.default_rng(levels).dirichlet(np.full(10, 0.3), size=500)
    q = quantized_labels(levels)(probabilities)
    assert len(np.unique(q)) <= levels
    steps = q.astype("float64") * (levels - 1)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)  # on the grid 0, 1/(k-1), .., 1
    assert (q.max(axis=1) > 0).all()  # every answer still names a class
    np.testing.assert_array_equal(q.argmax(1)[q.max(1) == 1], probabilities.argmax(1)[q.max(1) == 1])
    if levels == 2:
        confident = probabilities.max(1) > 0.5
        np.testing.assert_array_equal(q[confident], hard_labels(probabilities)[confident])
    if levels == 1000:
        assert np.abs(q - probabilities).max() <= 0.5 / 999 + 1e-6


def test_tempered_labels():
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=50)
    np.testing.assert_allclose(tempered_labels(1.0)(p), p, rtol=1e-5)
    sharp, soft = tempered_labels(0.5)(p), tempered_labels(4.0)(p)
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
    assert (soft.max(1) <= p.max(1) + 1e-6).all() and (sharp.max(1) >= p.max(1) - 1e-6).all()
    np.testing.assert_array_equal(sharp.argmax(1), p.argmax(1))


def test_label_names(victim):
    assert label_transform("quantized:4").__name__ == "quantized_4"
    assert label_transform("tempered:2").__name__ == "tempered_2"
    for bad in ("quantized", "quantized:1", "tempered:-1", "soft:2", "quantised:3"):
        with pytest.raises(ValueError, match=f"Received: labels='{bad}'"):
            label_transform(bad)
    queries = np.random.default_rng(0).random((40, 16, 16, 1), "float32")
    result = extract_model(victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3),
                           labels="quantized:2", epochs=1, verbose=0)
    assert result.labels == "quantized:2"


def test_adaptive_extraction_minimises_the_snnl_between_classes(victim):
    from conftest import toy_images

    from kwm.attacks import adaptive_extract_model

    queries, _ = toy_images(600, seed=2)
    plain = extract_model(victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3),
                          epochs=3, batch_size=32, seed=0, verbose=0)
    result = adaptive_extract_model(
        victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3), ["relu2", "relu3"],
        snnl_weight=1.0, temperature=1.0, epochs=3, batch_size=32, seed=0, verbose=0,
    )
    assert result.labels == "soft+snnl" and result.num_queries == 600
    snnl = result.history.history["snnl_relu3"]
    assert snnl[-1] < snnl[0]  # the thief separates the classes as it trains
    from kwm.losses.soft_nearest_neighbour import soft_nearest_neighbour_loss
    from kwm.analysis import layer_outputs

    groups = victim.predict(queries, verbose=0).argmax(1)

    def separation(model):
        return float(np.mean(soft_nearest_neighbour_loss(groups, layer_outputs(model, "relu3", queries), 1.0)))

    assert separation(result.model) < separation(plain.model)
    agreement = (result.model.predict(queries, verbose=0).argmax(1) == groups).mean()
    assert agreement > 0.9  # still a working copy
    with pytest.raises(ValueError, match="Received: snnl_weight=-1"):
        adaptive_extract_model(victim, queries, architectures.ewe_cnn((16, 16, 1), num_classes=3),
                               ["relu3"], snnl_weight=-1)
