"""Temperature of the probabilities a prediction API serves."""

import keras
import numpy as np
from keras import ops


def temper_probabilities(probabilities, temperature, floor=1e-30):
    """`softmax(log(p) / temperature)` row-wise, in NumPy (float64).

    What `ServingTemperature` serves, for answers already received: a thief
    distilling at a temperature (`tempered_labels`), or an owner undoing its
    API's temperature before a test (`temperature < 1` sharpens).

    Args:
        probabilities: array of shape `(n, classes)`.
        temperature: float. Positive.
        floor: float. Probabilities are clipped to `[floor, 1]` before the log.

    Returns:
        float64 array of the same shape, rows summing to 1.

    Examples:

    >>> temper_probabilities([[0.8, 0.2]], 2.0).round(3)
    array([[0.667, 0.333]])
    """
    logits = np.log(np.clip(np.asarray(probabilities, dtype="float64"), floor, 1.0))
    logits = logits / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    tempered = np.exp(logits)
    return tempered / tempered.sum(axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="kwm")
class ServingTemperature(keras.layers.Layer):
    """Re-tempers class probabilities: `softmax(log(p) / T)`.

    For a classifier that outputs `p = softmax(z)`, this serves
    `softmax(z / T)` (Hinton et al., 2015): the same top-1 class for every
    input, with the small probabilities raised (`T > 1`) or lowered
    (`T < 1`). A feature-sharing watermark lives in how the decision layer
    weighs features that task inputs share with the watermarks; on task
    inputs that shows only in small probabilities (e.g. `p(1 | 7)`), which a
    thief's cross-entropy on `T = 1` answers barely fits. Serving at `T > 1`
    hands every thief that information. The price: the API's probabilities
    are no longer the model's calibrated ones (its decisions are unchanged).

    Probabilities are floored at `epsilon` before the logarithm, so a class
    the classifier gives exactly 0 gets `epsilon ** (1 / T)` before
    renormalisation.

    Args:
        temperature: float. Positive; 1 leaves the probabilities as they are.
        epsilon: float. Floor of the probabilities before the logarithm.
        **kwargs: `keras.layers.Layer` arguments.

    Examples:

    >>> import numpy as np
    >>> layer = ServingTemperature(2.0)
    >>> np.asarray(layer(np.array([[0.8, 0.2]], "float32"))).round(3)
    array([[0.667, 0.333]], dtype=float32)
    """

    def __init__(self, temperature=1.0, epsilon=1e-30, **kwargs):
        super().__init__(**kwargs)
        temperature = float(temperature)
        if not temperature > 0:
            raise ValueError(
                f"`temperature` must be positive. Received: temperature={temperature}"
            )
        if not 0 < float(epsilon) < 1:
            raise ValueError(f"`epsilon` must lie in (0, 1). Received: epsilon={epsilon}")
        self.temperature = temperature
        self.epsilon = float(epsilon)

    def call(self, probabilities):
        logits = ops.log(ops.maximum(probabilities, self.epsilon))
        return ops.softmax(logits / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "epsilon": self.epsilon})
        return config
