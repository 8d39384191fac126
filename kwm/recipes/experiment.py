"""One paper experiment: watermark a victim, steal it, verify stolen and independent models."""

import dataclasses
import os
import time

import keras
import numpy as np

from kwm import architectures, datasets, training
from kwm.attacks import AttackSettings, extract_model, run_attacks
from kwm.export import export_for_serving, serving_model
from kwm.prediction_api import PredictionAPI
from kwm.recipes.reference_models import ReferenceModels, reference_identity
from kwm.reports.plots import plot_representations
from kwm.verification import (
    calibrate_false_rate,
    measure_trigger_effect,
    task_accuracy,
    verify_ownership,
)
from kwm.watermarks import (
    PatchTrigger,
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

# Seed offsets keep the victim, the thief's copy and the independent model
# from sharing an initialisation.
STOLEN_SEED_OFFSET = 1000
INDEPENDENT_SEED_OFFSET = 2000
# The owner's reference models (false rate of out-of-distribution keys) use
# seeds REFERENCE_SEED + i, shared by all seeds of a run and distinct from
# every suspect's.
REFERENCE_SEED = 3000


def _key(data, source_data, config, seed, source_class, target_class, trigger):
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


def _screened_key(candidates, screen, max_effect):
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
            f"trigger at {c['trigger']['position'] if c['trigger'] else None}: "
            f"+{100 * c['value']:.1f} points" for c in refused
        )
    )


def _watermark_baseline(data, source_data, config, seed, verbose, screen=None):
    return _watermark_two_phase(
        embed_baseline_watermark, {}, data, source_data, config, seed, verbose, screen
    )


def _watermark_feature_sharing(data, source_data, config, seed, verbose, screen=None):
    options = {"freeze_up_to": config["feature_sharing"]["freeze_up_to"]}
    return _watermark_two_phase(
        embed_feature_sharing_watermark, options, data, source_data, config, seed, verbose,
        screen,
    )


def _watermark_two_phase(embed, options, data, source_data, config, seed, verbose, screen):
    """Clean training, then fine-tuning on task + watermarks (baseline, feature sharing)."""
    train, wm = config["training"], config["watermark"]
    triggers = [PatchTrigger(**wm["trigger"])] if wm["trigger"] else [None]
    if screen is not None and wm["trigger"] and isinstance(wm["trigger"]["position"], str):
        # The configured corner first; the other corners in reserve for the trigger check.
        triggers += [
            PatchTrigger(**{**wm["trigger"], "position": corner})
            for corner in PatchTrigger.CORNERS
            if corner != wm["trigger"]["position"]
        ]
    key, trigger_check = _screened_key(
        (
            _key(data, source_data, config, seed, wm["source_class"], wm["target_class"], t)
            for t in triggers
        ),
        screen,
        config["verification"]["max_trigger_effect"],
    )
    victim = _build(config, data, seed)
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
    )
    return victim, key, trigger_check


def _watermark_ewe(data, source_data, config, seed, verbose, screen=None):
    train, wm, ewe = config["training"], config["watermark"], config["ewe"]
    temperatures = ewe["temperatures"]
    temperatures = temperatures[0] if len(temperatures) == 1 else temperatures
    victim = _build(config, data, seed)
    training.train_classifier(
        victim, data.train.x, data.train.y, epochs=train["epochs"],
        batch_size=train["batch_size"], learning_rate=train["learning_rate"],
        seed=seed, verbose=verbose,
    )
    source_class, target_class, class_pair = wm["source_class"], wm["target_class"], None
    if source_class < 0:
        if source_data is not None:
            raise ValueError(
                "Automatic class pairs are for in-distribution watermarks. "
                f"Received: source_class={source_class}, source_dataset={source_data.name!r}"
            )
        source_class, target_class, class_pair = _class_pair(victim, data, config)
    sources = data if source_data is None else source_data
    triggers = [None]
    if wm["trigger"]:
        triggers = [PatchTrigger(**wm["trigger"])]
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
            key = _key(data, source_data, config, seed, source_class, target_class, trigger)
            if class_pair is not None:
                key = dataclasses.replace(
                    key, provenance={**key.provenance, "class_pair": class_pair}
                )
            if ewe["refine_iterations"]:
                key = _refined_key(victim, data, key, ewe, temperatures)
            yield key

    key, trigger_check = _screened_key(
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
        batch_size=train["batch_size"],
        ratio=wm["ratio"],
        learning_rate=train["learning_rate"],
        seed=seed,
        verbose=verbose,
    )
    return victim, key, trigger_check


