"""The 8-layer CNN of the feature-sharing paper's freeze-depth study (its Figs. 3 and 4)."""

import keras
from keras import layers

from kwm.architectures.image_input import image_input

# Widths of conv1..conv6; the paper names the layers (conv1..conv6, fc1, fc2) but not their sizes.
CNN8_FILTERS = (32, 32, 64, 64, 128, 128)


def cnn8(input_shape=(28, 28, 1), num_classes=10, fc_units=256, dropout=0.0, name="cnn8"):
    """Builds a CNN of six convolutions and two dense layers.

    The feature-sharing paper (section 4.1, Figs. 3-4) freezes an 8-layer
    MNIST CNN "from bottom to top" (conv1 ... conv6, fc1, fc2) to show that
    a watermark learned only in the last layers transfers to stolen copies.
    The paper gives the layer names, not their sizes; kwm uses three blocks
    of two 3x3 convolutions (`CNN8_FILTERS` kernels, `padding="same"`, ReLU)
    each followed by 2x2 max pooling, then `fc1` (`fc_units`, ReLU) and
    `fc2` (the class logits) and a softmax; dropout (inactive by default)
    follows each pooling and `fc1`.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        num_classes: int. Number of classes.
        fc_units: int. Width of `fc1`.
        dropout: float. Rate of the dropout layers.
        name: str. Model name.

    Returns:
        A `keras.Model` mapping images to class probabilities.

    Examples:

    >>> model = cnn8()
    >>> [layer.name for layer in model.layers if layer.weights]
    ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'conv6', 'fc1', 'fc2']
    """
    inputs = image_input(input_shape, dropout)
    x = inputs
    for i, filters in enumerate(CNN8_FILTERS, start=1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(x)
        if i % 2 == 0:
            x = layers.MaxPooling2D(2, name=f"pool{i // 2}")(x)
            x = layers.Dropout(dropout, name=f"dropout{i // 2}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc_units, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout4")(x)
    x = layers.Dense(num_classes, name="fc2")(x)
    outputs = layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)
