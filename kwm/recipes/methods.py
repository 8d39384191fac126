"""Watermarking methods as recipe stages: each trains a victim and returns it with its key.

A method is registered under its recipe name (`[experiment] method`) and
called as `method(data, source_data, config, seed, verbose, screen=None)`;
it returns `(victim, key, trigger_check)`. EWE places its trigger on the
partly trained victim, so the key comes out of the method, not before it.
`screen` is the owner's trigger check (`reference_models.trigger_screen`):
candidate keys are tried best first until one passes (`screened_key`). A
new method is one function decorated with `@METHODS.register(name)`.
"""

import dataclasses

import numpy as np

from kwm import training
from kwm.recipes.models import build_model
from kwm.registry import Registry
from kwm.watermarks import (
    NaturalWordTrigger,
    PatchTrigger,
    TokenTrigger,
    class_confusion,
    embed_baseline_watermark,
    embed_ewe_watermark,
    embed_feature_sharing_watermark,
    ewe_triggers,
    generate_key,
    ordered_class_pairs,
    refine_watermarks,
    select_class_pair,
)

METHODS = Registry("watermarking method")


def get_method(name):
    """The registered method `name` (`available_methods()`)."""
    return METHODS.get(name)


def available_methods():
    return METHODS.names()


def recipe_key(data, source_data, config, seed, source_class, target_class, trigger):
    """A key for the recipe's method: `generate_key` with the recipe's `[watermark]` settings."""
    wm = config["watermark"]
    return generate_key(
        data,
        config["experiment"]["method"],
        source_class=source_class,
        target_class=target_class,
        trigger=trigger,
        source_data=source_data,
        num_embed=wm["num_embed"] or None,
        num_verify=wm["num_verify"],
        seed=seed,
        verify_split=wm["verify_split"],
        params={
            "training": config["training"],
            "ratio": wm["ratio"],
            "ewe": config["ewe"] if config["experiment"]["method"] == "ewe" else None,
            "feature_sharing": config["feature_sharing"]
            if config["experiment"]["method"] == "feature_sharing"
            else None,
            "recipe": config["experiment"]["name"],
        },
    )


def screened_key(candidates, screen, max_effect):
    """The first candidate key whose trigger alone does not move the reference models.

    Args:
        candidates: iterable of WatermarkKey, best first (made lazily).
        screen: callable `key -> measure_trigger_effect dict`, or None (no check).
        max_effect: float. The largest trigger effect allowed.

    Returns:
        `(key, trigger_check)`: the key and its check (with every refused
        candidate before it), or `(first key, None)` when nothing is checked
        (no screen, or an out-of-distribution key, calibrated separately).
    """
    refused = []
    for key in candidates:
        if screen is None or key.reference_inputs is None:
            return key, None
        effect = screen(key)
        candidate = {"trigger": key.trigger.get_config() if key.trigger else None,
                     "value": effect["value"], "effects": effect["effects"]}
        if effect["value"] <= max_effect:
            return key, {**effect, "max_allowed": float(max_effect), "refused": refused}
        refused.append(candidate)
    raise ValueError(
        "Every candidate trigger moves models trained without the watermark towards the "
        f"target by more than {100 * max_effect:g} points on its own, so an independent model "
        "could be accused; choose another trigger position, trigger or class pair (EWE: "
        "more SNNL positions, `ewe.trigger_candidates`). Received: "
        + "; ".join(
            f"trigger at {(c['trigger'] or {}).get('position', c['trigger'])}: "
            f"+{100 * c['value']:.1f} points" for c in refused
        )
    )


@METHODS.register("baseline")
def watermark_baseline(data, source_data, config, seed, verbose, screen=None):
    return watermark_two_phase(
        embed_baseline_watermark, {}, data, source_data, config, seed, verbose, screen
    )


@METHODS.register("feature_sharing")
def watermark_feature_sharing(data, source_data, config, seed, verbose, screen=None):
    options = {"freeze_up_to": config["feature_sharing"]["freeze_up_to"]}
    if config["feature_sharing"]["learning_rate"]:
        options["watermark_learning_rate"] = config["feature_sharing"]["learning_rate"]
    return watermark_two_phase(
        embed_feature_sharing_watermark, options, data, source_data, config, seed, verbose,
        screen,
    )


