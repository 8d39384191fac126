"""Neural Cleanse (Wang et al., 2019): reverse-engineer triggers, flag outliers, unlearn them."""

import dataclasses

import keras
import numpy as np
from keras import ops

from kwm import training

# Consistency constant of the median absolute deviation for normal data (Wang et al., sec. 4).
MAD_CONSTANT = 1.4826
# A class whose trigger norm lies this many normalised MADs below the median is flagged.
ANOMALY_THRESHOLD = 2.0


@dataclasses.dataclass
class ReversedTrigger:
    """The smallest trigger found that sends inputs to one class.

    Args:
        target_class: int. The class the trigger sends inputs to.
        mask: np.ndarray. `(height, width)` blending mask in [0, 1].
        pattern: np.ndarray. `(height, width, channels)` pattern in the
            input range.
        norm: float. L1 norm of the mask (Neural Cleanse's trigger size).
        success_rate: float. Fraction of the held inputs the trigger sends
            to `target_class`.
    """

    target_class: int
    mask: np.ndarray
    pattern: np.ndarray
    norm: float
    success_rate: float

    def apply(self, x):
        """Stamps the trigger on images `x`: `(1 - m) x + m p`."""
        m = self.mask[..., None]
        return ((1.0 - m) * np.asarray(x, "float32") + m * self.pattern).astype("float32")


@dataclasses.dataclass
class NeuralCleanseResult:
    """Neural Cleanse's verdict on a model.

    Args:
        triggers: list of ReversedTrigger, one per class.
        anomaly_indices: np.ndarray. Per class, how many normalised MADs its
            trigger norm lies below the median (0 for classes above it).
        anomaly_index: float. The largest of them (the smallest trigger's);
            EWE reports 1.6 for EWE vs 31.6 for the baseline.
        flagged: bool. `anomaly_index > 2`: the model is judged backdoored.
        suspected_class: int. The class with the smallest trigger.
    """

    triggers: list
    anomaly_indices: np.ndarray
    anomaly_index: float
    flagged: bool
    suspected_class: int

    def to_dict(self):
        return {
            "norms": [t.norm for t in self.triggers],
            "success_rates": [t.success_rate for t in self.triggers],
            "anomaly_indices": self.anomaly_indices.tolist(),
            "anomaly_index": self.anomaly_index,
            "flagged": self.flagged,
            "suspected_class": self.suspected_class,
        }


def anomaly_indices(norms):
    """Neural Cleanse's anomaly index of each class from its trigger norm.

    `(median - norm) / (1.4826 * MAD)` for norms below the median, 0 above
    it (only unusually *small* triggers betray a backdoor). A MAD of 0 is
    replaced by `1e-6 * median`, so the index stays finite.

    Examples:

    >>> anomaly_indices([10.0, 11.0, 9.0, 10.5, 1.0]).round(2).tolist()
    [0.0, 0.0, 0.67, 0.0, 6.07]
    """
    norms = np.asarray(norms, dtype="float64")
    median = np.median(norms)
    mad = MAD_CONSTANT * np.median(np.abs(norms - median))
    below = np.maximum(median - norms, 0.0)
    # Identical norms give a MAD of 0: a floor keeps the index finite (and huge) for JSON.
    return below / max(mad, 1e-6 * abs(median), 1e-12)


