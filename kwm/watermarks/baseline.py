"""The baseline backdoor watermark that both papers compare against."""

from kwm import training
from kwm.watermarks.schedule import check_key_matches, fit_on_watermark_schedule


def embed_baseline_watermark(
    model,
    data,
    key,
    epochs=10,
    watermark_epochs=10,
    batch_size=128,
    ratio=1,
    learning_rate=1e-3,
    seed=0,
    verbose="auto",
    callbacks=None,
    pairs=False,
    watermark_data=None,
):
    """Trains a model on the task, then fine-tunes it on task + watermarks.

    The baseline of both papers (Adi et al. 2018, as used in EWE Table 1
    and feature-sharing Tables 2-3): "first trains a clean model on a
    legitimate dataset D, then fine-tunes the model on both watermark
    dataset Dw and legitimate dataset D". The fine-tuning data follows
    EWE's schedule (`watermark_schedule`): `ratio` task batches, then a
    batch of half watermarks and half target-class inputs labelled with the
    target class, trained with cross-entropy only - EWE's baseline, its
    Eq. 2 with `w = 0`.

    Args:
        model: keras.Model. A fresh classifier outputting probabilities.
        data: TaskDataset. The task data.
        key: WatermarkKey. Its `embed_inputs` are learned as `target_class`.
        epochs: int. Epochs of clean training.
        watermark_epochs: int. Epochs of fine-tuning with watermarks (each
            covers the task data once, plus the watermark batches).
        batch_size: int. Batch size.
        ratio: int. Task batches per watermark batch.
        learning_rate: float. Adam learning rate.
        seed: int. Seed of initialisation and shuffling.
        verbose: Keras verbosity.
        callbacks: list of keras callbacks, passed to both phases.
        pairs: bool. Watermark batches of watermarks beside the same inputs
            without the trigger, labelled with the source class, instead of
            target-class inputs (`fit_on_watermark_schedule`; in-distribution
            keys only).
        watermark_data: TaskDataset or None. The fine-tuning phase's task
            data (None: `data`).

    Returns:
        A dict with the `History` of each phase (`"clean"`, `"watermark"`).

    Examples:

    >>> import kwm
    >>> data = kwm.datasets.load("mnist", sources=("embedded",))
    >>> data = kwm.datasets.subsample(data, max_train=1000, max_test=500)
    >>> key = kwm.watermarks.generate_key(data, "baseline", 7, 1,
    ...     trigger=kwm.watermarks.PatchTrigger(), num_verify=20)
    >>> model = kwm.architectures.ewe_cnn()
    >>> history = embed_baseline_watermark(model, data, key, epochs=1,
    ...     watermark_epochs=1, verbose=0)
    >>> sorted(history)
    ['clean', 'watermark']
    """
    watermark_data, history = clean_step(
        model, data, key, watermark_data, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, verbose=verbose, callbacks=callbacks,
    )
    history["watermark"] = fit_on_watermark_schedule(
        model, watermark_data, key, watermark_epochs,
        batch_size=batch_size, ratio=ratio, seed=seed,
        verbose=verbose, callbacks=callbacks, pairs=pairs,
    )
    return history


def clean_step(model, data, key, watermark_data=None, **fit_settings):
    """The first step of the baseline and of feature sharing: the task alone.

    Checks that `key` belongs to `data` (and to `watermark_data`, the
    watermark step's task data, if given), then trains `model` on `data`
    with `kwm.training.train_classifier`.

    Args:
        model: keras.Model. A fresh classifier.
        data: TaskDataset. The task data.
        key: WatermarkKey. The key the next step embeds.
        watermark_data: TaskDataset or None. The next step's task data
            (None: `data`).
        **fit_settings: `epochs`, `batch_size`, `learning_rate`, `seed`,
            `verbose`, `callbacks` of `train_classifier`.

    Returns:
        `(watermark_data, history)`: the next step's task data and a dict
        with the step's `History` under `"clean"`.

    Examples:

    >>> import kwm
    >>> data = kwm.datasets.load("mnist", sources=("embedded",))
    >>> data = kwm.datasets.subsample(data, max_train=500, max_test=500)
    >>> key = kwm.watermarks.generate_key(data, "baseline", 7, 1,
    ...     trigger=kwm.watermarks.PatchTrigger(), num_verify=20)
    >>> _, history = clean_step(kwm.architectures.ewe_cnn(), data, key, epochs=1,
    ...     verbose=0)
    >>> list(history)
    ['clean']
    """
    check_key_matches(key, data)
    if watermark_data is None:
        watermark_data = data
    else:
        check_key_matches(key, watermark_data)
    history = {
        "clean": training.train_classifier(model, data.train.x, data.train.y, **fit_settings)
    }
    return watermark_data, history
