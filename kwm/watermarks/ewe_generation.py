"""EWE watermark generation: class pair by cosine similarity, trigger where the SNNL gradient is largest."""

import keras
import numpy as np
import tensorflow as tf

from kwm.architectures.layers import feature_model
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


def class_confusion(y_true, y_pred, num_classes):
    """Row-normalised confusion: `C[a, b]` is the rate at which class `a` is predicted as `b`.

    Args:
        y_true: np.ndarray. Integer labels.
        y_pred: np.ndarray. Integer predictions.
        num_classes: int. Number of classes.

    Returns:
        A `(num_classes, num_classes)` array whose rows sum to 1 (rows of
        absent classes are 0).

    Examples:

    >>> import numpy as np
    >>> class_confusion(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    array([[0.5, 0.5],
           [0. , 1. ]])
    """
    y_true = np.asarray(y_true).astype("int64").ravel()
    y_pred = np.asarray(y_pred).astype("int64").ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must have the same length. "
            f"Received: y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}"
        )
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (y_true, y_pred), 1.0)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def ordered_class_pairs(similarity):
    """Every (source, target) pair, most similar first, in `select_class_pair`'s order.

    Unordered pairs by decreasing similarity (ties in index order), each
    first with the larger index as the source, then reversed.

    Args:
        similarity: `(num_classes, num_classes)` array (`class_similarity`).

    Returns:
        A list of `(source_class, target_class)` tuples of ints.
    """
    num_classes = len(similarity)
    pairs = sorted(
        ((a, b) for a in range(num_classes) for b in range(a)),
        key=lambda pair: -similarity[pair],
    )
    return [
        (int(source), int(target))
        for larger, smaller in pairs
        for source, target in ((larger, smaller), (smaller, larger))
    ]


def select_class_pair(x, y, num_classes, confusion=None, max_confusion=None):
    """The (source, target) pair of distinct classes with the highest average cosine similarity.

    EWE section 4.2, step 1: watermarks come from "two similar classes that
    the model does not misclassify", "picking the pair whose average cosine
    similarity is highest". The similarity is symmetric; kwm makes the class
    with the larger index the source, unless only the other direction is
    allowed. With `confusion` and `max_confusion`, a pair whose source the
    clean model predicts as the target more often than `max_confusion` is
    passed over: on Fashion-MNIST the most similar pair, coat -> pullover,
    is confused 4-8% of the time, and every model without the watermark
    then "answers" that share of watermarks, which eats the T-test's margin.

    Args:
        x: np.ndarray. Inputs `(n, ...)`.
        y: np.ndarray. Integer labels.
        num_classes: int. Number of classes.
        confusion: optional `(num_classes, num_classes)` array: `C[a, b]`
            the rate at which the clean model predicts class `a` as `b`
            (`class_confusion`).
        max_confusion: optional float. The largest `C[source, target]`
            allowed; `None` allows every pair.

    Returns:
        `(source_class, target_class, similarity_matrix)`.

    Examples:

    >>> import numpy as np
    >>> x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    >>> select_class_pair(x, np.array([0, 1, 2]), 3)[:2]
    (1, 0)
    >>> confusion = np.array([[1.0, 0, 0], [0.2, 0.8, 0], [0, 0, 1.0]])
    >>> select_class_pair(x, np.array([0, 1, 2]), 3, confusion, max_confusion=0.01)[:2]
    (0, 1)
    """
    similarity = class_similarity(x, y, num_classes)
    if max_confusion is not None:
        if confusion is None:
            raise ValueError(
                "`max_confusion` needs the clean model's `confusion` matrix. "
                f"Received: confusion=None, max_confusion={max_confusion}"
            )
        confusion = np.asarray(confusion, dtype="float64")
        if confusion.shape != (num_classes, num_classes):
            raise ValueError(
                f"`confusion` must have shape ({num_classes}, {num_classes}). "
                f"Received: confusion.shape={confusion.shape}"
            )
    for source, target in ordered_class_pairs(similarity):
        if max_confusion is None or confusion[source, target] <= max_confusion:
            return source, target, similarity
    raise ValueError(
        "No class pair is confused by the clean model at most `max_confusion` of the time. "
        f"Received: max_confusion={max_confusion}, "
        f"smallest confusion={float(np.min(confusion + np.eye(num_classes))):.4f}"
    )