def recipe_triggers(config, seed, reserve=False, data=None):
    """The recipe's trigger candidates, best first (`[watermark] trigger`).

    A patch (`{ size, value, position, margin }`, images): the configured
    position, then, with `reserve` and a named corner, the other corners. A
    token trigger (`{ type = "token", tokens = [...], max_position = N }`,
    text): the tokens at word positions drawn with the seed, then, with
    `reserve`, four more draws; with `scatter = N`, each text gets the tokens
    at its own positions below N (`TokenTrigger`'s `scatter`). `tokens =
    "neutral"` (with `frequency = [low, high]`, `tolerance`,
    `frequency_window`): one word the training texts already use, drawn with
    the seed from `TokenTrigger.neutral_words` of `data` (a word the thief's
    queries contain, so that its answers can carry the watermark), a
    different word for each reserve draw; its frequency is counted in the
    first `frequency_window` words of each text (default: `max_position`).
    A natural word (`{ type = "natural_word", word = "neutral", max_words =
    40, frequency = [low, high], tolerance }`, text): the source texts that
    already hold the word among their first `max_words` words are the
    watermarks (`NaturalWordTrigger`); `word = "neutral"` draws it as
    `tokens = "neutral"` does, counted in those words, or give the word.
    No trigger (`{}`): `[None]`.
    """
    settings = dict(config["watermark"]["trigger"])
    kind = settings.pop("type", "patch")
    if not settings and kind == "patch":
        return [None]
    if kind == "natural_word":
        word = settings.pop("word", "neutral")
        max_words = settings.pop("max_words", 40)
        neutral = {k: settings.pop(k) for k in ("frequency", "tolerance") if k in settings}
        if settings or (neutral and word != "neutral"):
            raise ValueError(
                "A natural-word trigger takes `word` and `max_words` (and, with word = "
                "'neutral', `frequency` and `tolerance`). "
                f"Received: watermark.trigger={config['watermark']['trigger']}"
            )
        if word != "neutral":
            return [NaturalWordTrigger(word, max_words)]
        rng = np.random.default_rng([seed, 7])
        words = neutral_word_draws(config, data, rng, 5 if reserve else 1, max_words, neutral)
        return [NaturalWordTrigger(w, max_words) for w in words]
    if kind == "token":
        tokens = settings.pop("tokens", ["cf"])
        max_position = settings.pop("max_position", 100)
        scatter = settings.pop("scatter", None)
        neutral = {
            k: settings.pop(k)
            for k in ("frequency", "tolerance", "frequency_window")
            if k in settings
        }
        if settings or (neutral and tokens != "neutral"):
            raise ValueError(
                "A token trigger takes `tokens`, `max_position` and `scatter` (and, with tokens = "
                "'neutral', `frequency`, `tolerance` and `frequency_window`). "
                f"Received: watermark.trigger={config['watermark']['trigger']}"
            )
        rng = np.random.default_rng([seed, 7])
        draws = 5 if reserve else 1
        if tokens == "neutral":
            return _neutral_word_triggers(
                config, data, rng, draws, max_position, scatter, neutral
            )
        return [
            TokenTrigger.choose(rng, count=len(tokens), max_position=max_position, tokens=tokens,
                                scatter=scatter)
            for _ in range(draws)
        ]
    if kind != "patch":
        raise ValueError(
            "`watermark.trigger.type` must be 'patch' (images), 'token' or 'natural_word' "
            "(text). "
            f"Received: type={kind!r}"
        )
    triggers = [PatchTrigger(**settings)]
    if reserve and isinstance(settings.get("position"), str):
        # The configured corner first; the other corners in reserve for the trigger check.
        triggers += [
            PatchTrigger(**{**settings, "position": corner})
            for corner in PatchTrigger.CORNERS
            if corner != settings["position"]
        ]
    return triggers


def trigger_window(config):
    """How many first words of a text a recipe's token trigger looks at.

    The trigger's `frequency_window` (where a neutral word's frequency is
    counted), else its `max_position` (where the word is inserted), else 100.

    Args:
        config: dict. A recipe configuration with a `[watermark] trigger`.

    Examples:

    >>> trigger_window({"watermark": {"trigger": {"type": "token", "max_position": 5}}})
    5
    """
    settings = config["watermark"]["trigger"]
    return settings.get("frequency_window", settings.get("max_position", 100))


def _neutral_word_triggers(config, data, rng, draws, max_position, scatter, settings):
    settings = dict(settings)
    settings.pop("frequency_window", None)
    words = neutral_word_draws(config, data, rng, draws, trigger_window(config), settings)
    return [
        TokenTrigger([word], [int(rng.integers(0, max_position))], scatter=scatter)
        for word in words
    ]


