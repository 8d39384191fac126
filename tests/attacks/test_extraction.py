import numpy as np
import pytest

from kwm import architectures, extract_model, training
from kwm.attacks import hard_labels


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
