"""Small classifiers of other families than the victims', for the owner's reference models.

An owner checks a key against models trained *without* the watermark
(`kwm.verification.calibrate_key`). Models of the victim's own
architecture are not enough: an independent party may train anything, and
a trigger that leaves the victim's architecture unmoved can push a model of
another family towards the target (on Fashion-MNIST a LeNet-style CNN with
tanh and average pooling moved by 20 points where three EWE CNNs moved by
at most 5). These builders give the owner's reference panel other
inductive biases: a multilayer perceptron, a LeNet-style CNN, a
batch-normalised CNN with global average pooling and a deeper ELU CNN with
global average pooling (of the families measured, the one a small patch sways most).
"""

import keras
from keras import layers

from kwm.architectures.image_input import image_input


def _classifier_head(x, num_classes):
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Softmax(name="probabilities")(x)


def mlp(input_shape=(28, 28, 1), num_classes=10, units=(512, 256), dropout=0.0, name="mlp"):
    """Builds a multilayer perceptron on flattened images.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        units: tuple of int. Widths of the hidden ReLU layers.
        dropout: float. Rate of the dropout after each hidden layer.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> mlp(units=(32,)).count_params()
    25450
    """
    inputs = image_input(input_shape, dropout)
    x = layers.Flatten(name="flatten")(inputs)
    for i, width in enumerate(units, start=1):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout{i}")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name=name)


def lenet(input_shape=(28, 28, 1), num_classes=10, dropout=0.0, name="lenet"):
    """Builds a LeNet-5-style CNN: tanh activations and average pooling.

    Two convolutions (6 and 16 kernels of 5x5) each followed by 2x2 average
    pooling, then dense layers of 120 and 84 tanh units (LeCun et al. 1998,
    with a `"same"` first convolution so that 28x28 inputs keep LeNet's sizes).

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        dropout: float. Rate of the dropout before the classifier.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> lenet().get_layer("conv2").output.shape
    (None, 10, 10, 16)
    """
    inputs = image_input(input_shape, dropout)
    x = layers.Conv2D(6, 5, padding="same", activation="tanh", name="conv1")(inputs)
    x = layers.AveragePooling2D(2, name="pool1")(x)
    x = layers.Conv2D(16, 5, activation="tanh", name="conv2")(x)
    x = layers.AveragePooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(120, activation="tanh", name="dense1")(x)
    x = layers.Dense(84, activation="tanh", name="dense2")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name=name)


def bn_cnn(input_shape=(28, 28, 1), num_classes=10, filters=(32, 64, 128), dropout=0.0,
           name="bn_cnn"):
    """Builds a CNN with batch normalisation and global average pooling.

    Each block is a 3x3 convolution (no bias), batch normalisation and
    ReLU (moving-statistics momentum 0.9: at Keras's 0.99 the moving
    variance still holds its initial 1 after the few hundred steps of a
    short training, and the model predicts one class at inference); all blocks but the last end with 2x2 max pooling; global average
    pooling feeds the classifier.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        filters: tuple of int. Kernels per block.
        dropout: float. Rate of the dropout before the classifier.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> bn_cnn(filters=(8, 16)).get_layer("pool").output.shape
    (None, 16)
    """
    inputs = image_input(input_shape, dropout)
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if i < len(filters):
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name=name)


def elu_cnn(input_shape=(28, 28, 1), num_classes=10, filters=(16, 32, 32, 64), units=64,
            dropout=0.0, name="elu_cnn"):
    """Builds a deeper CNN of ELU units with global average pooling and no normalisation.

    3x3 convolutions (`"same"` padding) with 2x2 max pooling after the first
    and the third, global average pooling, a dense ELU layer, the classifier.
    Of seven families in a population of 105 independent MNIST classifiers,
    this one's decisions moved most under a small patch (a 3x3 patch moved
    one of them by 57 points), so the owner's trigger check includes it.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        filters: tuple of int. Kernels of each convolution.
        units: int. Width of the dense ELU layer.
        dropout: float. Rate of the dropout before the classifier.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> elu_cnn().get_layer("pool").output.shape
    (None, 64)
    """
    inputs = image_input(input_shape, dropout)
    x = inputs
    for i, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="elu", name=f"conv{i}")(x)
        if i in (1, 3) and i < len(filters):
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(units, activation="elu", name="dense1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier_head(x, num_classes), name=name)
