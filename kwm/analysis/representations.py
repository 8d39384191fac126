"""Hidden representations of task data and watermarks (EWE Figs. 2-4)."""

import keras
import numpy as np


def layer_outputs(model, layer, x, batch_size=256):
    """Outputs of the named layer of a functional model on `x` (NumPy)."""
    probe = keras.Model(model.input, model.get_layer(layer).output)
    return probe.predict(x, batch_size=batch_size, verbose=0)


def activation_frequency(activations):
    """How often each unit is active (> 0) over a set of inputs (EWE Figs. 2, 3).

    Args:
        activations: array `(n, units)` or `(n, h, w, channels)`; for
            convolutional outputs a channel counts as active where it is
            positive, averaged over positions.

    Returns:
        An array `(units,)` of frequencies in [0, 1].

    Examples:

    >>> import numpy as np
    >>> activation_frequency(np.array([[1.0, 0.0], [2.0, -1.0]])).tolist()
    [1.0, 0.0]
    """
    a = np.asarray(activations)
    active = (a > 0).reshape(len(a), -1, a.shape[-1])
    return active.mean(axis=(0, 1))


def project_2d(features):
    """Projects rows of `features` on their two principal components (EWE Fig. 4).

    Returns:
        An array `(n, 2)`.

    Examples:

    >>> import numpy as np
    >>> project_2d(np.random.default_rng(0).normal(size=(10, 5))).shape
    (10, 2)
    """
    x = np.asarray(features, dtype="float64").reshape(len(features), -1)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T