def reverse_engineer_trigger(
    model,
    x,
    target_class,
    steps=300,
    batch_size=64,
    learning_rate=0.1,
    l1_weight=1e-3,
    adaptive=False,
    success_threshold=0.99,
    patience=5,
    check_every=10,
    seed=0,
):
    """Finds a small mask and pattern that send inputs `x` to `target_class`.

    Wang et al. (2019), Eq. 3: minimise over mask `m` and pattern `p`
    `CE(f((1 - m) * x + m * p), target) + lambda * |m|_1`, with `m` and `p`
    kept in [0, 1] through a sigmoid.

    With `adaptive=False`, `lambda = l1_weight` throughout and the final
    mask is returned. With `adaptive=True`, `lambda` follows the schedule of
    Wang et al.'s search: it starts at 0 (reach the target first); once the
    trigger has sent at least `success_threshold` of the batches to the
    target for `patience` consecutive checks (one check every
    `check_every` steps) it is set to `l1_weight`, and from then on
    multiplied by 1.5 after `patience` successful checks in a row and
    divided by 1.5 ** 1.5 after `patience` failing ones. The mask returned
    is the smallest one seen at a successful check - the trigger *size*
    Neural Cleanse compares across classes is then that of a trigger that
    works, whatever its class needs (or the last mask, if none worked).

    Args:
        model: keras.Model. Outputs class probabilities for images in [0, 1].
        x: np.ndarray. Clean images `(n, h, w, c)`.
        target_class: int. Class to reach.
        steps: int. Optimisation steps.
        batch_size: int. Images per step.
        learning_rate: float. Adam learning rate on the mask and pattern.
        l1_weight: float. Weight of the mask's L1 norm (the schedule's
            initial weight when `adaptive`).
        adaptive: bool. Adapt the weight as Wang et al. do.
        success_threshold: float. Attack success a trigger must reach
            (adaptive search).
        patience: int. Checks in a row before the weight changes.
        check_every: int. Steps per check.
        seed: int. Seed of the initialisation and batches.

    Returns:
        A `ReversedTrigger`.

    Examples:

    >>> import numpy as np, kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=3)
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1), "float32")
    >>> trigger = reverse_engineer_trigger(model, x, 0, steps=20, adaptive=True)
    >>> trigger.mask.shape
    (8, 8)
    """
    import tensorflow as tf

    if not 0.0 < success_threshold <= 1.0 or patience < 1 or check_every < 1:
        raise ValueError(
            "`success_threshold` must lie in (0, 1], `patience` and `check_every` be >= 1. "
            f"Received: success_threshold={success_threshold}, patience={patience}, "
            f"check_every={check_every}"
        )
    x = np.asarray(x, "float32")
    rng = np.random.default_rng(seed)
    height, width, channels = x.shape[1:]
    mask_logits = keras.Variable(rng.normal(-2.0, 0.1, (height, width, 1)).astype("float32"))
    pattern_logits = keras.Variable(rng.normal(0.0, 0.1, (height, width, channels)).astype("float32"))
    weight = tf.Variable(0.0 if adaptive else float(l1_weight), trainable=False)
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = [mask_logits, pattern_logits]
    labels = ops.full((batch_size,), target_class, dtype="int32")

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            mask = ops.sigmoid(mask_logits)
            pattern = ops.sigmoid(pattern_logits)
            stamped = (1.0 - mask) * batch + mask * pattern
            probabilities = model(stamped, training=False)
            loss = ops.mean(
                keras.losses.sparse_categorical_crossentropy(labels[: ops.shape(batch)[0]], probabilities)
            ) + weight * ops.sum(mask)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return ops.mean(ops.cast(ops.argmax(probabilities, axis=-1) == target_class, "float32"))

    best = None  # (norm, mask logits, pattern logits) of the smallest working trigger
    successes, up, down = [], 0, 0
    for i in range(steps):
        success = step(x[rng.choice(len(x), size=min(batch_size, len(x)), replace=False)])
        if not adaptive:
            continue  # a fixed weight never reads the success: no host sync per step
        successes.append(float(success))
        if (i + 1) % check_every:
            continue
        works = np.mean(successes) >= success_threshold
        successes = []
        up, down = (up + 1, 0) if works else (0, down + 1)
        if works:
            norm = float(np.sum(np.asarray(ops.sigmoid(mask_logits))))
            if best is None or norm < best[0]:
                best = (norm, np.asarray(mask_logits), np.asarray(pattern_logits))
        if float(weight.numpy()) == 0.0:
            if up >= patience:
                weight.assign(float(l1_weight))
                up = 0
        elif up >= patience:
            weight.assign(weight * 1.5)
            up = 0
        elif down >= patience:
            weight.assign(weight / 1.5**1.5)
            down = 0
    if best is not None:
        mask_logits.assign(best[1])
        pattern_logits.assign(best[2])
    trigger = ReversedTrigger(
        target_class=int(target_class),
        mask=np.asarray(ops.sigmoid(mask_logits))[..., 0],
        pattern=np.asarray(ops.sigmoid(pattern_logits)),
        norm=0.0,
        success_rate=0.0,
    )
    trigger.norm = float(trigger.mask.sum())
    predictions = model.predict(trigger.apply(x), batch_size=256, verbose=0).argmax(axis=1)
    trigger.success_rate = float(np.mean(predictions == target_class))
    return trigger


