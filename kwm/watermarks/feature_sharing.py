"""Feature-sharing watermarks: a frozen task feature extractor, watermarked decision layers."""

from kwm import training
from kwm.watermarks.baseline import clean_step
from kwm.watermarks.schedule import fit_on_watermark_schedule


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def freeze_feature_extractor(model, up_to=-1):
    """Freezes the layers of `model` from its input up to `up_to`.

    Args:
        model: keras.Model. A functional or sequential classifier.
        up_to: str or int. A layer name: that layer and every layer before
            it (in `model.layers` order) are frozen. A path through a nested
            model (`"bert_backbone/transformer_layer_4"`) freezes the layers
            before the nested model and the nested model's own layers up to
            the named one, so the top of a backbone (its last transformer
            layer, its pooler) can belong to the decision layers. An int
            `k`: the first `k` layers that hold weights are frozen (and the
            weightless layers before the next one); negative `k` counts from
            the end, so -1 (the default) leaves only the last weighted layer,
            the feature-sharing paper's "last decision layer", trainable.

    Frozen `BatchNormalization` layers run in inference mode (Keras'
    semantics for `trainable = False`), so their statistics stay fixed too.

    Returns:
        The names (paths, for nested layers) of the frozen layers that hold weights.

    Examples:

    >>> import kwm
    >>> model = kwm.architectures.ewe_cnn()
    >>> freeze_feature_extractor(model, "dense1")
    ['conv1', 'conv2', 'dense1']
    >>> [layer.name for layer in model.layers if layer.trainable_weights]
    ['logits']
    """
    return [path for path, layer, _ in _freeze(model, up_to) if layer.weights]


def _freeze(model, up_to):
    """Freezes what `freeze_feature_extractor` freezes; returns `(path, layer, was_trainable)`."""
    frozen = _frozen_layers(model, up_to)
    frozen_weights = {id(w) for _, layer in frozen for w in layer.weights}
    if not any(w.trainable and id(w) not in frozen_weights for w in model.weights):
        raise ValueError(
            "Freezing up to this layer leaves no layer with weights to learn the "
            f"watermark. Received: up_to={up_to!r}"
        )
    previous = [(path, layer, layer.trainable) for path, layer in frozen]
    for _, layer in frozen:
        layer.trainable = False
    return previous


def _frozen_layers(model, up_to, prefix=""):
    """`(path, layer)` of every layer `freeze_feature_extractor(model, up_to)` freezes."""
    names = [layer.name for layer in model.layers]
    if isinstance(up_to, str):
        outer, _, inner = up_to.partition("/")
        if outer not in names:
            raise ValueError(
                f"`up_to` must name a layer of {model.name}: {names}. "
                f"Received: up_to={prefix + up_to!r}"
            )
        stop = names.index(outer)
        frozen = [(prefix + layer.name, layer) for layer in model.layers[:stop]]
        if not inner:
            return frozen + [(prefix + outer, model.layers[stop])]
        nested = model.layers[stop]
        if not getattr(nested, "layers", None):
            raise ValueError(
                f"`up_to` goes through {outer!r}, which holds no layers. "
                f"Received: up_to={prefix + up_to!r}"
            )
        return frozen + _frozen_layers(nested, inner, prefix=f"{prefix}{outer}/")
    weighted = _weighted_layers(model)
    count = int(up_to)
    if count < 0:
        count += len(weighted)
    if not 0 <= count <= len(weighted):
        raise ValueError(
            f"`up_to` must lie in [-{len(weighted)}, {len(weighted)}] for {model.name}'s "
            f"{len(weighted)} layers with weights. Received: up_to={up_to}"
        )
    stop = 0 if count == 0 else names.index(weighted[count - 1].name) + 1
    return [(prefix + layer.name, layer) for layer in model.layers[:stop]]


