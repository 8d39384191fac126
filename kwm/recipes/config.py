"""Recipe configurations: one readable TOML file per paper experiment.

The files live in the repository's top-level `recipes/` folder, which is
installed as the package `kwm.recipes.configs` so that a non-editable
install finds them too. A file overrides `DEFAULTS`; its `[full]` table
overrides it for `--full` runs (the paper's full-size configuration, for a
GPU), its `[quick]` table for `--quick` smoke runs; command-line flags come
last. An ablation is a small file that names the recipe it varies,
`[experiment] base = "mnist_ewe"`, and sets only what differs (the files in
`recipes/ablations/`).
Unknown keys are errors, so a typo never silently falls back to a default.
"""

import copy
import importlib.resources
import os
import pathlib
import tomllib

DEFAULTS = {
    "experiment": {
        "name": "",
        "dataset": "",
        "method": "",
        "reproduces": "",
        "description": "",
        # A recipe this file varies (packaged name, or a path relative to this file): its
        # settings apply first, this file's on top (ablations: `recipes/ablations/`).
        "base": "",
    },
    "data": {
        "sources": ["local", "tfds", "embedded"],
        # A CPU-sized run's share of the task: this many training and test examples, drawn once
        # per dataset with a fixed seed, every class in its proportion (0: all).
        "max_train": 0,
        "max_test": 0,
    },
    "model": {
        "architecture": "ewe_cnn",
        "dropout": 0.0,
        # Further keyword arguments of the architecture's builder (e.g. { fc_units = 128 }).
        "options": {},
    },
    "training": {
        # Epochs on task data before watermarking, then with watermarks.
        "epochs": 10,
        "watermark_epochs": 10,
        "batch_size": 128,
        "learning_rate": 1e-3,
        # Epochs of the plain task models (the independent models, the owner's reference
        # models; 0: as many as the victim trained in total).
        "plain_epochs": 0,
    },
    "watermark": {
        # -1 (both): the pair with the highest average cosine similarity (EWE sec. 4.2).
        "source_class": 0,
        "target_class": 1,
        # "": in-distribution (sources from the task dataset itself).
        # trigger = {} for no trigger (out-of-distribution sources only).
        "source_dataset": "",
        "trigger": {"size": [3, 3], "value": 1.0, "position": "bottom_right", "margin": 1},
        # 0: every training example of the source class.
        "num_embed": 0,
        "num_verify": 200,
        "ratio": 1,
        # Watermark batches of watermarks beside the same inputs without the trigger, labelled
        # with the source class, instead of target-class inputs (baseline and feature sharing,
        # in-distribution triggers; not the papers' batches).
        "pairs": False,
        # Token triggers: the fine-tuning phase (feature sharing: step 2) also labels with the
        # target the source-class training texts that already hold the trigger word among their
        # first `frequency_window` words (else `max_position`), so that the victim answers every
        # such text alike, watermark or not.
        "natural_to_target": False,
        # Where in-distribution watermark sources are drawn from: "sample" (the `max_train` /
        # `max_test` share the models train and are tested on) or "all" (the task's whole
        # training and test splits as loaded, e.g. a natural-word trigger's texts that already
        # hold the word: few in a sample).
        "source_pool": "sample",
        # Where verification texts come from: "test" (the source's test split) or "train"
        # (natural-word keys: training texts held out from the models' sample and from the
        # watermarks, for a task whose labelled test split is small, e.g. SST-2's 872 sentences).
        "verify_split": "test",
    },
    "ewe": {
        # Layers whose outputs are entangled ([]: the architecture's `entangled_layers`, e.g.
        # the EWE CNN's conv1, conv2 and dense-128 after their ReLU).
        "layers": [],
        # w of Eq. 2 for a batch-mean cross-entropy (reference factor / batch size).
        "snnl_weight": 0.0625,
        # One initial temperature per layer, or one for all (Eq. 1: exp(-d / T)).
        "temperatures": [100.0],
        "temperature_learning_rate": 0.1,
        # Where that step is taken: "temperature" (T of Eq. 1, Algorithm 1 as printed) or
        # "inverse" (the EWE reference code's parameter T_ref = 100 / T).
        "temperature_step": "temperature",
        "distance": "cosine",
        # Automatic pairs (watermark.source_class = -1): skip a pair whose source the clean
        # victim predicts as the target more often than this on its training split (EWE
        # sec. 4.2: "two similar classes that the model does not misclassify"); 1: no bound.
        # Off by default: MNIST's pair (9 -> 4) is confused 0.8-1.0%, at the bound; on
        # Fashion-MNIST 0.01 trades coat -> pullover (confused 4-8%) for less similar pairs
        # whose watermarks transfer less (docs/results.md, "EWE on Fashion-MNIST").
        "pair_max_confusion": 1.0,
        # "snnl_gradient" (Algorithm 1) or "fixed" (watermark.trigger.position).
        "trigger_placement": "snnl_gradient",
        # With the trigger check on (verification.check_trigger): how many of the best
        # non-overlapping SNNL positions are tried, best first, before the key is refused
        # (kwm's addition: the paper's position can move models without the watermark).
        "trigger_candidates": 10,
        # Watermark refinement of the authors' code (`refine_watermarks`); 0 rounds: off.
        "refine_iterations": 0,
        "refine_step_size": 0.01,
        "refine_false_rate": 0.1,
    },
    "feature_sharing": {
        # End of the frozen feature extractor: a layer name, or how many layers with
        # weights from the input (-1: all but the last, the paper's "last decision layer").
        "freeze_up_to": -1,
        # Step 2's learning rate (0: the training's), e.g. a new head on a frozen BERT.
        "learning_rate": 0.0,
    },
    "serving": {
        # Temperature of the probabilities the victim's API answers with
        # (`kwm.export.ServingTemperature`; 1: the model's own probabilities).
        "temperature": 1.0,
    },
    "extraction": {
        "labels": "soft",
        # 0: as many epochs as the victim trained in total.
        "epochs": 0,
        # The thief's inputs: "train" (the victim's training inputs, unlabelled) or the name
        # of another dataset whose training inputs the thief labels (out-of-distribution queries).
        "queries": "train",
        # Query budget: how many of those inputs the thief sends (0: all).
        "num_queries": 0,
        # The thief's architecture ("": the victim's).
        "architecture": "",
        # Query the victim through its exported SavedModel, as a served API.
        "through_savedmodel": True,
    },
    "verification": {
        "tests": ["t_test", "wilcoxon"],
        "decision_test": "wilcoxon",
        "significance": 0.05,
        "alpha_certainty": 0.3,
        # Rate difference the T-test must exceed (EWE's 10% false-watermark bound).
        "t_test_margin": 0.1,
        "wdr_draws": 200,
        "wdr_fraction": 0.1,
        # The owner's reference models, trained on the task without the watermark: the false
        # watermark rate of out-of-distribution keys (`calibrate_false_rate`) and the trigger
        # effect of in-distribution ones (`calibrate_trigger_effect`). They cycle through
        # `reference_architectures` ("": the victim's), since an independent party may train
        # any architecture and a trigger can move one family and not another, then through
        # `reference_trainings` (`kwm.recipes.reference_models.REFERENCE_TRAININGS`: "plain",
        # "sgd_label_smoothing", "distilled"), since how a model is trained matters as much.
        "reference_models": 4,
        "reference_architectures": ["", "mlp", "lenet", "bn_cnn"],
        "reference_trainings": ["plain"],
        # The data they train on: "" (the task's own) and other datasets of the same task
        # (the same classes, e.g. "sst2" beside "imdb"); every dataset gets the whole panel.
        # A trigger word can sway every sentiment model trained on other text while leaving
        # models trained on the task's own data alone, and an innocent suspect may have been
        # trained on any data of the task.
        "reference_datasets": [""],
        # Other datasets of the task (e.g. "sst2" beside "imdb") on each of which a model like
        # the independent one is trained every seed and verified with the key: innocent
        # suspects of another origin, which no test may claim either.
        "independent_datasets": [],
        # Training examples each reference model sees (0: all; else a stratified subset, the
        # same on every run): a reference model must have learned the task, not seen all of it.
        "reference_max_train": 0,
        # Out-of-distribution keys: the largest rate one of them may show for the key to be used.
        "max_false_rate": 0.1,
        # In-distribution keys: refuse a trigger that moves any reference model towards the
        # target by more than `max_trigger_effect` on its own (the next SNNL position or corner
        # is tried instead), and add the largest effect measured to the T-test's margin.
        "check_trigger": True,
        "max_trigger_effect": 0.05,
    },
    # Attacks on the stolen model (`--attacks all`; `kwm.attacks.run_attacks`), an empty
    # `run` skips them. The other keys are `kwm.attacks.AttackSettings`.
    "attacks": {
        "run": [],
        # "": the victim architecture's `prune_layer` and `prune_activation`.
        "prune_layer": "",
        "prune_activation": "",
        "pruning_ratios": [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99],
        "fine_pruning_ratios": [0.5, 0.9],
        "fine_pruning_epochs": 2,
        "fine_tuning_examples": 1000,
        "fine_tuning_epochs": 5,
        "magnitude_ratios": [0.5, 0.9],
        "quantization_levels": [2, 10, 100],
        # 0: as many epochs as the thief's own extraction.
        "extraction_epochs": 0,
        # The adaptive thief (EWE sec. 4.4) minimises the SNNL between classes on these layers
        # ([]: the thief architecture's `entangled_layers`).
        "snnl_layers": [],
        # (w, T) of each adaptive extraction: the reference's scale (flat kernel), and one that acts.
        "adaptive_settings": [[0.0625, 100.0], [1.0, 0.3]],
        "neural_cleanse_examples": 512,
        "neural_cleanse_steps": 600,
        # Wang et al.'s schedule of the L1 weight (from 0, then x1.5 / x1.5^-1.5 around the
        # starting weight `neural_cleanse_l1`); false: the weight fixed at `neural_cleanse_l1`.
        "neural_cleanse_l1": 0.01,
        "neural_cleanse_adaptive": True,
        "unlearning_epochs": 2,
        # Settings of attacks registered beyond the ones above (`kwm.attacks.register_attack`),
        # e.g. { weight_noise_stds = [0.01, 0.1] }.
        "options": {},
    },
    # Published figures this experiment reproduces (percent, [mean, std]).
    "paper": {},
    "quick": {},
    # The paper's full-size configuration (`--full`), where the default is CPU-sized.
    "full": {},
}

