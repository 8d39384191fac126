"""The soft nearest neighbour loss (SNNL) of Frosst et al., as EWE uses it."""

import keras
from keras import ops

DISTANCES = ("cosine", "euclidean")


def pairwise_distances(features, distance="cosine"):
    """Pairwise distances between the rows of `features` (flattened per example).

    Args:
        features: tensor `(batch, ...)`.
        distance: `"cosine"` (1 - cosine similarity, the EWE reference's
            default) or `"euclidean"` (squared Euclidean, EWE Eq. 1).

    Returns:
        A `(batch, batch)` tensor of non-negative distances.
    """
    x = ops.reshape(features, (ops.shape(features)[0], -1))
    x = ops.cast(x, "float32")
    if distance == "cosine":
        x = x / ops.maximum(ops.norm(x, axis=1, keepdims=True), 1e-12)
        return ops.maximum(1.0 - ops.matmul(x, ops.transpose(x)), 0.0)
    if distance == "euclidean":
        squared = ops.sum(ops.square(x), axis=1)
        gram = ops.matmul(x, ops.transpose(x))
        return ops.maximum(squared[:, None] + squared[None, :] - 2.0 * gram, 0.0)
    raise ValueError(f"`distance` must be one of {DISTANCES}. Received: distance={distance!r}")


def soft_nearest_neighbour_loss(groups, features, temperature=100.0, distance="cosine"):
    """Per-example soft nearest neighbour loss, EWE Eq. 1.

    For example `i` of a batch, with `d` the pairwise distance and `T` the
    temperature, the term is

        -log( sum_{j != i, y_j = y_i} exp(-d_ij / T) / sum_{k != i} exp(-d_ik / T) )

    and the SNNL of the batch is the mean of the terms. Both sums are
    computed as log-sum-exps, so tiny temperatures and far-apart points do
    not underflow. An example without any other member of its group has no
    defined term; it contributes 0 (no NaN, no gradient).

    Note on temperature: EWE's reference code uses the kernel
    `exp(-d * T_ref / 100)`, i.e. its "temperature" `T_ref` is `100 / T`
    here; its initial `T_ref = 1` is `temperature=100`.

    Args:
        groups: tensor `(batch,)`. Group of each example (EWE: 1 for a
            watermark, 0 for a target-class task input).
        features: tensor `(batch, ...)`. Representations of the examples.
        temperature: float or scalar tensor/variable, > 0.
        distance: `"cosine"` or `"euclidean"`.

    Returns:
        A `(batch,)` tensor of per-example terms.

    Examples:

    >>> import numpy as np
    >>> groups = np.array([0, 0, 1, 1])
    >>> apart = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])
    >>> mixed = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.01], [0.01, 1.0]])
    >>> low = float(np.mean(soft_nearest_neighbour_loss(groups, apart, 0.1)))
    >>> high = float(np.mean(soft_nearest_neighbour_loss(groups, mixed, 0.1)))
    >>> low < 0.01 < 2.0 < high
    True
    """
    distances = pairwise_distances(features, distance)
    batch = ops.shape(distances)[0]
    temperature = ops.cast(temperature, "float32")
    logits = -distances / temperature
    groups = ops.reshape(groups, (-1,))
    not_self = ops.logical_not(ops.cast(ops.eye(batch), "bool"))
    same = ops.logical_and(ops.equal(groups[:, None], groups[None, :]), not_self)
    has_partner = ops.any(same, axis=1)
    minus_inf = ops.full_like(logits, float("-inf"))
    # Rows without a partner get a finite dummy row, so that neither the
    # value nor the gradient of the (discarded) term is NaN.
    same_logits = ops.where(
        has_partner[:, None], ops.where(same, logits, minus_inf), ops.zeros_like(logits)
    )
    numerator = ops.logsumexp(same_logits, axis=1)
    denominator = ops.logsumexp(ops.where(not_self, logits, minus_inf), axis=1)
    return ops.where(has_partner, denominator - numerator, ops.zeros_like(numerator))


@keras.saving.register_keras_serializable(package="kwm")
class SoftNearestNeighbourLoss(keras.losses.Loss):
    """Soft nearest neighbour loss (EWE Eq. 1) as a Keras loss.

    Measures how entangled groups of representations are: low when each
    point's nearest neighbours belong to its own group, high when groups
    are mixed. EWE *maximises* it between watermarks and target-class
    inputs on hidden layers (Eq. 2). `y_true` holds the group labels and
    `y_pred` the representations; with the default reduction the result is
    the batch mean of Eq. 1.

    Args:
        temperature: float or `keras.Variable`. Kernel temperature `T`
            (see `soft_nearest_neighbour_loss` for the reference code's
            convention).
        distance: `"cosine"` or `"euclidean"`.
        name: str. Loss name.
        **kwargs: `keras.losses.Loss` arguments (`reduction`, `dtype`).

    Examples:

    >>> import numpy as np
    >>> loss = SoftNearestNeighbourLoss(temperature=0.5)
    >>> value = loss(np.array([0, 0, 1, 1]), np.eye(4, 3))
    >>> bool(value > 0)
    True
    >>> SoftNearestNeighbourLoss.from_config(loss.get_config()).temperature
    0.5
    """

    def __init__(
        self, temperature=100.0, distance="cosine", name="soft_nearest_neighbour_loss", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        if distance not in DISTANCES:
            raise ValueError(
                f"`distance` must be one of {DISTANCES}. Received: distance={distance!r}"
            )
        if isinstance(temperature, (int, float)) and temperature <= 0:
            raise ValueError(
                f"`temperature` must be positive. Received: temperature={temperature}"
            )
        self.temperature = temperature
        self.distance = distance

    def call(self, y_true, y_pred):
        return soft_nearest_neighbour_loss(y_true, y_pred, self.temperature, self.distance)

    def get_config(self):
        config = super().get_config()
        temperature = self.temperature
        if not isinstance(temperature, (int, float)):
            temperature = float(ops.convert_to_numpy(temperature))
        config.update({"temperature": temperature, "distance": self.distance})
        return config
