"""Model architectures of the papers, as functional Keras models."""

from kwm.architectures.cnn8 import cnn8
from kwm.architectures.ewe_cnn import EWE_CNN_ENTANGLED_LAYERS, ewe_cnn

_BUILDERS = {"ewe_cnn": ewe_cnn, "cnn8": cnn8}


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
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown architecture. Known: {sorted(_BUILDERS)}. Received: name={name!r}"
        )
    return _BUILDERS[name](input_shape=input_shape, num_classes=num_classes, **kwargs)


def available_architectures():
    return sorted(_BUILDERS)
