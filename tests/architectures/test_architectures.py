import json

import keras
import numpy as np
import pytest

from kwm import architectures
from kwm.architectures import EWE_CNN_ENTANGLED_LAYERS, ewe_cnn
from conftest import TINY_VOCABULARY, write_hf_bert_folder


def test_the_papers_architecture():
    model = ewe_cnn()
    assert model.get_layer("conv1").filters == 32 and model.get_layer("conv1").kernel_size == (5, 5)
    assert model.get_layer("conv2").filters == 64 and model.get_layer("conv2").kernel_size == (3, 3)
    assert model.get_layer("pool1").pool_size == (2, 2)
    assert model.get_layer("dense1").units == 128
    assert model.output_shape == (None, 10)
    # Entangled layers are linear; their ReLU is a separate layer.
    for name in EWE_CNN_ENTANGLED_LAYERS:
        assert model.get_layer(name).activation is keras.activations.linear
    probabilities = model.predict(np.zeros((2, 28, 28, 1)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)


def test_hidden_layers_are_addressable():
    model = ewe_cnn((16, 16, 1), num_classes=2)
    features = keras.Model(model.input, [model.get_layer(n).output for n in EWE_CNN_ENTANGLED_LAYERS])
    outs = features.predict(np.zeros((1, 16, 16, 1)), verbose=0)
    assert [o.shape for o in outs] == [(1, 16, 16, 32), (1, 8, 8, 64), (1, 128)]


def test_config_round_trip_and_save_load(tmp_path):
    model = ewe_cnn((16, 16, 1), num_classes=2, dropout=0.25)
    config = json.dumps(model.get_config(), sort_keys=True)  # from_config consumes its dict
    rebuilt = type(model).from_config(json.loads(config))
    assert json.dumps(rebuilt.get_config(), sort_keys=True) == config
    model.save(tmp_path / "m.keras")
    x = np.random.default_rng(0).random((3, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0),
        model.predict(x, verbose=0),
        atol=1e-6,
    )


def test_errors():
    with pytest.raises(ValueError, match="Received: input_shape=\\(28, 28\\)"):
        ewe_cnn((28, 28))
    with pytest.raises(ValueError, match="dropout"):
        ewe_cnn(dropout=1.0)
    with pytest.raises(ValueError, match="Unknown architecture"):
        architectures.build("resnet1000", (28, 28, 1), 10)


def test_the_eight_layer_cnn_of_the_freeze_depth_study():
    model = architectures.build("cnn8", (28, 28, 1), 10)
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "fc1", "fc2"]
    assert model.get_layer("fc1").input.shape[-1] == 3 * 3 * 128
    probabilities = model.predict(np.zeros((2, 28, 28, 1)), verbose=0)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        architectures.build("cnn8", (28, 28, 1), 10, dropout=1.5)


@pytest.mark.parametrize(
    "name, params, blocks", [("resnet8", 78_714, 3), ("resnet20", 274_042, 9)]
)
def test_cifar_resnets(name, params, blocks):
    model = architectures.build(name, (32, 32, 3), 10)
    assert model.count_params() == params  # He et al. 2016: ResNet-20 has 0.27 M parameters
    names = [layer.name for layer in model.layers]
    assert sum(n.endswith("_add") for n in names) == blocks
    # Stages halve the resolution twice: 32 -> 16 -> 8, projected shortcuts where they do.
    assert model.get_layer("stage3_block1_out").output.shape[1:] == (8, 8, 64)
    assert "stage2_block1_proj" in names and "stage1_block1_proj" not in names
    assert [n for n in names if model.get_layer(n).weights][-1] == "logits"
    assert model.get_layer("features").output.shape == (None, 64)
    probabilities = model.predict(np.random.rand(2, 32, 32, 3), verbose=0)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)


def test_resnet18_is_the_cifar_variant():
    model = architectures.resnet18()
    assert 11_000_000 < model.count_params() < 11_300_000
    assert model.get_layer("stem_conv").kernel.shape == (3, 3, 3, 64)  # no 7x7 stem, no max pool
    assert model.get_layer("features").output.shape == (None, 512)


def test_resnet_round_trip_and_errors(tmp_path):
    model = architectures.resnet8(input_shape=(16, 16, 3), num_classes=4)
    path = tmp_path / "r.keras"
    model.save(path)
    x = np.random.rand(3, 16, 16, 3).astype("float32")
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(ValueError, match="Received: stage_filters=\\(\\), blocks_per_stage=3, fc_units=0"):
        architectures.resnet(stage_filters=())
    with pytest.raises(ValueError, match="Received: input_shape=\\(32, 32\\)"):
        architectures.build("resnet8", (32, 32), 10)


def test_builder_options_are_checked():
    model = architectures.build("resnet8", (32, 32, 3), 10, fc_units=32)
    assert model.get_layer("features").output.shape == (None, 8 * 8 * 64)  # flattened, not pooled
    assert [layer.name for layer in model.layers if layer.weights][-2:] == ["fc1", "logits"]
    with pytest.raises(ValueError, match="resnet8 takes no option \\['fc_unit'\\]"):
        architectures.build("resnet8", (32, 32, 3), 10, fc_unit=32)
    with pytest.raises(ValueError, match="fc_units=-1"):
        architectures.build("resnet8", (32, 32, 3), 10, fc_units=-1)


@pytest.mark.parametrize("name", architectures.available_architectures())
def test_every_architecture_declares_layers_it_has(name, tmp_path):
    spec = architectures.get_architecture(name)
    shape = (32, 32, 3) if name.startswith("resnet") else (28, 28, 1)
    options = {"fc_units": 16} if name.startswith("resnet") else {}
    if name == "bert":
        shape, options = (), {"preset": write_hf_bert_folder(tmp_path / "bert")[0],
                              "sequence_length": 8}
    if name == "small_bert":
        shape, options = (), {"vocabulary": list(TINY_VOCABULARY), "sequence_length": 8}
    model = architectures.build(name, shape, 10, **options)
    for role in (*spec.entangled_layers, spec.prune_layer, spec.prune_activation):
        assert role is None or architectures.find_layer(model, role)
    assert isinstance(spec.feature_layer, int) or architectures.find_layer(model, spec.feature_layer)


def test_architectures_are_one_registry():
    with pytest.raises(ValueError, match=r"Unknown architecture\. Known: \[.*'ewe_cnn'"):
        architectures.get_architecture("vgg")
    with pytest.raises(ValueError, match="registered already"):
        architectures.register_architecture(
            architectures.ArchitectureSpec("ewe_cnn", architectures.mlp, (), None, None)
        )