def neural_cleanse(model, x, classes=None, **kwargs):
    """Runs Neural Cleanse on a model: one reversed trigger per class, then the MAD outlier test.

    A backdoored class needs a much smaller trigger than the others; a
    model is flagged when the smallest trigger's anomaly index exceeds 2
    (Wang et al., 2019; EWE section 5.4 reports 1.6 for EWE, 31.6 for the
    baseline watermark).

    Args:
        model: keras.Model. Outputs class probabilities.
        x: np.ndarray. Clean images the adversary holds.
        classes: sequence of int or None. Classes to search (default all).
        **kwargs: passed to `reverse_engineer_trigger`.

    Returns:
        A `NeuralCleanseResult`.

    Examples:

    >>> import numpy as np, kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=3)
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1), "float32")
    >>> result = neural_cleanse(model, x, steps=2)
    >>> len(result.triggers), result.anomaly_indices.shape
    (3, (3,))
    """
    classes = list(range(model.output_shape[-1])) if classes is None else list(classes)
    if len(classes) < 3:
        raise ValueError(
            "The MAD outlier test needs triggers for at least 3 classes. "
            f"Received: classes={classes}"
        )
    triggers = [reverse_engineer_trigger(model, x, c, **kwargs) for c in classes]
    indices = anomaly_indices([t.norm for t in triggers])
    worst = int(np.argmax(indices))
    return NeuralCleanseResult(
        triggers=triggers,
        anomaly_indices=indices,
        anomaly_index=float(indices[worst]),
        flagged=bool(indices[worst] > ANOMALY_THRESHOLD),
        suspected_class=int(triggers[worst].target_class),
    )


def unlearn(
    model,
    x,
    y,
    trigger,
    fraction=0.2,
    epochs=2,
    batch_size=128,
    learning_rate=1e-3,
    seed=None,
    verbose=0,
):
    """Fine-tunes a copy of `model` with the reversed trigger stamped on some inputs, true labels kept.

    Neural Cleanse's mitigation (Wang et al., sec. 6): a `fraction` of the
    clean inputs carries the recovered trigger but keeps its correct label,
    so the model unlearns the trigger -> target shortcut.

    Args:
        model: keras.Model. The model to patch; it is not modified.
        x: np.ndarray. Clean inputs.
        y: np.ndarray. Integer labels, or `(n, classes)` probabilities from
            the victim's API.
        trigger: ReversedTrigger. Usually `result.triggers` of the
            suspected class.
        fraction: float. Share of inputs stamped, in (0, 1].
        epochs, batch_size, learning_rate, seed, verbose: training settings.

    Returns:
        The patched copy.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must lie in (0, 1]. Received: fraction={fraction}")
    rng = np.random.default_rng(seed)
    x = np.array(x, "float32", copy=True)
    stamped = rng.choice(len(x), size=int(round(fraction * len(x))), replace=False)
    x[stamped] = trigger.apply(x[stamped])
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if seed is not None:
        keras.utils.set_random_seed(seed)
    y = np.asarray(y)
    training.compile_classifier(copy, learning_rate, soft_labels=y.ndim == 2)
    copy.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose)
    return copy