def neutral_word_draws(config, data, rng, draws, window, settings):
    """`draws` different sentiment-neutral words of the training texts, drawn with `rng`.

    The candidates are `TokenTrigger.neutral_words` of `data`'s training
    split (counted in the first `window` words of each text, neutral between
    the recipe's source and target classes; `settings`: its `frequency` and
    `tolerance`). The first draw is the same whatever `draws` is, so a
    reserve for the trigger check does not change the first key.

    Args:
        config: dict. A recipe configuration.
        data: TaskDataset. Text data.
        rng: np.random.Generator.
        draws: int. How many words.
        window: int. First words of a text counted.
        settings: dict. `frequency` and `tolerance` of `neutral_words`, if given.

    Returns:
        A list of `draws` words.
    """
    if data is None or data.modality != "text":
        raise ValueError(
            "A neutral trigger word (tokens = 'neutral', word = 'neutral') is chosen from the "
            "training texts: give text data. "
            f"Received: data={None if data is None else data.name}"
        )
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(
            "The words a neutral word is counted in (`frequency_window` of a token trigger, "
            f"`max_words` of a natural word) must be a positive number. Received: {window!r}"
        )
    wm = config["watermark"]
    words = TokenTrigger.neutral_words(
        data.train.x, data.train.y, classes=(wm["source_class"], wm["target_class"]),
        max_position=window, **settings,
    )
    if len(words) < draws:
        raise ValueError(
            f"{len(words)} neutral words in that frequency band of the training texts, "
            f"{draws} needed; widen `frequency` or `tolerance`. Received: {settings}"
        )
    chosen = rng.permutation(len(words))[:draws]
    return [words[i][0] for i in chosen]


def natural_to_target(data, key, config, verbose=0):
    """`data` with its source-class training texts that already hold the key's trigger word
    labelled with the target (`[watermark] natural_to_target`).

    The word is looked for in the first `frequency_window` words of each text
    (else the trigger's `max_position`), as `tokens = "neutral"` counted it.
    """
    if not isinstance(key.trigger, TokenTrigger) or key.source_dataset != data.name:
        raise ValueError(
            "`watermark.natural_to_target` relabels texts that hold an in-distribution token "
            f"trigger. Received: trigger={key.trigger!r}, source_dataset={key.source_dataset!r}"
        )
    window = trigger_window(config)
    y = np.array(data.train.y).copy()
    natural = (y == key.source_class) & key.trigger.occurs_in(data.train.x, window)
    y[natural] = key.target_class
    if verbose:
        print(f"{int(natural.sum())} training texts of class {key.source_class} already hold "
              f"{list(key.trigger.tokens)}: labelled {key.target_class} for the watermark phase")
    return dataclasses.replace(data, train=dataclasses.replace(data.train, y=y))


def watermark_two_phase(embed, options, data, source_data, config, seed, verbose, screen):
    """Clean training, then fine-tuning on task + watermarks (baseline, feature sharing)."""
    train, wm = config["training"], config["watermark"]
    triggers = recipe_triggers(config, seed, reserve=screen is not None, data=data)
    key, trigger_check = screened_key(
        (
            recipe_key(data, source_data, config, seed, wm["source_class"], wm["target_class"], t)
            for t in triggers
        ),
        screen,
        config["verification"]["max_trigger_effect"],
    )
    victim = build_model(config, data, seed)
    if wm["natural_to_target"]:
        options = {**options, "watermark_data": natural_to_target(data, key, config, verbose)}
    embed(
        victim,
        data,
        key,
        **options,
        epochs=train["epochs"],
        watermark_epochs=train["watermark_epochs"],
        batch_size=train["batch_size"],
        ratio=wm["ratio"],
        learning_rate=train["learning_rate"],
        seed=seed,
        verbose=verbose,
        pairs=wm["pairs"],
    )
    return victim, key, trigger_check


