import keras
import keras_hub
import numpy as np
import pytest

from kwm.architectures import feature_model, find_layer, layer_paths
from kwm.attacks import mean_activations
from kwm.watermarks import EWEModel


def _nested(sequential_backbone=False, name="backbone"):
    keras.utils.set_random_seed(0)
    if sequential_backbone:
        backbone = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="hidden"),
             keras.layers.Dense(6, name="embedding")],
            name=name,
        )
    else:
        inner_inputs = keras.Input((4,))
        hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inner_inputs)
        backbone = keras.Model(
            inner_inputs, keras.layers.Dense(6, name="embedding")(hidden), name=name
        )
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(backbone(inputs))
    return keras.Model(inputs, outputs, name="classifier")


@pytest.mark.parametrize("sequential_backbone", [False, True])
def test_nested_layer_outputs_share_the_models_weights(sequential_backbone):
    model = _nested(sequential_backbone)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    hidden, embedding, output = feature_model(model, ["backbone/hidden", "embedding"])(x)
    backbone = model.get_layer("backbone")
    expected_hidden = np.maximum(x @ backbone.get_layer("hidden").kernel.numpy()
                                 + backbone.get_layer("hidden").bias.numpy(), 0)
    np.testing.assert_allclose(hidden, expected_hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(output, model(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embedding, backbone(x), rtol=1e-5, atol=1e-6)
    assert "backbone/hidden" in layer_paths(model)


def test_find_layer_errors_name_every_layer():
    model = _nested()
    assert find_layer(model, "hidden") is model.get_layer("backbone").get_layer("hidden")
    with pytest.raises(ValueError, match=r"no layer 'conv9'.*backbone/hidden.*Received: name='conv9'"):
        find_layer(model, "conv9")
    with pytest.raises(ValueError, match="Received: name=''"):
        find_layer(model, "")
    twice = keras.Model(model.input, [model.output, _nested(name="other").get_layer("other")(model.input)])
    with pytest.raises(ValueError, match="Several nested layers are named 'hidden'"):
        find_layer(twice, "hidden")


def test_ewe_entangles_a_layer_inside_a_keras_hub_backbone():
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=8,
    )
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    model = EWEModel(classifier, ["bert_backbone/pooled_dense"], snnl_weight=1.0)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 30, (8, 8)), "padding_mask": np.ones((8, 8), "int32"),
         "segment_ids": np.zeros((8, 8), "int32")}
    logs = model.train_on_batch((x, np.array([1] * 4 + [0] * 4)), np.ones(8), return_dict=True)
    assert np.isfinite(logs["snnl_bert_backbone_pooled_dense"])
    assert logs["snnl_bert_backbone_pooled_dense"] > 0


def test_pruning_reads_activations_of_a_nested_layer():
    model = _nested()
    x = np.random.default_rng(1).random((16, 4)).astype("float32")
    means = mean_activations(model, "hidden", x)
    assert means.shape == (8,) and (means >= 0).all()
