import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kwm import PredictionAPI
from kwm.export import export_for_serving
from kwm.export.serving import outputs_logits, serving_model

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "fine", "film", "dull", "cf", "mn"]


def _tiny_text_classifier():
    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8,
    )
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    return classifier, preprocessor


def test_logits_are_served_as_probabilities():
    classifier, preprocessor = _tiny_text_classifier()
    assert outputs_logits(classifier)
    inputs = preprocessor(tf.constant(["a fine film", "dull"]))
    logits = np.asarray(classifier.predict_on_batch(inputs))
    served = serving_model(classifier, temperature=2.0)
    expected = np.exp(logits / 2) / np.exp(logits / 2).sum(1, keepdims=True)
    np.testing.assert_allclose(served.predict_on_batch(inputs), expected, rtol=1e-5, atol=1e-6)
    # A Keras model that outputs logits, given to the API, answers their softmax.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    z = np.asarray(model.predict_on_batch(x))
    np.testing.assert_allclose(PredictionAPI(model, num_classes=2)(x),
                               np.exp(z) / np.exp(z).sum(1, keepdims=True), rtol=1e-5)


def test_a_string_input_savedmodel_answers_raw_text(tmp_path):
    classifier, preprocessor = _tiny_text_classifier()
    texts = np.array(["a fine film", "dull dull film", "cf a film mn", "unknown words"],
                     dtype=object)
    path = export_for_serving(classifier, tmp_path / "served", temperature=4.0,
                              preprocessor=preprocessor, check_inputs=texts)
    api = PredictionAPI(path, num_classes=2)
    answers = api(texts)
    logits = np.asarray(classifier.predict_on_batch(preprocessor(tf.constant(texts))))
    expected = np.exp(logits / 4) / np.exp(logits / 4).sum(1, keepdims=True)
    np.testing.assert_allclose(answers, expected, rtol=1e-5, atol=1e-6)
    assert api.num_queries == 4
    with pytest.raises(FileExistsError):
        export_for_serving(classifier, path, preprocessor=preprocessor)


def test_image_classifiers_are_served_unchanged():
    from kwm import architectures

    model = architectures.ewe_cnn((8, 8, 1), num_classes=2)
    assert not outputs_logits(model) and serving_model(model) is model