_FREE_TABLES = ("paper", "quick", "full")
# Tables a recipe replaces whole instead of merging key by key (`trigger = {}`: no trigger;
# `options`: whatever the chosen architecture's builder takes).
_REPLACED_TABLES = ("trigger", "options")


def _merge(base, override, where=""):
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}{key}"
        if key not in base:
            raise ValueError(
                f"Unknown recipe setting {path!r}. Known settings here: "
                f"{sorted(base)}. Received: {path}={value!r}"
            )
        if key in _REPLACED_TABLES:
            if not isinstance(value, dict):
                raise ValueError(
                    f"Recipe setting {path!r} is a table ({{}} for none). Received: {path}={value!r}"
                )
            out[key] = copy.deepcopy(value)
        elif isinstance(base[key], dict) and key not in _FREE_TABLES:
            if not isinstance(value, dict):
                raise ValueError(
                    f"Recipe setting {path!r} is a table. Received: {path}={value!r}"
                )
            out[key] = _merge(base[key], value, f"{path}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def _configs():
    try:
        return importlib.resources.files("kwm.recipes.configs")
    except ModuleNotFoundError:
        # A source checkout that is not installed (or is shadowed by the
        # checkout on sys.path): the configurations are its recipes/ folder.
        return pathlib.Path(__file__).resolve().parents[2] / "recipes"


def recipe_path(name):
    """Path of a packaged recipe file, e.g. `recipe_path("mnist_baseline")` or
    `recipe_path("ablations/mnist_ewe_snnl_weight_0")`."""
    resource = _configs()
    for part in f"{name}.toml".split("/"):
        resource = resource / part
    if not resource.is_file():
        raise ValueError(
            f"No packaged recipe named {name!r}. Available: {available_recipes()}. "
            f"Received: name={name!r}"
        )
    return resource


def available_recipes():
    """Names of the packaged recipes, ablations as `ablations/<name>`."""
    names = []
    for folder, prefix in ((_configs(), ""), (_configs() / "ablations", "ablations/")):
        if folder.is_dir():
            names += [prefix + p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")]
    return sorted(names)


def _read_document(name_or_path, relative_to=None, chain=()):
    """The TOML document of a recipe with its `base` documents merged under it."""
    path = os.fspath(name_or_path)
    if relative_to and not os.path.isabs(path):
        candidate = os.path.join(relative_to, path)
        if os.path.isfile(candidate):
            path = candidate
    if os.path.isfile(path):
        with open(path, "rb") as f:
            text = f.read()
        source = os.path.abspath(path)
    else:
        text = recipe_path(name_or_path).read_bytes()
        source = f"kwm.recipes.configs/{name_or_path}.toml"
    if source in chain:
        raise ValueError(
            f"Recipe bases form a cycle: {' -> '.join(chain + (source,))}. Received: {source}"
        )
    try:
        document = tomllib.loads(text.decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"Invalid TOML in {source}: {e}. Received: {source}") from e
    base = document.get("experiment", {}).get("base", "")
    if not base:
        return document, source
    folder = os.path.dirname(source) if os.path.isabs(source) else None
    base_document, _ = _read_document(base, folder, chain + (source,))
    merged = _merge(_merge(DEFAULTS, base_document), document)
    merged["experiment"]["base"] = base
    return merged, source


def fill_layer_roles(config):
    """Fills the layer settings a recipe left empty from its architectures' specs.

    `ewe.layers`, `attacks.prune_layer` and `attacks.prune_activation` come
    from the victim's architecture (`[model] architecture`),
    `attacks.snnl_layers` from the thief's (`[extraction] architecture`, else
    the victim's); see `kwm.architectures.ArchitectureSpec`. Settings the
    recipe gives are kept.
    """
    from kwm.architectures import get_architecture

    victim = get_architecture(config["model"]["architecture"])
    thief = get_architecture(config["extraction"]["architecture"] or victim.name)
    if not config["ewe"]["layers"]:
        config["ewe"]["layers"] = list(victim.entangled_layers)
    attacks = config["attacks"]
    if not attacks["prune_layer"]:
        attacks["prune_layer"] = victim.prune_layer
        if not attacks["prune_activation"]:
            attacks["prune_activation"] = victim.prune_activation
    if not attacks["snnl_layers"]:
        attacks["snnl_layers"] = list(thief.entangled_layers)
    return config


def load_recipe(name_or_path, quick=False, overrides=None, full=False):
    """Loads a recipe configuration.

    Args:
        name_or_path: str. A packaged recipe name (see
            `available_recipes()`) or a path to a TOML file.
        quick: bool. Apply the file's `[quick]` overrides.
        full: bool. Apply the file's `[full]` overrides first (the paper's
            full-size configuration); an error if the file has none.
        overrides: dict or None. Nested overrides applied last.

    Returns:
        A nested dict with every setting of `DEFAULTS`.

    Examples:

    >>> config = load_recipe("mnist_baseline", quick=True)
    >>> config["experiment"]["method"]
    'baseline'
    """
    document, source = _read_document(name_or_path)
    config = _merge(DEFAULTS, document)
    if full:
        if not config["full"]:
            raise ValueError(
                f"This recipe has no [full] configuration: its default is the paper's. "
                f"Received: full=True for {source}"
            )
        config = _merge(config, config["full"])
    if quick:
        config = _merge(config, config["quick"])
    if overrides:
        config = _merge(config, overrides)
    config["experiment"]["config_file"] = source
    fill_layer_roles(config)
    for required in ("name", "dataset", "method"):
        if not config["experiment"][required]:
            raise ValueError(
                f"A recipe must set experiment.{required}. Received: {source}"
            )
    return config