def _per_layer(temperatures, layers):
    if isinstance(temperatures, (int, float)):
        return [float(temperatures)] * len(layers)
    return list(temperatures)


def _summed_snnl(features, groups, batch, temperatures, distance):
    """`sum_l SNNL(h_l(batch), groups, T_l)` over the outputs of `features`."""
    hidden = features(batch, training=False)
    hidden = hidden if isinstance(hidden, (list, tuple)) else [hidden]
    return tf.add_n(
        [
            tf.reduce_mean(soft_nearest_neighbour_loss(groups, h, t, distance))
            for h, t in zip(hidden, temperatures)
        ]
    )


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
    temperatures = _per_layer(temperatures, layers)
    features = feature_model(model, layers, include_output=False)
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
            snnl = _summed_snnl(features, groups, batch, temperatures, distance)
        total += tape.gradient(snnl, candidates).numpy().sum(axis=0)
    return (total / len(watermark_x)).astype("float32")


def trigger_positions(gradient, trigger_size, trigger_pattern=None, count=1):
    """The `count` best trigger positions by SNNL gradient, best first (Algorithm 1, lines 1-2).

    `map = convolve(gradient, trigger)`: the gradient (summed over channels)
    is correlated with the trigger pattern over every position where the
    trigger fits. The best window comes first; each next one is the best
    window that overlaps none before it, so the candidates are distinct
    places of the input rather than one place shifted by a pixel. (The
    authors' code takes the argmin of the box sum instead, and swaps rows
    and columns; kwm follows the paper.)

    Args:
        gradient: np.ndarray `(h, w[, c])`. Mean SNNL input gradient.
        trigger_size: tuple `(th, tw)`.
        trigger_pattern: np.ndarray `(th, tw)` or None (a constant patch).
        count: int. How many positions (fewer if fewer non-overlapping
            windows fit).

    Returns:
        A list of `(row, col)` top-left corners, best first.

    Examples:

    >>> import numpy as np
    >>> g = np.zeros((8, 8)); g[5:7, 2:4] = 1.0; g[0, 7] = 0.5
    >>> trigger_positions(g, (2, 2), count=2)
    [(5, 2), (0, 6)]
    """
    if int(count) < 1:
        raise ValueError(f"`count` must be at least 1. Received: count={count}")
    gradient = np.asarray(gradient, dtype="float64")
    if gradient.ndim == 3:
        gradient = gradient.sum(axis=-1)
    pattern = np.ones(trigger_size) if trigger_pattern is None else np.asarray(trigger_pattern)
    windows = np.lib.stride_tricks.sliding_window_view(gradient, pattern.shape)
    scores = np.einsum("ijkl,kl->ij", windows, pattern)
    height, width = pattern.shape
    positions = []
    for flat in np.argsort(-scores, axis=None, kind="stable"):
        row, col = (int(i) for i in np.unravel_index(flat, scores.shape))
        if all(abs(row - r) >= height or abs(col - c) >= width for r, c in positions):
            positions.append((row, col))
            if len(positions) == count:
                break
    return positions


