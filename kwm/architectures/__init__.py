"""Model architectures of the papers, as functional Keras models."""

import inspect

from kwm.architectures.cnn8 import cnn8
from kwm.architectures.ewe_cnn import EWE_CNN_ENTANGLED_LAYERS, ewe_cnn
from kwm.architectures.reference_panel import bn_cnn, lenet, mlp
from kwm.architectures.resnet import resnet, resnet8, resnet18, resnet20

_BUILDERS = {
    "ewe_cnn": ewe_cnn,
    "cnn8": cnn8,
    "resnet8": resnet8,
    "resnet20": resnet20,
    "resnet18": resnet18,
    "mlp": mlp,
    "lenet": lenet,
    "bn_cnn": bn_cnn,
}


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
    builder = _BUILDERS[name]
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
    return sorted(_BUILDERS)