def _class_pair(victim, data, config):
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


def _refined_key(victim, data, key, ewe, temperatures):
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


# A method trains a victim and returns it with the key it embedded (EWE
# places its trigger on the partly trained victim, so the key comes second)
# and the key's trigger check (`_screened_key`; None when not checked).
METHODS = {
    "baseline": _watermark_baseline,
    "ewe": _watermark_ewe,
    "feature_sharing": _watermark_feature_sharing,
}


def load_data(config, data_dir=None, download="auto"):
    """The task dataset (and the watermark source dataset, if another) of a recipe."""
    sources = tuple(config["data"]["sources"])
    data = datasets.load(
        config["experiment"]["dataset"], data_dir=data_dir, sources=sources, download=download
    )
    source_name = config["watermark"]["source_dataset"]
    source = None
    if source_name and source_name != data.name:
        source = datasets.load(source_name, data_dir=data_dir, sources=sources, download=download)
        # e.g. MNIST digits as the offline stand-in for SVHN on CIFAR: padded to 32x32, RGB.
        source = datasets.match_input_shape(source, data.input_shape)
    return data, source


def _build(config, data, seed):
    keras.utils.set_random_seed(seed)
    model_config = config["model"]
    return architectures.build(
        model_config["architecture"],
        data.input_shape,
        data.num_classes,
        dropout=model_config["dropout"],
        **model_config["options"],
    )


def _thief_model(config, data, seed):
    """A fresh model for the thief: the victim's architecture, or `extraction.architecture`."""
    architecture = config["extraction"]["architecture"]
    if not architecture:
        return _build(config, data, seed)
    keras.utils.set_random_seed(seed)
    return architectures.build(architecture, data.input_shape, data.num_classes)


def load_queries(config, data, data_dir=None, download="auto"):
    """The thief's query dataset when `extraction.queries` names another dataset, else None.

    Its images are padded to the task's input shape if smaller
    (`datasets.match_input_shape`); its labels are never used.
    """
    name = config["extraction"]["queries"]
    if name == "train":
        return None
    queries = datasets.load(
        name, data_dir=data_dir, sources=tuple(config["data"]["sources"]), download=download
    )
    return datasets.match_input_shape(queries, data.input_shape)


def thief_queries(config, data, queries=None, seed=0):
    """The inputs the thief sends: training inputs of the task or of `queries`, within the budget."""
    extraction = config["extraction"]
    if extraction["queries"] == "train":
        x = data.train.x
    elif queries is not None and queries.name == extraction["queries"]:
        x = queries.train.x
    else:
        raise ValueError(
            "`extraction.queries` names a dataset that was not loaded (`load_queries`). "
            f"Received: extraction.queries={extraction['queries']!r}"
        )
    budget = extraction["num_queries"]
    if budget < 0 or budget > len(x):
        raise ValueError(
            f"`extraction.num_queries` must lie in [0, {len(x)}] (0: all). "
            f"Received: extraction.num_queries={budget}"
        )
    if budget:
        x = x[np.random.default_rng(seed).choice(len(x), size=budget, replace=False)]
    return x


def _total_epochs(config):
    train = config["training"]
    return train["epochs"] + train["watermark_epochs"]


def _evaluate(name, model, data, key, config, seed):
    verification = config["verification"]
    report = verify_ownership(
        model,
        key,
        tests=tuple(verification["tests"]),
        decision_test=verification["decision_test"],
        significance=verification["significance"],
        alpha_certainty=verification["alpha_certainty"],
        t_test_margin=verification["t_test_margin"],
        wdr_draws=verification["wdr_draws"],
        wdr_fraction=verification["wdr_fraction"],
        seed=seed,
        name=name,
        temperature=config["serving"]["temperature"],
    )
    return {
        "accuracy": task_accuracy(model, data.test.x, data.test.y, data.num_classes),
        "watermark_accuracy": report.watermark_accuracy,
        "verification": report.to_dict(),
        "summary": report.summary(),
    }


def _train_plain(config, data, seed, verbose, model_config=None):
    """A model of the recipe's (or `model_config`'s) architecture trained on the task only."""
    model = _build(config if model_config is None else {"model": model_config}, data, seed)
    training.train_classifier(
        model,
        data.train.x,
        data.train.y,
        epochs=_total_epochs(config),
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        seed=seed,
        verbose=verbose,
    )
    return model


