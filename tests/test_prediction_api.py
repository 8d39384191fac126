import numpy as np
import pytest
import tensorflow as tf

from kwm import InvalidPredictionError, PredictionAPI, architectures, export_for_serving
from kwm.prediction_api import as_prediction_api


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return architectures.ewe_cnn((8, 8, 1), num_classes=3)


def _x(n=10):
    return np.random.default_rng(0).random((n, 8, 8, 1)).astype("float32")


def test_keras_model_savedmodel_and_keras_file_answer_alike(model, tmp_path):
    expected = model.predict(_x(), verbose=0)
    export = export_for_serving(model, tmp_path / "served")
    model.save(tmp_path / "m.keras")
    for source in (model, str(export), tf.saved_model.load(str(export)), tmp_path / "m.keras"):
        api = PredictionAPI(source, num_classes=3, batch_size=4)
        np.testing.assert_allclose(api(_x()), expected, atol=1e-5)
        assert api.num_queries == 10


def test_plain_function_and_query_counting():
    calls = []

    def fn(batch):
        calls.append(len(batch))
        return np.full((len(batch), 2), 0.5)

    api = PredictionAPI(fn, num_classes=2, batch_size=3)
    assert api(np.zeros((7, 1))).shape == (7, 2)
    api(np.zeros((2, 1)))
    assert calls == [3, 3, 1, 2] and api.num_queries == 9


def test_string_inputs_reach_the_function():
    api = PredictionAPI(lambda b: np.eye(2)[[int("good" in s) for s in b]], num_classes=2)
    assert api(np.array(["good film", "bad film"])).argmax(1).tolist() == [1, 0]


@pytest.mark.parametrize(
    "answer, match",
    [
        (lambda b: np.full((len(b), 4), 0.25), r"answers with 4 classes but 3 are expected.*Received: output shape=\(5, 4\)"),
        (lambda b: np.full((len(b) - 1, 3), 1 / 3), r"Received: output shape=\(4, 3\)"),
        (lambda b: np.full((len(b),), 1.0), r"Received: output shape=\(5,\)"),
        (lambda b: np.where(np.eye(len(b), 3) > 0, np.inf, 0.0), "non-finite"),
        (lambda b: np.full((len(b), 3), 2.0), "probabilities"),
        (lambda b: np.array([["a", "b", "c"]] * len(b)), "numbers"),
    ],
)
def test_invalid_answers(answer, match):
    with pytest.raises(InvalidPredictionError, match=match):
        PredictionAPI(answer, num_classes=3)(np.zeros((5, 2)))


def test_as_prediction_api_checks_class_count():
    api = PredictionAPI(lambda b: np.full((len(b), 2), 0.5), num_classes=2)
    assert as_prediction_api(api, num_classes=2) is api
    with pytest.raises(InvalidPredictionError, match="Received: num_classes=2"):
        as_prediction_api(api, num_classes=10)


def test_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="SavedModel directory"):
        PredictionAPI(str(tmp_path))
    with pytest.raises(TypeError, match="Received: int"):
        PredictionAPI(3)