def trigger_position(gradient, trigger_size, trigger_pattern=None):
    """Where the trigger meets the largest SNNL gradient (Algorithm 1, lines 1-2).

    `position = argmax(convolve(gradient, trigger))`, the first of
    `trigger_positions`.

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
    return trigger_positions(gradient, trigger_size, trigger_pattern)[0]


def _sign_step(model_fn, x):
    """The sign of the gradient of `model_fn(x)` (a scalar) with respect to `x`."""
    x = tf.constant(x, dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = model_fn(x)
    return np.sign(tape.gradient(value, x).numpy())


def refine_watermarks(
    model,
    watermarks,
    target_x,
    target_class,
    layers,
    temperatures=100.0,
    distance="cosine",
    step_size=0.01,
    iterations=10,
    false_rate=0.1,
    max_suppression_steps=50,
    final_suppression_steps=5,
    batch_size=128,
):
    """Moves watermarks towards the target class in representation, not in prediction.

    The EWE authors' reference implementation refines the watermarks on the
    cleanly trained model before the watermarking phase (the paper leaves
    this step out). For each batch of `batch_size // 2` watermarks, repeated
    `iterations` times: while more than `false_rate` of the batch is
    classified as `target_class`, step against the target logit (at most
    `max_suppression_steps` such steps per batch), so a model that was not
    watermarked keeps rejecting them; then one signed step up the summed
    SNNL between the batch and as many target-class inputs, which entangles
    the watermarks with the target class. `final_suppression_steps` steps
    against the target logit close. Every step is an L-infinity step of
    `step_size`, clipped to [0, 1].

    Args:
        model: keras.Model. The classifier after clean training, with a
            layer named `"logits"` (pre-softmax scores) or outputting
            probabilities (their log is used then).
        watermarks: np.ndarray. Watermark inputs in [0, 1].
        target_x: np.ndarray. Task inputs of the target class.
        target_class: int. The watermarks' target class.
        layers: sequence of str. Entangled layer names.
        temperatures: float or sequence. SNNL temperatures.
        distance: `"cosine"` or `"euclidean"`.
        step_size: float. Size of each signed step (reference `w_lr`).
        iterations: int. Refinement rounds per batch (reference `maxiter`).
        false_rate: float. Largest fraction of a batch the clean model may
            assign to the target (reference `threshold`).
        max_suppression_steps: int. Cap on steps against the target logit
            inside the rounds.
        final_suppression_steps: int. Steps against the target logit after
            the rounds.
        batch_size: int. Watermarks and target inputs per batch (half each).

    Returns:
        The refined watermarks, an array like `watermarks`.

    Examples:

    >>> import numpy as np, kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> x = np.random.default_rng(0).random((6, 8, 8, 1), "float32")
    >>> refined = refine_watermarks(model, x, x, 1, ["relu1"], iterations=2)
    >>> refined.shape, bool(np.all((refined >= 0) & (refined <= 1)))
    ((6, 8, 8, 1), True)
    >>> bool(np.abs(refined - x).max() <= 0.01 * (2 + 50 + 5) + 1e-6)
    True
    """
    if not 0.0 <= false_rate <= 1.0:
        raise ValueError(f"`false_rate` must lie in [0, 1]. Received: false_rate={false_rate}")
    if step_size <= 0 or iterations < 0:
        raise ValueError(
            "`step_size` must be positive and `iterations` non-negative. "
            f"Received: step_size={step_size}, iterations={iterations}"
        )
    temperatures = _per_layer(temperatures, layers)
    names = {layer.name for layer in model.layers}
    scores_model = feature_model(model, ["logits"]) if "logits" in names else model
    hidden_features = feature_model(model, layers, include_output=False)
    use_log = "logits" not in names

    def scores_of(x):
        scores = scores_model(x, training=False)
        return scores[0] if isinstance(scores, (list, tuple)) else scores  # the logits first

    def target_score(x):
        scores = scores_of(x)
        if use_log:
            scores = tf.math.log(scores + 1e-12)
        return tf.reduce_sum(scores[:, target_class])

    def predicted_target_rate(x):
        scores = np.asarray(scores_of(tf.constant(x, "float32")))
        return float(np.mean(scores.argmax(axis=-1) == target_class))

    half = max(1, batch_size // 2)
    refined = np.array(watermarks, dtype="float32", copy=True)
    for start in range(0, len(refined), half):
        current = refined[start : start + half]
        n = len(current)
        targets = np.asarray(target_x[np.arange(start, start + n) % len(target_x)], "float32")
        groups = np.concatenate([np.ones(n, "int32"), np.zeros(n, "int32")])

        def snnl(x, targets=targets, groups=groups):
            batch = tf.concat([x, targets], axis=0)
            return _summed_snnl(hidden_features, groups, batch, temperatures, distance)

        suppression_steps = 0
        for _ in range(iterations):
            while (
                predicted_target_rate(current) > false_rate
                and suppression_steps < max_suppression_steps
            ):
                suppression_steps += 1
                current = np.clip(current - step_size * _sign_step(target_score, current), 0, 1)
            current = np.clip(current + step_size * _sign_step(snnl, current), 0, 1)
        for _ in range(final_suppression_steps):
            current = np.clip(current - step_size * _sign_step(target_score, current), 0, 1)
        refined[start : start + half] = current
    return refined
