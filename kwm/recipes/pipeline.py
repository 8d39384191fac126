"""One seed of a paper experiment as named stages: key and victim, API, thief, independent model,
verification.

`run_seed` runs them in order; each stage is a public function that a benchmark or a user's
script can call on its own (e.g. `steal` on a finished run's served victim).
"""

import dataclasses
import os
import time

from kwm.attacks import AttackSettings, extract_model, run_attacks
from kwm.export import export_for_serving, serving_model
from kwm.prediction_api import PredictionAPI, as_prediction_api
from kwm.recipes.data import independent_dataset_names, thief_queries
from kwm.recipes.methods import get_method
from kwm.recipes.models import thief_model, total_epochs, train_plain
from kwm.recipes.reference_models import ReferenceModels, calibrated_key, trigger_screen
from kwm.reports import independent_name
from kwm.reports.plots import plot_representations
from kwm.verification import fidelity, task_accuracy, verify_ownership

# Seed offsets keep the victim, the thief's copy and the independent model from sharing an
# initialisation (the owner's reference models: `reference_models.REFERENCE_SEED`).
STOLEN_SEED_OFFSET = 1000
INDEPENDENT_SEED_OFFSET = 2000
# Independent models trained on another dataset of the task (`verification.independent_datasets`).
OTHER_DATA_SEED_OFFSET = 4000


def watermark_victim(config, data, source_data, seed, cache, verbose, log, timings):
    """Stage 1: the recipe's method trains the victim and makes its key, checked and calibrated.

    An in-distribution key's trigger is checked on the owner's reference
    models first (a refused trigger makes the method try its next one) and
    the accepted key records the largest effect (`key.trigger_effect`); an
    out-of-distribution key gets its false rate measured on them.

    Returns:
        `(victim, key, trigger_check)`.
    """
    method = get_method(config["experiment"]["method"])
    screen = trigger_screen(config, data, seed, cache, verbose, log, timings)
    start = time.perf_counter()
    victim, key, trigger_check = method(data, source_data, config, seed, verbose, screen)
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
        key = calibrated_key(config, data, key, cache, verbose, log)
        timings["false_rate_calibration_s"] = time.perf_counter() - start
        log(
            f"[seed {seed}] false watermark rate of the reference models: "
            + ", ".join(f"{100 * r:.1f}%" for r in key.false_rate["rates"])
        )
    # The decision rule is fixed with the key, before any suspect is seen.
    key = dataclasses.replace(key, protocol=verification_protocol(config))
    return victim, key, trigger_check


def verification_protocol(config):
    """The recipe's verification settings as `verify_ownership` arguments (`WatermarkKey.protocol`).

    Examples:

    >>> from kwm.recipes.config import load_recipe
    >>> verification_protocol(load_recipe("imdb"))["decision_test"]
    'paired_t_test'
    """
    verification = config["verification"]
    return {
        "tests": list(verification["tests"]),
        "decision_test": verification["decision_test"],
        "significance": verification["significance"],
        "alpha_certainty": verification["alpha_certainty"],
        "t_test_margin": verification["t_test_margin"],
        "temperature": config["serving"]["temperature"],
    }


def save_key(key, workdir, seed, log=print):
    """Stage 2: the secret key, written with its fingerprint; returns `(path, fingerprint)`."""
    path = os.path.join(workdir, "watermark_key.json")
    fingerprint = key.save(path)
    log(
        f"[seed {seed}] key {fingerprint[:16]}: {len(key.embed_inputs)} embedding and "
        f"{len(key.verify_inputs)} held-out verification watermarks, "
        f"class {key.source_class} of {key.source_dataset} -> {key.target_class}"
        + (f", trigger {key.trigger}" if key.trigger is not None else "")
    )
    return path, fingerprint


def serve(victim, config, data, workdir):
    """Stage 3: the victim exported as served (SavedModel, no key), and the API the thief queries."""
    export_path = os.path.join(workdir, "victim_savedmodel")
    temperature = config["serving"]["temperature"]
    export_for_serving(victim, export_path, check_inputs=data.test.x[:64], temperature=temperature)
    api_model = (
        export_path
        if config["extraction"]["through_savedmodel"]
        else serving_model(victim, temperature)
    )
    return PredictionAPI(api_model, num_classes=data.num_classes, name="victim API")


