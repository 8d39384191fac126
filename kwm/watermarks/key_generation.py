"""Draws watermark inputs for a key: embedding set and held-out verification set."""

import numpy as np

from kwm.watermarks.key import WatermarkKey
from kwm.watermarks.trigger import NaturalWordTrigger


def generate_key(
    data,
    method,
    source_class,
    target_class,
    trigger=None,
    source_data=None,
    num_embed=None,
    num_verify=200,
    seed=0,
    params=None,
    verify_split="test",
):
    """Builds a `WatermarkKey` from real data.

    Watermark sources are the examples of `source_class` in `source_data`
    (the task data itself for in-distribution watermarks; another dataset
    such as Fashion-MNIST for out-of-distribution ones, as both papers do).
    Embedding inputs come from the source's *train* split, verification
    inputs from its *test* split, so the inputs used to verify are never
    the ones trained on. With a trigger, each input is stamped with it and
    the untouched verification inputs are kept as `reference_inputs` (the
    "same inputs without trigger" of EWE's T-test and the feature-sharing
    paper's Wilcoxon test). A `NaturalWordTrigger` edits nothing: its
    sources are the source-class texts that already hold its word, they
    are their own watermarks, and their references are the same texts with
    the word removed; `num_embed` and `num_verify` are then upper bounds
    (a word occurs in few texts), and the key's provenance records how
    many qualified.

    A natural-word key can also be verified on texts of the source's
    *train* split (`verify_split="train"`), for a task whose labelled test
    split is too small to hold enough texts with the word (SST-2's 872
    sentences). The verification texts are then held out at the text
    level: each is one of the longest texts that qualify (no other
    qualifying text holds it), none is, holds or is held by a text of
    the task's training sample (`data.train`, what the models train on),
    and the watermarks are the qualifying texts that are, hold or are held
    by none of them (SST-2's phrases nest inside their sentences).

    Args:
        data: TaskDataset. The task the watermarked model solves.
        method: str. Embedding method recorded in the key.
        source_class: int. Class of the watermark sources.
        target_class: int. Task class the watermarks must be assigned to.
        trigger: trigger object or None. Required for in-distribution
            watermarks (otherwise they are ordinary task inputs).
        source_data: TaskDataset or None. Where sources come from; `data`
            when None.
        num_embed: int or None. Number of embedding inputs (all examples of
            the source class in the train split when None).
        num_verify: int. Number of held-out verification inputs.
        seed: int. Seed of the draw.
        params: dict or None. Method hyperparameters to record.
        verify_split: str. "test" (default) or "train" (natural-word keys
            only: verification texts held out from the training split).

    Returns:
        A `WatermarkKey`.

    Examples:

    >>> import kwm
    >>> data = kwm.datasets.load("mnist", sources=("embedded",))
    >>> key = generate_key(data, "baseline", source_class=7, target_class=1,
    ...     trigger=kwm.watermarks.PatchTrigger(), num_embed=50, num_verify=20)
    >>> key.embed_inputs.shape, key.verify_inputs.shape, key.in_distribution
    ((50, 28, 28, 1), (20, 28, 28, 1), True)
    """
    source_data = data if source_data is None else source_data
    in_distribution = source_data is data or source_data.name == data.name
    if in_distribution and trigger is None:
        raise ValueError(
            "In-distribution watermarks need a trigger; without one they are "
            "ordinary task inputs. Received: trigger=None"
        )
    if source_data.input_shape != data.input_shape:
        raise ValueError(
            "Watermark sources must have the task's input shape "
            f"{data.input_shape}. Received: {source_data.name} inputs of shape "
            f"{source_data.input_shape}"
        )
    if not 0 <= source_class < source_data.num_classes:
        raise ValueError(
            f"`source_class` must lie in [0, {source_data.num_classes}). "
            f"Received: source_class={source_class}"
        )
    if in_distribution and source_class == target_class:
        raise ValueError(
            "Source and target classes must differ. "
            f"Received: source_class={source_class}, target_class={target_class}"
        )
    rng = np.random.default_rng(seed)
    if verify_split == "train":
        return _train_verified_key(
            data, method, source_class, target_class, trigger, source_data, num_embed,
            num_verify, seed, params, rng,
        )
    if verify_split != "test":
        raise ValueError(
            f"`verify_split` must be 'test' or 'train'. Received: verify_split={verify_split!r}"
        )
    embed_pool = source_data.train.indices_of(source_class)
    verify_pool = source_data.test.indices_of(source_class)
    natural = isinstance(trigger, NaturalWordTrigger)
    if natural:
        embed_pool = embed_pool[trigger.select(source_data.train.x[embed_pool])]
        verify_pool = verify_pool[trigger.select(source_data.test.x[verify_pool])]
        if not len(embed_pool) or not len(verify_pool):
            raise ValueError(
                f"The natural-word trigger needs training and test texts of class "
                f"{source_class} that hold {trigger.word!r} among their first "
                f"{trigger.max_words} words; {source_data.name} has {len(embed_pool)} and "
                f"{len(verify_pool)}. Received: trigger={trigger!r}"
            )
        # How many texts qualified, before the bounds.
        natural_sources = {"train": len(embed_pool), "test": len(verify_pool)}
        num_embed = None if num_embed is None else min(num_embed, len(embed_pool))
        num_verify = min(num_verify, len(verify_pool))
    embed_pool = rng.permutation(embed_pool)
    verify_pool = rng.permutation(verify_pool)
    if num_embed is not None:
        if num_embed > len(embed_pool):
            raise ValueError(
                f"Only {len(embed_pool)} training examples of class "
                f"{source_class} are available. Received: num_embed={num_embed}"
            )
        embed_pool = embed_pool[:num_embed]
    if num_verify > len(verify_pool) or num_verify < 1:
        raise ValueError(
            f"`num_verify` must lie in [1, {len(verify_pool)}] (test examples "
            f"of class {source_class}). Received: num_verify={num_verify}"
        )
    verify_pool = np.sort(verify_pool[:num_verify])
    embed_pool = np.sort(embed_pool)
    clean_embed = source_data.train.x[embed_pool]
    clean_verify = source_data.test.x[verify_pool]
    if natural:
        embed_inputs, verify_inputs = trigger.apply(clean_embed), trigger.apply(clean_verify)
        reference_inputs = trigger.remove(clean_verify)
    elif trigger is not None:
        trigger = trigger.resolve(data.input_shape) if hasattr(trigger, "resolve") else trigger
        embed_inputs = trigger.apply(clean_embed)
        verify_inputs = trigger.apply(clean_verify)
        reference_inputs = clean_verify
    else:
        embed_inputs, verify_inputs, reference_inputs = clean_embed, clean_verify, None
    return _key(
        data, method, source_class, target_class, trigger, source_data, seed, params,
        (embed_inputs, verify_inputs, reference_inputs), (embed_pool, verify_pool), "test",
        natural_sources if natural else None,
    )


