"""What an architecture is to kwm: its builder and the roles of its layers."""

import dataclasses
from typing import Callable, Optional, Tuple, Union

from kwm.registry import Registry

ARCHITECTURES = Registry("architecture")


@dataclasses.dataclass(frozen=True)
class ArchitectureSpec:
    """A named model builder and the layers each method and attack works on.

    Recipes leave these roles empty and get them from the architecture named
    in `[model] architecture`; a recipe that sets them explicitly wins.

    Args:
        name: str. The name recipes and `build` use.
        builder: callable. `builder(input_shape=..., num_classes=..., **options)`
            returning a `keras.Model` that outputs probabilities.
        entangled_layers: tuple of str. Hidden layers whose representations
            EWE entangles (the SNNL of Eq. 2) and the report plots.
        prune_layer: str or None. The last hidden Dense (or Conv2D) layer whose
            units neuron pruning and fine-pruning remove.
        prune_activation: str or None. The layer whose output ranks those
            units (the activation after `prune_layer`); None: `prune_layer`'s
            own output (its activation is built in).
        feature_layer: str or int. The end of the feature extractor that
            feature sharing freezes (a layer name, or how many weighted layers
            from the input; -1: all but the last).
        description: str. One line for listings.

    Examples:

    >>> from kwm.architectures import get_architecture
    >>> spec = get_architecture("ewe_cnn")
    >>> spec.entangled_layers, spec.prune_layer, spec.feature_layer
    (('relu1', 'relu2', 'relu3'), 'dense1', 'relu3')
    """

    name: str
    builder: Callable
    entangled_layers: Tuple[str, ...]
    prune_layer: Optional[str]
    prune_activation: Optional[str]
    feature_layer: Union[str, int] = -1
    description: str = ""


def register_architecture(spec):
    """Makes an `ArchitectureSpec` buildable by name (`build`, recipes' `[model] architecture`)."""
    return ARCHITECTURES.register(spec.name, spec)


def get_architecture(name):
    """The `ArchitectureSpec` registered as `name` (`available_architectures()`)."""
    return ARCHITECTURES.get(name)