def reference_model_configs(config):
    """The `[model]` table of each of the owner's reference models, in order.

    `verification.reference_models` models cycle through
    `verification.reference_architectures` ("" is the victim's own
    architecture, with the recipe's options); other architectures are built
    with their defaults.
    """
    panel = config["verification"]["reference_architectures"]
    count = config["verification"]["reference_models"]
    if not panel:
        raise ValueError(
            "`verification.reference_architectures` needs at least one entry (\"\": the "
            f"victim's). Received: reference_architectures={panel}"
        )
    unknown = [a for a in panel if a and a not in architectures.available_architectures()]
    if unknown:
        raise ValueError(
            f"Unknown reference architecture. Known: {architectures.available_architectures()}. "
            f"Received: reference_architectures={panel}"
        )
    victim = config["model"]
    return [
        victim
        if panel[i % len(panel)] in ("", victim["architecture"])
        else {"architecture": panel[i % len(panel)], "dropout": 0.0, "options": {}}
        for i in range(count)
    ]


def _reference_models(config, data, cache, verbose, log):
    """The owner's models trained on the task without the watermark, and their descriptions."""
    model_configs = reference_model_configs(config)
    epochs = _total_epochs(config)
    training = {
        "epochs": epochs,
        "batch_size": config["training"]["batch_size"],
        "learning_rate": config["training"]["learning_rate"],
    }
    models, names = [], []
    for i, model_config in enumerate(model_configs):
        seed = REFERENCE_SEED + i
        identity = reference_identity(
            model_config, training, data, seed, data_digest=cache.data_digest(data)
        )
        architecture = model_config["architecture"]

        def train(i=i, seed=seed, model_config=model_config):
            log(
                f"training reference model {i + 1}/{len(model_configs)} "
                f"({model_config['architecture']}, seed {seed}, no watermark)"
            )
            return _train_plain(config, data, seed, verbose, model_config)

        model, record = cache.get(identity, train, log)
        models.append(model)
        names.append(
            f"{architecture} seed {seed}, {epochs} epochs on the task without the watermark"
            + (
                f" (loaded from {record['file']}, sha256 {record['file_sha256'][:16]})"
                if record["source"] == "cache"
                else ""
            )
        )
    return models, names


def _calibrated_key(config, data, key, cache, verbose, log):
    """An out-of-distribution key with its false rate measured on reference models."""
    models, names = _reference_models(config, data, cache, verbose, log)
    return calibrate_false_rate(
        key, models, names=names, max_false_rate=config["verification"]["max_false_rate"]
    )


def _trigger_screen(config, data, seed, cache, verbose, log, timings):
    """The owner's trigger check of in-distribution keys, or None when the recipe skips it.

    Returns a callable `key -> measure_trigger_effect dict` on the reference
    models (trained on first use), which logs every measurement and adds
    its time (reference training included) to `timings["trigger_check_s"]`.
    """
    if not config["verification"]["check_trigger"]:
        return None

    def screen(key):
        start = time.perf_counter()
        models, names = _reference_models(config, data, cache, verbose, log)
        effect = measure_trigger_effect(key, models, names=names)
        timings["trigger_check_s"] = (
            timings.get("trigger_check_s", 0.0) + time.perf_counter() - start
        )
        allowed = effect["value"] <= config["verification"]["max_trigger_effect"]
        log(
            f"[seed {seed}] trigger {key.trigger.position if key.trigger else None}: "
            "moves the reference models by "
            + ", ".join(f"{100 * e:+.1f}" for e in effect["effects"])
            + " points towards the target"
            + ("" if allowed else " -- refused")
        )
        return effect

    return screen