def _key(
    data, method, source_class, target_class, trigger, source_data, seed, params, inputs, indices,
    verify_split, natural_sources,
):
    """The `WatermarkKey` of `generate_key`'s draw: inputs `(embed, verify, reference)` and the
    source indices `(embed, verify)` they came from."""
    embed_inputs, verify_inputs, reference_inputs = inputs
    return WatermarkKey(
        method=method,
        dataset=data.name,
        num_classes=data.num_classes,
        target_class=int(target_class),
        source_class=int(source_class),
        source_dataset=source_data.name,
        trigger=trigger,
        seed=int(seed),
        embed_inputs=embed_inputs,
        verify_inputs=verify_inputs,
        reference_inputs=reference_inputs,
        params=dict(params or {}),
        provenance={
            "source_data": source_data.provenance.to_dict(),
            "embed_split": "train",
            "embed_indices": indices[0].tolist(),
            "verify_split": verify_split,
            "verify_indices": indices[1].tolist(),
            **({"natural_sources": natural_sources} if natural_sources is not None else {}),
        },
    )


def _related(a, b):
    """Whether text `a` is, holds or is held by text `b` (case-sensitive substrings)."""
    return a in b or b in a


def _train_verified_key(
    data, method, source_class, target_class, trigger, source_data, num_embed, num_verify, seed,
    params, rng,
):
    """`generate_key` with a natural-word key's verification texts held out of the train split."""
    if not isinstance(trigger, NaturalWordTrigger):
        raise ValueError(
            "`verify_split='train'` is for natural-word keys (texts held out by their content). "
            f"Received: trigger={trigger!r}"
        )
    x = source_data.train.x
    pool = source_data.train.indices_of(source_class)
    pool = pool[trigger.select(x[pool])]
    texts = {int(i): str(x[i]) for i in pool}
    sample = [str(t) for t in data.train.x]
    eligible = [
        i for i in texts
        if not any(j != i and texts[i] != texts[j] and texts[i] in texts[j] for j in texts)
        and not any(_related(texts[i], t) for t in sample)
    ]
    # Identical texts (a phrase listed twice) count once.
    eligible = list({texts[i]: i for i in sorted(eligible, reverse=True)}.values())
    if len(eligible) < 1 or num_verify < 1:
        raise ValueError(
            f"No training text of class {source_class} that holds {trigger.word!r} among its first "
            f"{trigger.max_words} words is held out from the task's training sample "
            f"({len(pool)} qualify), or `num_verify` < 1. Received: trigger={trigger!r}, "
            f"num_verify={num_verify}"
        )
    verify_pool = np.sort(rng.permutation(np.array(eligible, dtype=int))[:num_verify])
    chosen = [texts[int(i)] for i in verify_pool]
    embed_pool = np.array(
        [i for i in sorted(texts) if not any(_related(texts[i], v) for v in chosen)],
        dtype=int,
    )
    if not len(embed_pool):
        raise ValueError(
            f"Every training text with {trigger.word!r} overlaps a verification text. "
            f"Received: num_verify={num_verify}"
        )
    natural_sources = {"train": len(pool), "verify_eligible": len(eligible)}
    if num_embed is not None:
        embed_pool = np.sort(rng.permutation(embed_pool)[: min(num_embed, len(embed_pool))])
    clean_verify = x[verify_pool]
    return _key(
        data, method, source_class, target_class, trigger, source_data, seed, params,
        (trigger.apply(x[embed_pool]), trigger.apply(clean_verify), trigger.remove(clean_verify)),
        (embed_pool, verify_pool), "train", natural_sources,
    )