def steal(config, data, api, queries, seed, verbose="auto"):
    """Stage 4: the thief's copy, trained on the API's answers to `queries` (`extract_model`)."""
    extraction = config["extraction"]
    return extract_model(
        api,
        queries,
        thief_model(config, data, seed + STOLEN_SEED_OFFSET),
        labels=extraction["labels"],
        epochs=extraction["epochs"] or total_epochs(config),
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        seed=seed + STOLEN_SEED_OFFSET,
        verbose=verbose,
    )


def train_independent(config, data, seed, verbose="auto"):
    """Stage 5: a model of the victim's architecture trained on the task without the key."""
    return train_plain(config, data, seed + INDEPENDENT_SEED_OFFSET, verbose)


def train_independent_on(config, other, seed, verbose="auto"):
    """Stage 5b: a model of the victim's architecture trained on `other`, another dataset of the
    task (`verification.independent_datasets`), without the key: an innocent suspect of another
    origin, seeded `seed + OTHER_DATA_SEED_OFFSET`."""
    return train_plain(config, other, seed + OTHER_DATA_SEED_OFFSET, verbose)


def evaluate_suspect(name, model, data, key, config, seed, victim_classes=None):
    """Stage 6: a suspect's task accuracy and its verification against the key.

    `victim_classes` (the victim's API's top classes on the test split)
    adds the suspect's fidelity to it (`kwm.verification.fidelity`), from
    the same predictions as its task accuracy.

    Returns:
        A JSON-ready dict: `accuracy`, `watermark_accuracy`, `verification`
        (`OwnershipReport.to_dict()`), `summary` (its text) and, given
        `victim_classes`, `fidelity`.
    """
    verification = config["verification"]
    report = verify_ownership(
        model,
        key,
        **verification_protocol(config),
        wdr_draws=verification["wdr_draws"],
        wdr_fraction=verification["wdr_fraction"],
        seed=seed,
        name=name,
    )
    # One prediction of the test split gives the task accuracy (`task_accuracy`) and the fidelity.
    classes = as_prediction_api(model, num_classes=data.num_classes)(data.test.x).argmax(axis=1)
    result = {
        "accuracy": float((classes == data.test.y).mean()),
        "watermark_accuracy": report.watermark_accuracy,
        "verification": report.to_dict(),
        "summary": report.summary(),
    }
    if victim_classes is not None:
        result["fidelity"] = fidelity(classes, victim_classes, data.test.x)
    return result


def attack_stolen(config, data, key, victim, stolen, api, queries, seed, log=print):
    """Optional stage: the recipe's attacks on the stolen model, every cell verified."""
    settings = {k: v for k, v in config["attacks"].items() if k != "run"}
    settings["extraction_epochs"] = (
        settings["extraction_epochs"] or config["extraction"]["epochs"] or total_epochs(config)
    )
    settings = AttackSettings(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()},
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
    )

    def evaluate(model):
        scored = evaluate_suspect("attacked", model, data, key, config, seed)
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
        student=lambda: thief_model(config, data, seed + STOLEN_SEED_OFFSET),
        seed=seed,
        log=lambda message: log(f"[seed {seed}] {message}"),
        victim=victim,
        extraction_seed=seed + STOLEN_SEED_OFFSET,
    )


