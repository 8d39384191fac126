"""Gaussian weight noise: perturb every weight of the stolen copy, keep the task if it survives."""

import time

import keras
import numpy as np

from kwm.attacks.pruning import copy_model
from kwm.attacks.suite import register_attack

# Relative noise levels of the `weight_noise` attack (`AttackSettings.options["weight_noise_stds"]`).
DEFAULT_STDS = (0.01, 0.05, 0.1)


def add_weight_noise(model, relative_std, seed=0):
    """A copy of `model` with Gaussian noise added to every kernel and bias.

    Each weight tensor `w` gets noise of standard deviation
    `relative_std * std(w)`, so layers of any scale are perturbed alike
    (a removal attack that needs no data: Uchida et al. and later
    watermarking papers use it as a baseline robustness test).

    Args:
        model: keras.Model. The model to attack (left untouched).
        relative_std: float. Noise std relative to each tensor's std; >= 0.
        seed: int. Noise seed.

    Returns:
        The perturbed copy (`keras.Model`).

    Examples:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> noisy = add_weight_noise(model, 0.1, seed=0)
    >>> bool(np.allclose(noisy.get_weights()[0], model.get_weights()[0]))
    False
    >>> bool(np.allclose(add_weight_noise(model, 0.0).get_weights()[0], model.get_weights()[0]))
    True
    """
    if relative_std < 0:
        raise ValueError(
            f"`relative_std` must be >= 0. Received: relative_std={relative_std}"
        )
    noisy = copy_model(model)
    rng = np.random.default_rng(seed)
    for variable in noisy.trainable_variables:
        value = keras.ops.convert_to_numpy(variable)
        scale = relative_std * float(np.std(value))
        variable.assign(value + rng.normal(0.0, scale, value.shape).astype(value.dtype))
    return noisy


@register_attack("weight_noise")
def weight_noise_attack(context):
    """The stolen copy with weight noise at each `options["weight_noise_stds"]` level."""
    stds = context.settings.options.get("weight_noise_stds", DEFAULT_STDS)
    cells = []
    for std in stds:
        start = time.perf_counter()
        cells.append(context.cell(std, add_weight_noise(context.stolen, std, context.seed), start))
    return cells
