"""Every attack against one stolen model, scored the same way: the cells of an attack matrix."""

import dataclasses
import time

import keras
import numpy as np

from kwm.attacks.adaptive_extraction import adaptive_extract_model
from kwm.attacks.extraction import extract_model, label_transform
from kwm.attacks.neural_cleanse import neural_cleanse, unlearn
from kwm.attacks.pruning import (
    fine_prune,
    fine_tune,
    magnitude_prune,
    mean_activations,
    prune_neurons,
)
from kwm.attacks.tfmot_pruning import tfmot_prune
from kwm.registry import Registry


@dataclasses.dataclass
class AttackSettings:
    """How hard each attack of `run_attacks` pushes (defaults: the papers' sweeps, CPU-sized).

    Args:
        prune_layer: str. Dense/Conv2D layer whose units neuron pruning and
            fine-pruning remove (the last hidden layer, as the papers).
        prune_activation: str or None. Layer whose output ranks the units
            (the ReLU after `prune_layer`).
        pruning_ratios: sequence of float. Neuron-pruning sweep (EWE Fig. 13,
            feature sharing Fig. 5: 0 -> 0.99).
        fine_pruning_ratios: sequence of float. Fine-pruning sweep.
        fine_pruning_epochs: int. Fine-tuning epochs after pruning.
        fine_tuning_examples: int. Size of the adversary's clean labelled set.
        fine_tuning_epochs: int. Epochs of fine-tuning.
        magnitude_ratios: sequence of float. Sparsities of magnitude pruning
            (one-shot, and TF-MOT's pruning during fine-tuning).
        quantization_levels: sequence of int. Posterior levels the API
            returns for re-extraction (feature sharing Fig. 7).
        extraction_epochs: int. Epochs of each re-extraction.
        snnl_layers: sequence of str. Layers whose SNNL the adaptive thief
            minimises (EWE section 4.4); they must exist in the thief's model.
        adaptive_settings: sequence of `(w, T)` pairs. Weight and
            temperature of each adaptive extraction: the reference code's
            scale (w = 0.0625 at T = 100, where the cosine kernel is nearly
            flat) and one at which the SNNL acts (w = 1 at T = 0.3).
        neural_cleanse_examples: int. Clean inputs Neural Cleanse optimises on.
        neural_cleanse_steps: int. Optimisation steps per class.
        neural_cleanse_l1: float. Weight of the mask norm (the start of
            the schedule when `neural_cleanse_adaptive`).
        neural_cleanse_adaptive: bool. Adapt the weight as Wang et al. do
            (each class's smallest trigger reaching 99% success).
        unlearning_epochs: int. Epochs of Neural Cleanse's unlearning.
        batch_size: int. Batch size of every training.
        learning_rate: float. Adam learning rate of every training.
        options: dict. Settings of attacks registered beyond these (each
            attack documents its keys and defaults).
    """

    prune_layer: str = "dense1"
    prune_activation: object = "relu3"
    pruning_ratios: tuple = (0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
    fine_pruning_ratios: tuple = (0.5, 0.9)
    fine_pruning_epochs: int = 2
    fine_tuning_examples: int = 1000
    fine_tuning_epochs: int = 5
    magnitude_ratios: tuple = (0.5, 0.9)
    quantization_levels: tuple = (2, 10, 100)
    extraction_epochs: int = 10
    snnl_layers: tuple = ("relu1", "relu2", "relu3")
    adaptive_settings: tuple = ((0.0625, 100.0), (1.0, 0.3))
    neural_cleanse_examples: int = 512
    neural_cleanse_steps: int = 600
    neural_cleanse_l1: float = 1e-2
    neural_cleanse_adaptive: bool = True
    unlearning_epochs: int = 2
    batch_size: int = 128
    learning_rate: float = 1e-3
    options: dict = dataclasses.field(default_factory=dict)


# Attacks by name, in the order `"all"` runs them: each `attack(context) -> list of cells`.
ATTACKS = Registry("attack")


def register_attack(name):
    """Decorator: registers `attack(context: AttackContext) -> list of cells` as `name`.

    A cell is `context.cell(setting, model, start, **extra)`: the attacked
    model scored like a suspect, tagged with the attack's setting. Settings
    of attacks beyond `AttackSettings`' own fields go in its `options` dict.
    """
    return ATTACKS.register(name)


@dataclasses.dataclass
class AttackContext:
    """What every attack receives from `run_attacks`.

    Args:
        name: str. The attack being run.
        stolen: keras.Model. The stolen copy (never modified).
        api: PredictionAPI. The victim's API.
        queries: np.ndarray. The thief's task inputs.
        clean_x, clean_y: np.ndarray. The adversary's clean labelled set.
        small_x, small_y: np.ndarray. `settings.fine_tuning_examples` of them.
        subset: np.ndarray. The indices of `small_x` in `clean_x`.
        settings: AttackSettings.
        student: callable. A fresh model for re-extraction.
        fit, refit: dict. Training keywords (batch size, learning rate,
            seed) of removal attacks and of re-extractions.
        seed: int.
        victim: keras.Model or None. The watermarked victim.
        cell: callable. `cell(setting, model, start, **extra)` scores a model.
    """

    name: str
    stolen: object
    api: object
    queries: object
    clean_x: object
    clean_y: object
    small_x: object
    small_y: object
    subset: object
    settings: object
    student: object
    fit: dict
    refit: dict
    seed: int
    victim: object
    cell: object
    cache: dict = dataclasses.field(default_factory=dict)

    def api_labels(self):
        """The API's answers to the thief's queries (queried once per run)."""
        if "api_labels" not in self.cache:
            self.cache["api_labels"] = np.asarray(self.api(self.queries), "float32")
        return self.cache["api_labels"]


def available_attacks():
    """The registered attacks, in the order `"all"` runs them."""
    return ATTACKS.names(sort=False)


def resolve_attacks(names):
    """`"all"`, a comma-separated string or a sequence of attack names -> a checked tuple."""
    known = available_attacks()
    if isinstance(names, str):
        names = known if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise ValueError(
            f"Unknown attacks {unknown}. Known: {known} or 'all'. Received: {list(names)}"
        )
    return tuple(dict.fromkeys(names))


def run_attacks(
    stolen,
    api,
    queries,
    clean_x,
    clean_y,
    evaluate,
    attacks="all",
    settings=None,
    student=None,
    seed=0,
    log=None,
    victim=None,
    extraction_seed=None,
):
    """Runs removal and extraction attacks on a stolen model and scores every outcome.

    Each attack yields one or more *cells*: the attacked model scored by
    `evaluate` (task accuracy, watermark accuracy, verification p-value,
    claim), tagged with the attack's setting (pruning ratio, quantisation
    levels, ...). Removal attacks start from `stolen` (never modifying it);
    label attacks re-extract a fresh copy from `api` with degraded answers.

    Attacks (names for `attacks`):
    - `pruning`: `prune_neurons` at each of `settings.pruning_ratios`.
    - `fine_pruning`: `fine_prune` on the thief's queries labelled by the
      API, at each of `settings.fine_pruning_ratios`.
    - `fine_tuning`: `fine_tune` of all layers and of the last layer on
      `settings.fine_tuning_examples` clean labelled examples.
    - `magnitude_pruning`: `magnitude_prune` at `settings.magnitude_ratios`
      (one-shot, native Keras 3).
    - `tfmot_pruning`: `tfmot_prune` (TF-MOT `prune_low_magnitude` on a
      tf_keras twin, or the native path) at `settings.magnitude_ratios`,
      fine-tuned `settings.fine_pruning_epochs` on the API's labels.
    - `hard_labels`, `quantization`: re-extraction from top-1 answers and
      from posteriors quantised to each of `settings.quantization_levels`.
    - `adaptive_extraction`: re-extraction that minimises the SNNL between
      the API's classes on `settings.snnl_layers` (`adaptive_extract_model`),
      once per `settings.adaptive_settings`.
    - `neural_cleanse`: the stolen model with Neural Cleanse's verdict
      (setting `"detected"`: anomaly index, flagged), then the model after
      unlearning the smallest trigger (setting `"unlearned"`); with
      `victim`, first the watermarked victim's verdict (setting
      `"victim"`, the comparison of EWE section 5.4).
    - any attack registered with `register_attack` (e.g. `weight_noise`,
      `kwm.attacks.weight_noise`), run after these by `"all"`.

    Args:
        stolen: keras.Model. The stolen copy.
        api: PredictionAPI. The victim's API (labels for fine-pruning and
            re-extraction).
        queries: np.ndarray. The thief's task inputs.
        clean_x, clean_y: np.ndarray. A clean labelled set the adversary
            holds (fine-tuning, Neural Cleanse, unlearning).
        evaluate: callable. `evaluate(model) -> dict` with at least
            `accuracy` and `watermark_accuracy` (e.g. a recipe's scoring
            with verification).
        attacks: `"all"`, or names from `available_attacks()`.
        settings: AttackSettings or None.
        student: callable or None. Builds a fresh model for re-extraction
            (default: a clone of `stolen`'s architecture).
        seed: int. Seed of every attack.
        log: callable or None. Progress lines.
        victim: keras.Model or None. The watermarked model, for Neural
            Cleanse's detection on it.
        extraction_seed: int or None. Seed of the re-extractions (default
            `seed`). Pass the seed the stolen copy was extracted with, and
            `student` building the same initial model, so that a
            re-extracted copy differs from the stolen one only in the
            answers it learned from: the thief's own randomness moves the
            transferred watermark by tens of points.

    Returns:
        A dict: attack name -> list of cells, each `{"setting": ..., **evaluate(model),
        "seconds": ...}` (Neural Cleanse cells also carry its statistics).
    """
    names = resolve_attacks(attacks)
    settings = settings or AttackSettings()
    log = log or (lambda message: None)
    student = student or (lambda: keras.models.clone_model(stolen))
    fit = dict(batch_size=settings.batch_size, learning_rate=settings.learning_rate, seed=seed)
    refit = dict(fit, seed=seed if extraction_seed is None else extraction_seed)
    rng = np.random.default_rng(seed)
    subset = rng.choice(
        len(clean_x), size=min(settings.fine_tuning_examples, len(clean_x)), replace=False
    )
    cache = {}
    results = {}
    for name in names:

        def cell(setting, model, start, name=name, **extra):
            scored = {"setting": setting, **evaluate(model), **extra}
            scored["seconds"] = round(time.perf_counter() - start, 1)
            log(
                f"attack {name} {setting}: accuracy {100 * scored['accuracy']:.2f}%, "
                f"watermark {100 * scored['watermark_accuracy']:.2f}%"
            )
            return scored

        context = AttackContext(
            name=name, stolen=stolen, api=api, queries=queries, clean_x=clean_x,
            clean_y=clean_y, small_x=clean_x[subset], small_y=clean_y[subset], subset=subset,
            settings=settings, student=student, fit=fit, refit=refit, seed=seed, victim=victim,
            cell=cell, cache=cache,
        )
        results[name] = ATTACKS.get(name)(context)
    return results


@register_attack("pruning")
def _pruning(c):
    s = c.settings
    ranking = mean_activations(c.stolen, s.prune_layer, c.queries, s.prune_activation)
    cells = []
    for ratio in s.pruning_ratios:
        start = time.perf_counter()
        pruned = prune_neurons(
            c.stolen, s.prune_layer, c.queries, ratio, s.prune_activation, activations=ranking
        )
        cells.append(c.cell(ratio, pruned.model, start))
    return cells


@register_attack("fine_pruning")
def _fine_pruning(c):
    s = c.settings
    labels = c.api_labels()
    cells = []
    for ratio in s.fine_pruning_ratios:
        start = time.perf_counter()
        pruned = fine_prune(
            c.stolen, s.prune_layer, c.queries, labels, ratio,
            epochs=s.fine_pruning_epochs, activation_layer=s.prune_activation, **c.fit,
        )
        cells.append(c.cell(ratio, pruned.model, start))
    return cells


@register_attack("fine_tuning")
def _fine_tuning(c):
    cells = []
    for layers in ("all", "last"):
        start = time.perf_counter()
        tuned = fine_tune(c.stolen, c.small_x, c.small_y, layers=layers,
                          epochs=c.settings.fine_tuning_epochs, **c.fit)
        cells.append(c.cell(layers, tuned.model, start))
    return cells


@register_attack("magnitude_pruning")
def _magnitude_pruning(c):
    cells = []
    for ratio in c.settings.magnitude_ratios:
        start = time.perf_counter()
        cells.append(c.cell(ratio, magnitude_prune(c.stolen, ratio).model, start))
    return cells


@register_attack("tfmot_pruning")
def _tfmot_pruning(c):
    labels = c.api_labels()
    cells = []
    for ratio in c.settings.magnitude_ratios:
        start = time.perf_counter()
        pruned = tfmot_prune(
            c.stolen, c.queries, labels, ratio, epochs=c.settings.fine_pruning_epochs, **c.fit
        )
        cells.append(c.cell(ratio, pruned.model, start, backend=pruned.layer))
    return cells


def _reextract(c, kinds):
    cells = []
    for kind in kinds:
        start = time.perf_counter()
        copy = extract_model(
            c.api, c.queries, c.student(), labels=label_transform(kind),
            epochs=c.settings.extraction_epochs, verbose=0, **c.refit,
        )
        setting = "top-1" if kind == "hard" else int(kind.split(":")[1])
        cells.append(c.cell(setting, copy.model, start))
    return cells


@register_attack("hard_labels")
def _hard_labels(c):
    return _reextract(c, ["hard"])


@register_attack("quantization")
def _quantization(c):
    return _reextract(c, [f"quantized:{k}" for k in c.settings.quantization_levels])


@register_attack("adaptive_extraction")
def _adaptive_extraction(c):
    s = c.settings
    cells = []
    for weight, temperature in s.adaptive_settings:
        start = time.perf_counter()
        copy = adaptive_extract_model(
            c.api, c.queries, c.student(), s.snnl_layers, snnl_weight=weight,
            temperature=temperature, epochs=s.extraction_epochs, verbose=0, **c.refit,
        )
        cells.append(c.cell(f"w={weight:g}, T={temperature:g}", copy.model, start))
    return cells


@register_attack("neural_cleanse")
def _neural_cleanse(c):
    s = c.settings
    nc_x = c.clean_x[c.subset[: s.neural_cleanse_examples]]
    options = dict(
        steps=s.neural_cleanse_steps, l1_weight=s.neural_cleanse_l1,
        adaptive=s.neural_cleanse_adaptive, batch_size=min(64, len(nc_x)), seed=c.seed,
    )
    cells = []
    if c.victim is not None:
        start = time.perf_counter()
        found = neural_cleanse(c.victim, nc_x, **options)
        cells.append(c.cell("victim", c.victim, start, neural_cleanse=found.to_dict()))
    start = time.perf_counter()
    found = neural_cleanse(c.stolen, nc_x, **options)
    statistics = found.to_dict()
    cells.append(c.cell("detected", c.stolen, start, neural_cleanse=statistics))
    start = time.perf_counter()
    patched = unlearn(
        c.stolen, c.small_x, c.small_y, found.triggers[found.anomaly_indices.argmax()],
        epochs=s.unlearning_epochs, **c.fit,
    )
    cells.append(c.cell("unlearned", patched, start, neural_cleanse=statistics))
    return cells
