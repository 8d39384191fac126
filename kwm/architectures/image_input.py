"""The validated image input shared by the papers' CNN builders."""

import keras


def image_input(input_shape, dropout=0.0):
    """Checks a CNN builder's arguments and returns its `keras.Input` named `"image"`.

    Args:
        input_shape: tuple. `(height, width, channels)`.
        dropout: float. The builder's dropout rate, in [0, 1).

    Returns:
        A symbolic `keras.Input` tensor.

    Examples:

    >>> image_input((28, 28, 1)).shape
    (None, 28, 28, 1)
    """
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            "`input_shape` must be (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    return keras.Input(shape=tuple(input_shape), name="image")