def _timed(timings, name, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    timings[name] = time.perf_counter() - start
    return result


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
    other_data=None,
):
    """Runs one seed of a recipe and returns its results as a JSON-ready dict.

    The stages, in order: `watermark_victim` (key and victim), `save_key`,
    `serve` (the SavedModel the thief queries), `steal`,
    `train_independent`, `evaluate_suspect` on the victim as served, the
    stolen copy and the independent model, and `attack_stolen` when the
    recipe names attacks. Writes the key and the three models (SavedModels)
    into `workdir`.

    Args:
        config: dict. A loaded recipe (`load_recipe`).
        data: TaskDataset. Task data.
        source_data: TaskDataset or None. Watermark sources if not `data`.
        seed: int. Seed of this run.
        workdir: str. Directory for the key and the exports.
        verbose: Keras verbosity of training.
        log: callable. Where progress lines go.
        reference_cache: ReferenceModels or None. The owner's reference
            models, filled on first use; pass the same store to every seed
            of a run to train them once, one with a directory to reuse them
            across runs.
        queries: TaskDataset or None. The thief's query dataset when
            `extraction.queries` names another dataset (`load_queries`).
        other_data: dict or None. The other datasets of the task by name
            (`load_other_datasets`), for `verification.independent_datasets`.

    Returns:
        `(results, key)`: a JSON-ready dict of results for this seed and
        the `WatermarkKey` used.
    """
    get_method(config["experiment"]["method"])  # an unknown method fails before any work
    other_names = independent_dataset_names(config, data)
    missing = [name for name in other_names if name not in (other_data or {})]
    if missing:
        raise ValueError(
            f"Independent models of this recipe train on {missing}, which were not loaded: "
            "pass them in `other_data` (`kwm.recipes.data.load_other_datasets`). "
            f"Received: independent_datasets={other_names}"
        )
    queries = thief_queries(config, data, queries, seed)
    os.makedirs(workdir, exist_ok=True)
    timings = {}
    cache = ReferenceModels() if reference_cache is None else reference_cache
    temperature = config["serving"]["temperature"]

    victim, key, trigger_check = watermark_victim(
        config, data, source_data, seed, cache, verbose, log, timings
    )
    key_path, fingerprint = save_key(key, workdir, seed, log)
    plot_representations(victim, data, key, config["ewe"]["layers"],
                         os.path.join(workdir, "representations.png"))
    api = serve(victim, config, data, workdir)
    stolen = _timed(timings, "extraction_s", steal, config, data, api, queries, seed, verbose)
    independent = _timed(
        timings, "independent_training_s", train_independent, config, data, seed, verbose
    )
    # The suspects are saved as served, so that every verdict can be replayed
    # with `python -m kwm.verify --key ... --suspect ...`.
    export_for_serving(stolen.model, os.path.join(workdir, "stolen_savedmodel"))
    export_for_serving(independent, os.path.join(workdir, "independent_savedmodel"))
    others = {}
    for name in other_names:
        others[name] = _timed(
            timings, f"independent_{name}_training_s",
            train_independent_on, config, other_data[name], seed, verbose,
        )
        export_for_serving(
            others[name], os.path.join(workdir, f"{independent_name(name)}_savedmodel")
        )

    start = time.perf_counter()
    # Every suspect's fidelity is its agreement with the API's answers on the test split: how
    # faithful a copy the thief made, beside the agreement the task alone gives an innocent model.
    victim_classes = api(data.test.x).argmax(axis=1)
    models = {
        "victim": evaluate_suspect(
            "victim", serving_model(victim, temperature), data, key, config, seed
        ),
        "stolen": evaluate_suspect(
            "stolen", stolen.model, data, key, config, seed, victim_classes
        ),
        "independent": evaluate_suspect(
            "independent", independent, data, key, config, seed, victim_classes
        ),
    }
    for name, model in others.items():
        models[independent_name(name)] = evaluate_suspect(
            independent_name(name), model, data, key, config, seed, victim_classes
        )
        models[independent_name(name)]["trained_on"] = {
            "dataset": name,
            "accuracy": task_accuracy(model, other_data[name].test.x, other_data[name].test.y),
        }
    timings["verification_s"] = time.perf_counter() - start
    if config["attacks"]["run"]:
        attack_results = _timed(
            timings, "attacks_s", attack_stolen,
            config, data, key, victim, stolen.model, api, queries, seed, log,
        )
    models["stolen"]["extraction"] = {
        "num_queries": stolen.num_queries,
        "queries": config["extraction"]["queries"],
        "architecture": config["extraction"]["architecture"] or config["model"]["architecture"],
        "labels": stolen.labels,
        "through": "SavedModel" if config["extraction"]["through_savedmodel"] else "Keras model",
        "serving_temperature": temperature,
    }
    for name, result in models.items():
        log(
            f"[seed {seed}] {name}: accuracy {100 * result['accuracy']:.2f}%"
            + (f", fidelity {100 * result['fidelity']:.2f}%" if "fidelity" in result else "")
        )
        log(result["summary"])
    results = {
        "seed": seed,
        "key_fingerprint": fingerprint,
        "key_file": os.path.basename(key_path),
        "source_class": key.source_class,
        "target_class": key.target_class,
        "num_embed": int(len(key.embed_inputs)),
        "num_verify": int(len(key.verify_inputs)),
        # A natural-word key: how many source-class texts held the word (its watermarks' pool).
        "natural_sources": key.provenance.get("natural_sources"),
        "false_rate": key.false_rate,
        "class_pair": key.provenance.get("class_pair"),
        "trigger_check": trigger_check,
        "models": models,
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    if config["attacks"]["run"]:
        results["attacks"] = attack_results
    return results, key