def run_seed(
    config,
    data,
    source_data,
    seed,
    workdir,
    verbose="auto",
    log=print,
    reference_cache=None,
    queries=None,
):
    """Runs one seed of a recipe and returns its results as a JSON-ready dict.

    Trains the victim with the recipe's watermarking method, exports it as a
    SavedModel, lets a thief extract it through that served model, trains
    an independent model on the same task without the key, and verifies
    all three against the key. Writes the key and the three models (as
    SavedModels) into `workdir`.

    Args:
        config: dict. A loaded recipe (`load_recipe`).
        data: TaskDataset. Task data.
        source_data: TaskDataset or None. Watermark sources if not `data`.
        seed: int. Seed of this run.
        workdir: str. Directory for the key and the export.
        verbose: Keras verbosity of training.
        log: callable. Where progress lines go.
        reference_cache: ReferenceModels or None. The owner's reference
            models (trained without the watermark: the false rate of
            out-of-distribution keys, the trigger check of in-distribution
            ones), filled on first use; pass the same store to every seed of
            a run to train them once, one with a directory to reuse them
            across runs.
        queries: TaskDataset or None. The thief's query dataset when
            `extraction.queries` names another dataset (`load_queries`).

    Returns:
        `(results, key)`: a JSON-ready dict of results for this seed and
        the `WatermarkKey` used.
    """
    method = config["experiment"]["method"]
    if method not in METHODS:
        raise ValueError(
            f"Unknown watermarking method. Known: {sorted(METHODS)}. Received: method={method!r}"
        )
    extraction = config["extraction"]
    queries = thief_queries(config, data, queries, seed)
    os.makedirs(workdir, exist_ok=True)
    timings = {}
    cache = ReferenceModels() if reference_cache is None else reference_cache
    screen = _trigger_screen(config, data, seed, cache, verbose, log, timings)
    start = time.perf_counter()
    victim, key, trigger_check = METHODS[method](data, source_data, config, seed, verbose, screen)
    timings["victim_training_s"] = (
        time.perf_counter() - start - timings.get("trigger_check_s", 0.0)
    )
    if trigger_check is not None:
        # Committed to with the key: the T-test's margin grows by the largest effect.
        key = dataclasses.replace(
            key, trigger_effect={k: v for k, v in trigger_check.items() if k != "refused"}
        )
    if key.reference_inputs is None:
        start = time.perf_counter()
        key = _calibrated_key(config, data, key, cache, verbose, log)
        timings["false_rate_calibration_s"] = time.perf_counter() - start
        log(
            f"[seed {seed}] false watermark rate of the reference models: "
            + ", ".join(f"{100 * r:.1f}%" for r in key.false_rate["rates"])
        )
    key_path = os.path.join(workdir, "watermark_key.json")
    fingerprint = key.save(key_path)
    log(
        f"[seed {seed}] key {fingerprint[:16]}: {len(key.embed_inputs)} embedding and "
        f"{len(key.verify_inputs)} held-out verification watermarks, "
        f"class {key.source_class} of {key.source_dataset} -> {key.target_class}"
        + (f", trigger {key.trigger}" if key.trigger is not None else "")
    )

    plot_representations(victim, data, key, config["ewe"]["layers"],
                         os.path.join(workdir, "representations.png"))

    export_path = os.path.join(workdir, "victim_savedmodel")
    export_for_serving(
        victim, export_path, check_inputs=data.test.x[:64],
        temperature=config["serving"]["temperature"],
    )
    api_model = (
        export_path
        if config["extraction"]["through_savedmodel"]
        else serving_model(victim, config["serving"]["temperature"])
    )
    api = PredictionAPI(api_model, num_classes=data.num_classes, name="victim API")

    start = time.perf_counter()
    stolen = extract_model(
        api,
        queries,
        _thief_model(config, data, seed + STOLEN_SEED_OFFSET),
        labels=extraction["labels"],
        epochs=extraction["epochs"] or _total_epochs(config),
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        seed=seed + STOLEN_SEED_OFFSET,
        verbose=verbose,
    )
    timings["extraction_s"] = time.perf_counter() - start

    start = time.perf_counter()
    independent = _train_plain(config, data, seed + INDEPENDENT_SEED_OFFSET, verbose)
    timings["independent_training_s"] = time.perf_counter() - start

    # The suspects are saved as served, so that every verdict can be replayed
    # with `python -m kwm.verify --key ... --suspect ...`.
    export_for_serving(stolen.model, os.path.join(workdir, "stolen_savedmodel"))
    export_for_serving(independent, os.path.join(workdir, "independent_savedmodel"))

    start = time.perf_counter()
    models = {
        "victim": _evaluate(
            "victim", serving_model(victim, config["serving"]["temperature"]), data, key, config, seed
        ),
        "stolen": _evaluate("stolen", stolen.model, data, key, config, seed),
        "independent": _evaluate("independent", independent, data, key, config, seed),
    }
    timings["verification_s"] = time.perf_counter() - start
    if config["attacks"]["run"]:
        start = time.perf_counter()
        attack_results = _attack(config, data, key, victim, stolen.model, api, queries, seed, log)
        timings["attacks_s"] = time.perf_counter() - start
    models["stolen"]["extraction"] = {
        "num_queries": stolen.num_queries,
        "queries": config["extraction"]["queries"],
        "architecture": config["extraction"]["architecture"] or config["model"]["architecture"],
        "labels": stolen.labels,
        "through": "SavedModel" if config["extraction"]["through_savedmodel"] else "Keras model",
        "serving_temperature": config["serving"]["temperature"],
    }
    for name, result in models.items():
        log(f"[seed {seed}] {name}: accuracy {100 * result['accuracy']:.2f}%")
        log(result["summary"])
    results = {
        "seed": seed,
        "key_fingerprint": fingerprint,
        "key_file": os.path.basename(key_path),
        "source_class": key.source_class,
        "target_class": key.target_class,
        "num_embed": int(len(key.embed_inputs)),
        "num_verify": int(len(key.verify_inputs)),
        "false_rate": key.false_rate,
        "class_pair": key.provenance.get("class_pair"),
        "trigger_check": trigger_check,
        "models": models,
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    if config["attacks"]["run"]:
        results["attacks"] = attack_results
    return results, key


def _attack(config, data, key, victim, stolen, api, queries, seed, log):
    """Runs the recipe's attacks on the stolen model; every cell verified like a suspect."""
    settings = {k: v for k, v in config["attacks"].items() if k != "run"}
    settings["extraction_epochs"] = (
        settings["extraction_epochs"] or config["extraction"]["epochs"] or _total_epochs(config)
    )
    settings = AttackSettings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()},
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
    )

    def evaluate(model):
        scored = _evaluate("attacked", model, data, key, config, seed)
        verification = scored["verification"]
        return {
            "accuracy": scored["accuracy"],
            "watermark_accuracy": scored["watermark_accuracy"],
            "p_values": {t: v["p_value"] for t, v in verification["verdicts"].items()},
            "claimed": {t: v["claimed"] for t, v in verification["verdicts"].items()},
            "wdr": verification["detection_rates"],
        }

    return run_attacks(
        stolen,
        api,
        queries,
        data.train.x,
        data.train.y,
        evaluate,
        attacks=config["attacks"]["run"],
        settings=settings,
        student=lambda: _thief_model(config, data, seed + STOLEN_SEED_OFFSET),
        seed=seed,
        log=lambda message: log(f"[seed {seed}] {message}"),
        victim=victim,
        extraction_seed=seed + STOLEN_SEED_OFFSET,
    )


