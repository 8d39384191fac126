"""EWE watermark generation: class pair by cosine similarity, trigger where the SNNL gradient is largest."""

import keras
import numpy as np
import tensorflow as tf

from kwm.losses.soft_nearest_neighbour import soft_nearest_neighbour_loss


def class_similarity(x, y, num_classes):
    """Average cosine similarity between the inputs of every pair of classes.

    `S[a, b]` is the mean of `cos(x_i, x_j)` over inputs `x_i` of class `a`
    and `x_j` of class `b` (EWE section 4.2, step 1), computed exactly as
    the dot product of the classes' mean unit vectors.

    Args:
        x: np.ndarray. Inputs `(n, ...)`.
        y: np.ndarray. Integer labels.
        num_classes: int. Number of classes.

    Returns:
        A symmetric `(num_classes, num_classes)` array.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> np.round(class_similarity(x, np.array([0, 1, 2]), 3)[0], 3)
    array([1.   , 0.995, 0.   ])
    """
    flat = np.asarray(x, dtype="float64").reshape(len(x), -1)
    unit = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
    means = np.stack(
        [unit[y == c].mean(axis=0) if np.any(y == c) else np.zeros(unit.shape[1]) for c in range(num_classes)]
    )
    return means @ means.T


def select_class_pair(x, y, num_classes):
    """The (source, target) pair of distinct classes with the highest average cosine similarity.

    EWE section 4.2, step 1: "picking the pair whose average cosine
    similarity is highest". The similarity is symmetric; kwm makes the
    class with the larger index the source.

    Returns:
        `(source_class, target_class, similarity_matrix)`.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> select_class_pair(x, np.array([0, 1, 2]), 3)[:2]
    (1, 0)
    """
    similarity = class_similarity(x, y, num_classes)
    masked = similarity - 2.0 * np.eye(num_classes)
    first, second = np.unravel_index(np.argmax(masked), masked.shape)
    source, target = max(first, second), min(first, second)
    return int(source), int(target), similarity


def snnl_input_gradient(
    model, layers, watermark_x, target_x, temperatures=100.0, distance="cosine", batch_size=128
):
    """Mean gradient of the summed SNNL with respect to the watermark inputs.

    Batches pair half watermark candidates (group 1) with half target-class
    inputs (group 0), as EWE's watermark batches do; the gradient of
    `sum_l SNNL_l` is taken with respect to the candidates and averaged over
    them (Algorithm 1, line 1).

    Args:
        model: keras.Model. The classifier after clean training.
        layers: sequence of str. Entangled layer names.
        watermark_x: np.ndarray. Watermark candidates (source inputs).
        target_x: np.ndarray. Target-class inputs.
        temperatures: float or sequence of float. One per layer.
        distance: `"cosine"` or `"euclidean"`.
        batch_size: int. Inputs per batch (half candidates).

    Returns:
        An array of the input shape: the mean gradient.
    """
    if isinstance(temperatures, (int, float)):
        temperatures = [float(temperatures)] * len(layers)
    features = keras.Model(model.input, [model.get_layer(name).output for name in layers])
    half = max(1, batch_size // 2)
    total = np.zeros(watermark_x.shape[1:], dtype="float64")
    for start in range(0, len(watermark_x), half):
        candidates = tf.constant(watermark_x[start : start + half], dtype="float32")
        n = int(candidates.shape[0])
        targets = target_x[np.arange(start, start + n) % len(target_x)]
        groups = np.concatenate([np.ones(n, "int32"), np.zeros(n, "int32")])
        with tf.GradientTape() as tape:
            tape.watch(candidates)
            batch = tf.concat([candidates, tf.constant(targets, dtype="float32")], axis=0)
            hidden = features(batch, training=False)
            hidden = hidden if isinstance(hidden, (list, tuple)) else [hidden]
            snnl = tf.add_n(
                [
                    tf.reduce_mean(soft_nearest_neighbour_loss(groups, h, t, distance))
                    for h, t in zip(hidden, temperatures)
                ]
            )
        total += tape.gradient(snnl, candidates).numpy().sum(axis=0)
    return (total / len(watermark_x)).astype("float32")


def trigger_position(gradient, trigger_size, trigger_pattern=None):
    """Where the trigger meets the largest SNNL gradient (Algorithm 1, lines 1-2).

    `map = convolve(gradient, trigger)`, `position = argmax(map)`: the
    gradient (summed over channels) is correlated with the trigger pattern
    over every position where the trigger fits, and the top-left corner of
    the best window is returned. (The authors' code takes the argmin of the
    box sum instead, and swaps rows and columns; kwm follows the paper.)

    Args:
        gradient: np.ndarray `(h, w[, c])`. Mean SNNL input gradient.
        trigger_size: tuple `(th, tw)`.
        trigger_pattern: np.ndarray `(th, tw)` or None (a constant patch).

    Returns:
        `(row, col)`.

    Examples:

    >>> import numpy as np
    >>> g = np.zeros((8, 8)); g[5:7, 2:4] = 1.0
    >>> trigger_position(g, (2, 2))
    (5, 2)
    """
    gradient = np.asarray(gradient, dtype="float64")
    if gradient.ndim == 3:
        gradient = gradient.sum(axis=-1)
    pattern = np.ones(trigger_size) if trigger_pattern is None else np.asarray(trigger_pattern)
    windows = np.lib.stride_tricks.sliding_window_view(gradient, pattern.shape)
    scores = np.einsum("ijkl,kl->ij", windows, pattern)
    row, col = np.unravel_index(np.argmax(scores), scores.shape)
    return int(row), int(col)