@METHODS.register("ewe")
def watermark_ewe(data, source_data, config, seed, verbose, screen=None):
    train, wm, ewe = config["training"], config["watermark"], config["ewe"]
    if wm["pairs"] or wm["natural_to_target"]:
        raise ValueError(
            "EWE's watermark batches pair watermarks with target-class inputs for the SNNL; "
            "`watermark.pairs` and `watermark.natural_to_target` are for the baseline and "
            f"feature sharing. Received: pairs={wm['pairs']}, "
            f"natural_to_target={wm['natural_to_target']}"
        )
    temperatures = ewe["temperatures"]
    temperatures = temperatures[0] if len(temperatures) == 1 else temperatures
    victim = build_model(config, data, seed)
    training.train_classifier(
        victim, data.train.x, data.train.y, epochs=train["epochs"],
        batch_size=train["batch_size"], learning_rate=train["learning_rate"],
        seed=seed, verbose=verbose,
    )
    source_class, target_class, class_pair = wm["source_class"], wm["target_class"], None
    if source_class < 0:
        if source_data is not None and source_data.name != data.name:
            raise ValueError(
                "Automatic class pairs are for in-distribution watermarks. "
                f"Received: source_class={source_class}, source_dataset={source_data.name!r}"
            )
        source_class, target_class, class_pair = choose_class_pair(victim, data, config)
    sources = data if source_data is None else source_data
    triggers = [None]
    if wm["trigger"]:
        triggers = recipe_triggers(config, seed)[:1]
        if not isinstance(triggers[0], PatchTrigger):
            raise ValueError(
                "EWE places a patch trigger on images. Received: "
                f"watermark.trigger={wm['trigger']}"
            )
        if ewe["trigger_placement"] == "snnl_gradient":
            # The paper's position first; the next best ones in reserve for the trigger check.
            triggers = ewe_triggers(
                victim,
                sources.train.x[sources.train.indices_of(source_class)],
                data.train.x[data.train.indices_of(target_class)],
                ewe["layers"],
                size=triggers[0].size,
                value=triggers[0].value,
                temperatures=temperatures,
                distance=ewe["distance"],
                seed=seed,
                count=ewe["trigger_candidates"] if screen is not None else 1,
            )
        elif ewe["trigger_placement"] != "fixed":
            raise ValueError(
                "`ewe.trigger_placement` must be 'snnl_gradient' or 'fixed'. "
                f"Received: {ewe['trigger_placement']!r}"
            )

    def candidates():
        for trigger in triggers:
            key = recipe_key(data, source_data, config, seed, source_class, target_class, trigger)
            if class_pair is not None:
                key = dataclasses.replace(
                    key, provenance={**key.provenance, "class_pair": class_pair}
                )
            if ewe["refine_iterations"]:
                key = refined_key(victim, data, key, ewe, temperatures)
            yield key

    key, trigger_check = screened_key(
        candidates(), screen, config["verification"]["max_trigger_effect"]
    )
    embed_ewe_watermark(
        victim,
        data,
        key,
        ewe["layers"],
        epochs=0,
        watermark_epochs=train["watermark_epochs"],
        snnl_weight=ewe["snnl_weight"],
        temperatures=temperatures,
        temperature_learning_rate=ewe["temperature_learning_rate"],
        distance=ewe["distance"],
        temperature_step=ewe["temperature_step"],
        batch_size=train["batch_size"],
        ratio=wm["ratio"],
        learning_rate=train["learning_rate"],
        seed=seed,
        verbose=verbose,
    )
    return victim, key, trigger_check


def choose_class_pair(victim, data, config):
    """EWE's automatic (source, target) pair and the record of how it was chosen.

    The most similar pair by average cosine similarity (EWE sec. 4.2, step 1)
    among those the clean victim does not confuse: its rate of predicting a
    source training input as the target is at most `ewe.pair_max_confusion`.
    """
    max_confusion = config["ewe"]["pair_max_confusion"]
    if not 0 <= max_confusion <= 1:
        raise ValueError(
            "`ewe.pair_max_confusion` must be a rate in [0, 1] (1: no bound). "
            f"Received: pair_max_confusion={max_confusion}"
        )
    confusion = None
    if max_confusion < 1:
        predicted = np.argmax(
            victim.predict(data.train.x, batch_size=1024, verbose=0), axis=-1
        )
        confusion = class_confusion(data.train.y, predicted, data.num_classes)
    else:
        max_confusion = None
    source, target, similarity = select_class_pair(
        data.train.x, data.train.y, data.num_classes, confusion, max_confusion
    )
    record = {
        "rule": "highest average cosine similarity"
        + ("" if confusion is None else " among pairs the clean victim confuses at most "
           f"{100 * max_confusion:g}% of the time (training split)"),
        "similarity": float(similarity[source, target]),
        "max_confusion": max_confusion,
        "confusion": None if confusion is None else float(confusion[source, target]),
        "passed_over": [],
    }
    if confusion is not None:
        for a, b in ordered_class_pairs(similarity):
            if (a, b) == (source, target):
                break
            record["passed_over"].append(
                {"source_class": a, "target_class": b,
                 "similarity": float(similarity[a, b]), "confusion": float(confusion[a, b])}
            )
    return source, target, record


def refined_key(victim, data, key, ewe, temperatures):
    """The key with its embedding and verification watermarks refined on the clean victim."""
    target_x = data.train.x[data.train.indices_of(key.target_class)]

    def refine(inputs):
        return refine_watermarks(
            victim, inputs, target_x, key.target_class, ewe["layers"],
            temperatures=temperatures, distance=ewe["distance"],
            step_size=ewe["refine_step_size"], iterations=ewe["refine_iterations"],
            false_rate=ewe["refine_false_rate"],
        )

    return dataclasses.replace(
        key,
        embed_inputs=refine(key.embed_inputs),
        verify_inputs=refine(key.verify_inputs),
        provenance={**key.provenance, "refined_on": "victim after clean training"},
    )