def summarize_attacks(seed_results):
    """Per attack and setting, mean and std over seeds of the attacked stolen model's scores.

    Returns:
        `{attack: [{"setting", "accuracy", "watermark_accuracy",
        "<test>_p_value", "<test>_claimed", "<test>_wdr"}, ...]}`, empty when
        no attack ran.
    """
    if "attacks" not in seed_results[0]:
        return {}
    summary = {}
    for attack, cells in seed_results[0]["attacks"].items():
        rows = []
        for i, first in enumerate(cells):
            runs = [r["attacks"][attack][i] for r in seed_results]
            row = {
                "setting": first["setting"],
                "accuracy": _stats([c["accuracy"] for c in runs]),
                "watermark_accuracy": _stats([c["watermark_accuracy"] for c in runs]),
            }
            for test in first["p_values"]:
                row[f"{test}_p_value"] = _stats([c["p_values"][test] for c in runs])
                row[f"{test}_claimed"] = [c["claimed"][test] for c in runs]
                row[f"{test}_wdr"] = _stats([c["wdr"][test] for c in runs])
            if "neural_cleanse" in first:
                row["anomaly_index"] = _stats(
                    [c["neural_cleanse"]["anomaly_index"] for c in runs]
                )
                row["flagged"] = [c["neural_cleanse"]["flagged"] for c in runs]
            rows.append(row)
        summary[attack] = rows
    return summary


def _stats(values):
    values = np.asarray(values, dtype="float64")
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "values": values.tolist(),
    }


def summarize(seed_results):
    """Mean and std over seeds of each model's accuracies, p-values and WDR."""
    summary = {}
    for name in seed_results[0]["models"]:
        rows = [r["models"][name] for r in seed_results]
        stats = _stats

        entry = {
            "accuracy": stats([r["accuracy"] for r in rows]),
            "watermark_accuracy": stats([r["watermark_accuracy"] for r in rows]),
            "claimed": [r["verification"]["claimed"] for r in rows],
        }
        for test in rows[0]["verification"]["verdicts"]:
            entry[f"{test}_p_value"] = stats(
                [r["verification"]["verdicts"][test]["p_value"] for r in rows]
            )
            entry[f"{test}_claimed"] = [
                r["verification"]["verdicts"][test]["claimed"] for r in rows
            ]
            entry[f"{test}_wdr"] = stats(
                [r["verification"]["detection_rates"][test] for r in rows]
            )
            entry[f"{test}_query_cost"] = [
                r["verification"]["query_costs"][test]["queries"] for r in rows
            ]
        summary[name] = entry
    return summary
