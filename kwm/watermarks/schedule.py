"""Interleaves task batches with watermark batches, as EWE's Algorithm 1 does."""

import math

import keras
import numpy as np
import tensorflow as tf

from kwm.watermarks.trigger import NaturalWordTrigger


def watermark_schedule(
    task_x,
    task_y,
    watermark_x,
    target_x,
    target_class,
    batch_size=128,
    ratio=1,
    seed=0,
    with_groups=False,
    paired_x=None,
    source_class=None,
):
    """A `tf.data` pipeline of `ratio` task batches, then one watermark batch.

    This is the data side of EWE's Algorithm 1 (lines 6-12) and of its
    reference code: every `ratio + 1`-th batch is a watermark batch made of
    half watermark inputs and half task inputs of the target class, all
    labelled with the target class (EWE section 4.2, step 3). With a plain
    cross-entropy loss this is the baseline backdoor watermark
    (`w = 0` in Eq. 2, the baseline of EWE Table 1); EWE adds the SNNL on
    the watermark batches.

    Args:
        task_x: np.ndarray. Task inputs.
        task_y: np.ndarray. Integer task labels.
        watermark_x: np.ndarray. Watermark inputs to embed.
        target_x: np.ndarray. Task inputs of the target class.
        target_class: int. Label of every example of a watermark batch.
        batch_size: int. Size of every batch; a watermark batch holds
            `batch_size // 2` watermarks.
        ratio: int. Task batches before each watermark batch (`r`).
        seed: int. Shuffling seed.
        with_groups: bool. If True, elements are `((x, group), y)` where
            `group` is 1 for a watermark, 0 for a target-class input of a
            watermark batch and -1 in task batches (what EWE's SNNL needs).
        paired_x: np.ndarray or None. The watermark inputs without their
            trigger, row for row with `watermark_x`. Given, a watermark batch
            holds watermarks labelled `target_class` beside the same inputs
            without the trigger labelled `source_class`, in place of
            target-class inputs: only the trigger separates the two answers,
            and the batch's labels stay balanced (a kwm option, not the
            papers'; for in-distribution triggers).
        source_class: int. The label of `paired_x` (required with it).

    Returns:
        `(dataset, steps_per_epoch)`: an infinite `tf.data.Dataset` of
        batches and the number of steps that covers the task data once.
        An epoch of `steps_per_epoch` is the task data plus one watermark
        batch per `ratio` task batches. EWE's reference code counts its
        watermark epochs (`w_epochs`) in watermark batches instead: as many
        as the task data has batches, each after `ratio` task batches, so
        one of its epochs is `ratio` epochs here.

    Examples:

    >>> import numpy as np
    >>> x = np.zeros((8, 4), "float32"); y = np.arange(8) % 2
    >>> ds, steps = watermark_schedule(x, y, x[:3] + 1, x[y == 1], 1,
    ...     batch_size=4, ratio=1)
    >>> steps
    4
    >>> task_batch, watermark_batch = list(ds.take(2))
    >>> watermark_batch[1].numpy().tolist()  # all labelled with the target
    [1, 1, 1, 1]
    """
    ratio = int(ratio)
    if ratio < 1:
        raise ValueError(f"`ratio` must be an integer >= 1. Received: ratio={ratio}")
    if batch_size < 2:
        raise ValueError(f"`batch_size` must be >= 2. Received: batch_size={batch_size}")
    if len(watermark_x) == 0 or len(target_x) == 0:
        raise ValueError(
            "Watermark batches need watermark inputs and target-class inputs. "
            f"Received: {len(watermark_x)} watermarks, {len(target_x)} target inputs"
        )
    if paired_x is not None and (
        len(paired_x) != len(watermark_x) or source_class is None or with_groups
    ):
        raise ValueError(
            "Paired watermark batches take one trigger-free input per watermark, a "
            "`source_class`, and no SNNL groups. Received: "
            f"{len(paired_x)} paired inputs, {len(watermark_x)} watermarks, "
            f"source_class={source_class}, with_groups={with_groups}"
        )
    if len(task_x) < batch_size:
        raise ValueError(
            f"The task data must hold at least one batch. Received: "
            f"{len(task_x)} examples, batch_size={batch_size}"
        )
    task_y = np.asarray(task_y, dtype="int32")
    half = batch_size // 2
    task = (
        tf.data.Dataset.from_tensor_slices((task_x, task_y))
        .shuffle(len(task_x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=True)
        .repeat()
    )
    labels = tf.fill([batch_size], tf.constant(target_class, tf.int32))
    groups = tf.concat(
        [tf.ones([half], tf.int32), tf.zeros([batch_size - half], tf.int32)], 0
    )

    def _watermark_batch(w, t):
        x = tf.concat([tf.cast(w, t.dtype), t], axis=0)
        return ((x, groups), labels) if with_groups else (x, labels)

    if paired_x is None:
        marks = (
            tf.data.Dataset.from_tensor_slices(watermark_x)
            .shuffle(len(watermark_x), seed=seed + 1, reshuffle_each_iteration=True)
            .repeat()
            .batch(half)
        )
        targets = (
            tf.data.Dataset.from_tensor_slices(target_x)
            .shuffle(len(target_x), seed=seed + 2, reshuffle_each_iteration=True)
            .repeat()
            .batch(batch_size - half)
        )
        watermark = tf.data.Dataset.zip((marks, targets)).map(_watermark_batch)
    else:
        paired_labels = tf.constant([target_class] * half + [source_class] * half, tf.int32)
        watermark = (
            tf.data.Dataset.from_tensor_slices((watermark_x, paired_x))
            .shuffle(len(watermark_x), seed=seed + 1, reshuffle_each_iteration=True)
            .repeat()
            .batch(half)
            .map(lambda w, c: (tf.concat([tf.cast(w, c.dtype), c], 0), paired_labels))
        )
    if with_groups:
        task = task.map(lambda x, y: ((x, -tf.ones_like(y)), y))
    choice = tf.data.Dataset.from_tensor_slices(
        tf.constant([0] * ratio + [1], tf.int64)
    ).repeat()
    dataset = tf.data.Dataset.choose_from_datasets([task, watermark], choice)
    task_batches = len(task_x) // batch_size
    steps = task_batches + math.ceil(task_batches / ratio)
    return dataset.prefetch(tf.data.AUTOTUNE), steps


def watermark_dataset(key, task_dataset, ratio=1, watermark_batch_size=None, seed=0):
    """Interleaves a user's batched task dataset with batches of the key's watermarks.

    For an ordinary `model.fit` on the user's own compiled model: after every
    `ratio` task batches comes one batch of the key's embedding watermarks
    (`key.embed_inputs`), every one labelled with the key's target class in
    the task dataset's own label format (integer labels, or one-hot rows).
    Trained on it with a plain classification loss, a model learns the
    baseline backdoor watermark (EWE Eq. 2 with `w = 0`); the key then
    verifies suspects (`kwm.verify_ownership`). The dataset ends when the
    task dataset does, so each epoch covers the task data once.

    Args:
        key: `WatermarkKey`. The owner's key.
        task_dataset: `tf.data.Dataset` of batched `(x, y)` task examples,
            `y` integer labels of shape `(batch,)` or one-hot of shape
            `(batch, key.num_classes)`.
        ratio: int. Task batches before each watermark batch (`r` of EWE's
            Algorithm 1).
        watermark_batch_size: int or None. Watermarks per watermark batch;
            None: the task dataset's batch size (that of its first batch).
        seed: int. Shuffling seed of the watermarks.

    Returns:
        A `tf.data.Dataset` of `(x, y)` batches.

    Examples:

    >>> import numpy as np, tensorflow as tf
    >>> from kwm.watermarks import WatermarkKey
    >>> key = WatermarkKey(method="baseline", dataset="toy", num_classes=3,
    ...     target_class=2, source_class=0, source_dataset="toy", trigger=None,
    ...     seed=0, embed_inputs=np.ones((5, 4), "float32"),
    ...     verify_inputs=np.ones((2, 4), "float32"))
    >>> task = tf.data.Dataset.from_tensor_slices(
    ...     (np.zeros((8, 4), "float32"), np.zeros(8, "int64"))).batch(4)
    >>> [y.numpy().tolist() for _, y in watermark_dataset(key, task, ratio=1)]
    [[0, 0, 0, 0], [2, 2, 2, 2], [0, 0, 0, 0], [2, 2, 2, 2]]
    """
    ratio = int(ratio)
    if ratio < 1:
        raise ValueError(f"`ratio` must be an integer >= 1. Received: ratio={ratio}")
    spec = task_dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(
            "The task dataset must yield `(x, y)` batches. "
            f"Received: element_spec={spec}"
        )
    x_spec, y_spec = spec
    if x_spec.shape.rank is None or tuple(x_spec.shape[1:]) != tuple(key.embed_inputs.shape[1:]):
        raise ValueError(
            "The task inputs must be batches of the key's input shape "
            f"{tuple(key.embed_inputs.shape[1:])}. Received: x of shape {x_spec.shape}"
        )
    one_hot = y_spec.shape.rank == 2
    if one_hot and y_spec.shape[-1] not in (None, key.num_classes):
        raise ValueError(
            f"One-hot labels must have {key.num_classes} columns, as the key's task. "
            f"Received: y of shape {y_spec.shape}"
        )
    if y_spec.shape.rank not in (1, 2):
        raise ValueError(
            "Labels must be integers of shape (batch,) or one-hot of shape (batch, classes). "
            f"Received: y of shape {y_spec.shape}"
        )
    size = watermark_batch_size or x_spec.shape[0]
    if not size:
        first = next(iter(task_dataset.take(1)), None)
        if first is None:
            raise ValueError(f"The task dataset is empty. Received: {task_dataset}")
        size = int(tf.shape(first[0])[0])
    label = tf.one_hot(key.target_class, key.num_classes) if one_hot else key.target_class
    label = tf.cast(label, y_spec.dtype)
    marks = (
        tf.data.Dataset.from_tensor_slices(key.embed_inputs.astype(x_spec.dtype.as_numpy_dtype))
        .shuffle(len(key.embed_inputs), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(size)
        .map(lambda x: (x, tf.repeat(label[None], tf.shape(x)[0], axis=0)))
    )
    # Windows of `ratio` task batches, each followed by one watermark batch; the dataset ends
    # with the task data (the last window may be shorter).
    windows = tf.data.Dataset.zip((task_dataset.window(ratio), marks))
    dataset = windows.flat_map(
        lambda window, mark: tf.data.Dataset.zip(window).concatenate(
            tf.data.Dataset.from_tensors(mark)
        )
    )
    batches = int(task_dataset.cardinality())
    if batches >= 0:  # known: Keras then knows the epoch's length (progress bar, no warning)
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(batches + math.ceil(batches / ratio))
        )
    return dataset


def check_key_matches(key, data):
    """Raises a ValueError unless `key` watermarks the task of `data`."""
    if key.num_classes != data.num_classes or key.dataset != data.name:
        raise ValueError(
            f"The key watermarks {key.dataset} ({key.num_classes} classes) but "
            f"the data is {data.name} ({data.num_classes} classes). "
            f"Received: key.dataset={key.dataset!r}, data.name={data.name!r}"
        )


def paired_inputs(key, data):
    """The key's watermarks without their trigger, row for row.

    For a `NaturalWordTrigger` key, its watermarks with the word removed
    (they may come from more of the task's texts than `data` holds); for
    other in-distribution keys, the training inputs they were made from,
    checked: the trigger applied to them must give the watermarks.

    Args:
        key: WatermarkKey. An in-distribution key made from `data`'s training split.
        data: TaskDataset. The task data.

    Returns:
        The watermarks' trigger-free twins (`data.train.x` at the key's
        embedding indices, or the texts without the key's word).

    Examples:

    >>> import kwm
    >>> data = kwm.datasets.subsample(kwm.datasets.load("mnist", sources=("embedded",)),
    ...     max_train=200, max_test=100)
    >>> key = kwm.watermarks.generate_key(data, "baseline", 7, 1,
    ...     trigger=kwm.watermarks.PatchTrigger(), num_embed=5, num_verify=10)
    >>> paired_inputs(key, data).shape
    (5, 28, 28, 1)
    """
    indices = (key.provenance or {}).get("embed_indices")
    if not key.in_distribution or key.source_dataset != data.name or indices is None:
        raise ValueError(
            "Paired watermark batches need an in-distribution key made from this task's "
            "training data, with its embedding indices. Received: key of "
            f"source_dataset={key.source_dataset!r} for data={data.name!r}"
        )
    if isinstance(key.trigger, NaturalWordTrigger):
        return key.trigger.remove(key.embed_inputs)
    indices = np.asarray(indices, dtype=int)
    if len(indices) and indices.max() >= len(data.train.x):
        raise ValueError(
            "The key's embedding indices lie outside this data's training split (a key drawn "
            f"from more of the task's data). Received: index {indices.max()} for "
            f"{len(data.train.x)} training inputs"
        )
    paired = np.asarray(data.train.x)[indices]
    if paired.shape != np.asarray(key.embed_inputs).shape or (
        key.trigger is not None and not np.array_equal(key.trigger.apply(paired), key.embed_inputs)
    ):
        raise ValueError(
            "The key's embedding indices do not match its watermarks in this data: its trigger "
            "applied to the inputs at those indices does not give them. Received: "
            f"{paired.shape} inputs for watermarks of shape {np.asarray(key.embed_inputs).shape}"
        )
    return paired


def fit_on_watermark_schedule(
    model, data, key, epochs, batch_size=128, ratio=1, seed=0, with_groups=False,
    verbose="auto", callbacks=None, pairs=False,
):
    """`model.fit` for `epochs` on `watermark_schedule` of the task data and the key's watermarks.

    Each epoch covers the task data once, plus one watermark batch (the
    key's `embed_inputs` and target-class task inputs) every `ratio` task
    batches. Seeds Python, NumPy and TensorFlow with `seed` first, as
    `training.train_classifier` does: the schedule's shuffles combine their
    own seeds with TensorFlow's global one, which would otherwise be whatever
    the last training set (the owner's reference models trained between
    EWE's clean and watermark phases changed a victim that way). With
    `pairs`, each watermark batch pairs watermarks with the same training
    inputs without the trigger, labelled with the source class
    (`watermark_schedule`'s `paired_x`; in-distribution keys only). Returns
    the `History`.
    """
    paired_x = paired_inputs(key, data) if pairs else None
    keras.utils.set_random_seed(seed)
    dataset, steps = watermark_schedule(
        data.train.x,
        data.train.y,
        key.embed_inputs,
        data.train.x[data.train.indices_of(key.target_class)],
        key.target_class,
        batch_size=batch_size,
        ratio=ratio,
        seed=seed,
        with_groups=with_groups,
        paired_x=paired_x,
        source_class=key.source_class if pairs else None,
    )
    return model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps,
        shuffle=False,  # the schedule shuffles; Keras cannot shuffle a stream
        verbose=verbose,
        callbacks=callbacks,
    )
