"""The CNN of the EWE paper for MNIST and Fashion-MNIST (Jia et al., section 5.1)."""

import keras
from keras import layers

from kwm.architectures.image_input import image_input

# Pre-activation outputs the EWE reference entangles (conv1, conv2, dense1).
EWE_CNN_ENTANGLED_LAYERS = ("conv1", "conv2", "dense1")


def ewe_cnn(
    input_shape=(28, 28, 1),
    num_classes=10,
    dropout=0.0,
    name="ewe_cnn",
):
    """Builds the EWE paper's two-convolution CNN as a functional Keras model.

    Section 5.1 of the EWE paper: convolutions of 32 5x5 and 64 3x3 kernels,
    each followed by 2x2 max pooling, then fully-connected layers of 128 and
    `num_classes` units, "all layers followed by a dropout layer". As in the
    authors' reference code, convolutions use `padding="same"` and each
    convolution/dense layer is linear with its ReLU as a separate layer, so
    the pre-activation outputs the SNNL entangles (`conv1`, `conv2`,
    `dense1`) are addressable by name. The reference code's dropout is
    inactive (TF1's `training=False` default), hence `dropout=0.0` by
    default.

    Layer names: `conv1`, `relu1`, `pool1`, `dropout1`, `conv2`, `relu2`,
    `pool2`, `dropout2`, `flatten`, `dense1`, `dropout3`, `relu3`, `logits`,
    `probabilities`. The model outputs class probabilities, as a prediction
    API does.

    Args:
        input_shape: tuple. `(height, width, channels)` of the inputs.
        num_classes: int. Number of classes.
        dropout: float. Rate of the three dropout layers.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> model = ewe_cnn(input_shape=(16, 16, 1), num_classes=2)
    >>> model.get_layer("dense1").units
    128
    >>> model.output_shape
    (None, 2)
    """
    inputs = image_input(input_shape, dropout)
    x = layers.Conv2D(32, 5, padding="same", name="conv1")(inputs)
    x = layers.ReLU(name="relu1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Conv2D(64, 3, padding="same", name="conv2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, name="dense1")(x)
    x = layers.Dropout(dropout, name="dropout3")(x)
    x = layers.ReLU(name="relu3")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