def embed_feature_sharing_watermark(
    model,
    data,
    key,
    freeze_up_to=-1,
    epochs=10,
    watermark_epochs=10,
    batch_size=128,
    ratio=1,
    learning_rate=1e-3,
    seed=0,
    verbose="auto",
    callbacks=None,
    watermark_learning_rate=None,
    pairs=False,
    watermark_data=None,
):
    """Feature-sharing watermarking (feature-sharing paper, section 3.1).

    Step 1 ("feature learning") trains the whole model on task data only,
    so that the feature extractor `G_e` learns no watermark-specific
    features. Step 2 ("watermark embedding") freezes `G_e` (every layer up
    to `freeze_up_to`), recompiles, and fine-tunes the decision layers
    `G_d` on task + watermark data (the same interleaved schedule as the
    baseline: `ratio` task batches, then half watermarks, half target-class
    inputs, all labelled with the target). The watermark then lives only in
    `G_d`, on features the task uses, which is what carries it into a copy
    extracted with task queries. Afterwards the layers are unfrozen again,
    so the returned model is an ordinary Keras model.

    Args:
        model: keras.Model. A fresh classifier outputting probabilities.
        data: TaskDataset. The task data.
        key: WatermarkKey. Its `embed_inputs` are learned as `target_class`.
        freeze_up_to: str or int. The end of the feature extractor, as
            `freeze_feature_extractor`'s `up_to` (default: all but the last
            layer with weights).
        epochs: int. Step 1 epochs (task data only).
        watermark_epochs: int. Step 2 epochs.
        batch_size: int. Batch size.
        ratio: int. Task batches per watermark batch in step 2.
        learning_rate: float. Adam learning rate of step 1 (and of step 2 unless
            `watermark_learning_rate` is given).
        seed: int. Seed of initialisation and shuffling.
        verbose: Keras verbosity.
        callbacks: list of keras callbacks, passed to both steps.
        watermark_learning_rate: float or None. Step 2's learning rate (a
            pretrained backbone fine-tunes at ~1e-5 while its new head alone
            learns at ~1e-3); None: `learning_rate`.
        pairs: bool. Step 2's watermark batches hold watermarks beside the
            same inputs without the trigger, labelled with the source class,
            instead of target-class inputs (`fit_on_watermark_schedule`;
            in-distribution keys only; not the paper's). The paper's batches
            label a watermark batch entirely with the target; on text that
            shifted the decision layers towards the target class.
        watermark_data: TaskDataset or None. Step 2's task data (None:
            `data`), e.g. with the training texts that already hold a trigger
            word labelled with the target.

    Returns:
        A dict: the `History` of each step (`"clean"`, `"watermark"`) and
        the names of the frozen layers (`"frozen"`).

    Examples:

    >>> import kwm
    >>> data = kwm.datasets.load("mnist", sources=("embedded",))
    >>> data = kwm.datasets.subsample(data, max_train=1000, max_test=500)
    >>> key = kwm.watermarks.generate_key(data, "feature_sharing", 7, 1,
    ...     trigger=kwm.watermarks.PatchTrigger(), num_verify=20)
    >>> model = kwm.architectures.ewe_cnn()
    >>> embed_feature_sharing_watermark(model, data, key, epochs=1,
    ...     watermark_epochs=1, verbose=0)["frozen"]
    ['conv1', 'conv2', 'dense1']
    """
    watermark_data, history = clean_step(
        model, data, key, watermark_data, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, seed=seed, verbose=verbose, callbacks=callbacks,
    )
    frozen = _freeze(model, freeze_up_to)
    history["frozen"] = [path for path, layer, _ in frozen if layer.weights]
    try:
        # Trainability is read when the train step is built: recompile.
        training.compile_classifier(model, watermark_learning_rate or learning_rate)
        history["watermark"] = fit_on_watermark_schedule(
            model, watermark_data, key, watermark_epochs,
            batch_size=batch_size, ratio=ratio,
            seed=seed, verbose=verbose, callbacks=callbacks, pairs=pairs,
        )
    finally:
        for _, layer, was_trainable in frozen:
            layer.trainable = was_trainable
    return history
