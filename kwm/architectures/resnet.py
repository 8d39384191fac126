"""Residual networks for 32x32 images (CIFAR): a CPU-sized ResNet-20 and a ResNet-18."""

import keras
from keras import layers

from kwm.architectures.image_input import image_input


def _basic_block(x, filters, stride, name):
    """Two 3x3 convolutions with batch normalisation and an identity or 1x1 shortcut."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, name=f"{name}_proj"
        )(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    x = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv1"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn1")(x)
    x = layers.ReLU(name=f"{name}_relu1")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(x)
    x = layers.BatchNormalization(name=f"{name}_bn2")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.ReLU(name=f"{name}_out")(x)


def resnet(
    input_shape=(32, 32, 3),
    num_classes=10,
    stage_filters=(16, 32, 64),
    blocks_per_stage=3,
    dropout=0.0,
    fc_units=0,
    name="resnet20",
):
    """Builds a ResNet of basic blocks for small images (He et al., 2016).

    A 3x3 stem convolution (`stage_filters[0]` kernels, batch norm, ReLU),
    then one stage per entry of `stage_filters`, each of `blocks_per_stage`
    basic blocks (two 3x3 convolutions with batch normalisation and a
    shortcut; the first block of every stage but the first halves the
    resolution and projects its shortcut with a 1x1 convolution), global
    average pooling (`features`, the feature extractor's output), dropout
    and a dense layer of class logits (`logits`) followed by a softmax.

    The defaults are ResNet-20 of He et al. section 4.2 (0.27 M parameters),
    kwm's CPU-sized CIFAR model; `resnet18` is the 11 M-parameter ResNet-18
    (CIFAR variant: 3x3 stem, no max pooling) for a GPU. The feature-sharing
    paper uses a ResNet-50 on CIFAR-100; neither size is the paper's.

    Layer names: `stem_conv`, `stem_bn`, `stem_relu`, then
    `stage{s}_block{b}_{conv1,bn1,relu1,conv2,bn2,proj,proj_bn,add,out}`,
    `features`, `dropout`, `logits`, `probabilities`.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        stage_filters: sequence of int. Kernels of each stage.
        blocks_per_stage: int. Basic blocks per stage (depth = 6n + 2 with
            three stages).
        dropout: float. Rate of the dropout before the logits.
        fc_units: int. 0: global average pooling, then the logits (the
            standard ResNet). Otherwise the width of a dense layer `fc1` on
            the flattened last stage.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> model = resnet(input_shape=(16, 16, 3), num_classes=4, blocks_per_stage=1)
    >>> model.get_layer("features").output.shape
    (None, 64)
    >>> model.output_shape
    (None, 4)
    """
    if not stage_filters or blocks_per_stage < 1 or fc_units < 0:
        raise ValueError(
            "A ResNet needs at least one stage, one block per stage and fc_units >= 0. "
            f"Received: stage_filters={stage_filters}, blocks_per_stage={blocks_per_stage}, "
            f"fc_units={fc_units}"
        )
    inputs = image_input(input_shape, dropout)
    x = layers.Conv2D(
        stage_filters[0], 3, padding="same", use_bias=False, name="stem_conv"
    )(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for s, filters in enumerate(stage_filters, start=1):
        for b in range(1, blocks_per_stage + 1):
            stride = 2 if s > 1 and b == 1 else 1
            x = _basic_block(x, filters, stride, name=f"stage{s}_block{b}")
    if fc_units:
        x = layers.Flatten(name="features")(x)
        x = layers.Dense(fc_units, name="fc1")(x)
        x = layers.ReLU(name="fc1_relu")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="features")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def resnet8(input_shape=(32, 32, 3), num_classes=10, dropout=0.0, fc_units=0, name="resnet8"):
    """ResNet-8 (16/32/64 kernels, 1 block a stage): the smallest CIFAR ResNet, for tests and CPUs.

    See `resnet` for the layout and layer names.

    Examples:

    >>> resnet8().count_params() < 100_000
    True
    """
    return resnet(input_shape, num_classes, (16, 32, 64), 1, dropout, fc_units, name)


def resnet20(input_shape=(32, 32, 3), num_classes=10, dropout=0.0, fc_units=0, name="resnet20"):
    """ResNet-20 (16/32/64 kernels, 3 blocks a stage): kwm's CPU-sized CIFAR model.

    See `resnet` for the layout and layer names.

    Examples:

    >>> resnet20().count_params() < 300_000
    True
    """
    return resnet(input_shape, num_classes, (16, 32, 64), 3, dropout, fc_units, name)


def resnet18(input_shape=(32, 32, 3), num_classes=10, dropout=0.0, fc_units=0, name="resnet18"):
    """ResNet-18 for 32x32 images (64/128/256/512 kernels, 2 blocks a stage), for a GPU.

    See `resnet` for the layout and layer names.

    Examples:

    >>> resnet18().count_params() > 11_000_000
    True
    """
    return resnet(input_shape, num_classes, (64, 128, 256, 512), 2, dropout, fc_units, name)
