"""Model architectures of the papers, as functional Keras models."""

import inspect

from kwm.architectures.cnn8 import cnn8
from kwm.architectures.ewe_cnn import EWE_CNN_ENTANGLED_LAYERS, ewe_cnn
from kwm.architectures.layers import feature_model, find_layer, layer_paths
from kwm.architectures.reference_panel import bn_cnn, elu_cnn, lenet, mlp
from kwm.architectures.resnet import resnet, resnet8, resnet18, resnet20
from kwm.architectures.spec import (
    ARCHITECTURES,
    ArchitectureSpec,
    get_architecture,
    register_architecture,
)
from kwm.architectures.text import (
    bert_text_classifier,
    installed_minilm,
    resolve_text_preset,
    small_bert_text_classifier,
    word_piece_vocabulary,
)

RESNET_ENTANGLED_LAYERS = ("stage2_block1_out", "stage3_block1_out", "features")

# The roles of each architecture's layers (`ArchitectureSpec`); the reference-panel models are
# the owner's models without the watermark, of other families than the victims'.
for _spec in (
    ArchitectureSpec(
        "ewe_cnn", ewe_cnn, ("relu1", "relu2", "relu3"), "dense1", "relu3", "relu3",
        "EWE's MNIST CNN: conv 5x5/32, conv 3x3/64, dense 128",
    ),
    ArchitectureSpec(
        "cnn8", cnn8, ("conv4", "conv6", "fc1"), "fc1", None, "fc1",
        "the 8-layer CNN of feature sharing's Fig. 3: 6 conv, 2 dense",
    ),
    ArchitectureSpec(
        "resnet8", resnet8, RESNET_ENTANGLED_LAYERS, "fc1", "fc1_relu", "features",
        "CIFAR ResNet-8 (prune_layer needs options fc_units > 0)",
    ),
    ArchitectureSpec(
        "resnet20", resnet20, RESNET_ENTANGLED_LAYERS, "fc1", "fc1_relu", "features",
        "CIFAR ResNet-20 (prune_layer needs options fc_units > 0)",
    ),
    ArchitectureSpec(
        "resnet18", resnet18, RESNET_ENTANGLED_LAYERS, "fc1", "fc1_relu", "features",
        "ResNet-18 (prune_layer needs options fc_units > 0)",
    ),
    ArchitectureSpec(
        "mlp", mlp, ("dense1", "dense2"), "dense2", None, "dense2", "reference panel: a two-layer MLP"
    ),
    ArchitectureSpec(
        "lenet", lenet, ("conv1", "conv2", "dense2"), "dense2", None, "dense2",
        "reference panel: LeNet-style CNN, tanh and average pooling",
    ),
    ArchitectureSpec(
        "bn_cnn", bn_cnn, ("relu1", "relu2", "pool"), None, None, "pool",
        "reference panel: batch-norm CNN with global average pooling",
    ),
    ArchitectureSpec(
        "elu_cnn", elu_cnn, ("conv2", "conv4", "dense1"), "dense1", None, "dense1",
        "reference panel: deeper ELU CNN with global average pooling",
    ),
    ArchitectureSpec(
        "bert", bert_text_classifier, ("bert_backbone/pooled_dense",),
        "bert_backbone/pooled_dense", None, "bert_backbone",
        "pretrained BERT text classifier through keras-hub (options preset, sequence_length, dtype)",
    ),
    ArchitectureSpec(
        "small_bert", small_bert_text_classifier, ("bert_backbone/pooled_dense",),
        "bert_backbone/pooled_dense", None, "bert_backbone",
        "small BERT text classifier trained from scratch (option vocabulary)",
    ),
):
    register_architecture(_spec)


def build(name, input_shape, num_classes, **kwargs):
    """Builds a registered architecture by name.

    Args:
        name: str. One of `available_architectures()`.
        input_shape: tuple. Input shape without the batch axis.
        num_classes: int. Number of classes.
        **kwargs: Passed to the architecture's builder.

    Examples:

    >>> build("ewe_cnn", (28, 28, 1), 10).name
    'ewe_cnn'
    """
    builder = get_architecture(name).builder
    accepted = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{name} takes no option {unknown}; its options: "
            f"{[p for p in accepted if p not in ('input_shape', 'num_classes')]}. "
            f"Received: {kwargs}"
        )
    return builder(input_shape=input_shape, num_classes=num_classes, **kwargs)


def available_architectures():
    return ARCHITECTURES.names()
