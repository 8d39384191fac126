"""The owner's reference models: which, trained how, cached across runs, and what they check.

Reference models are trained on the task *without* the watermark, by the
owner, of several architectures and training recipes. They measure an
out-of-distribution key's false watermark rate (`calibrated_key`) and an
in-distribution key's trigger effect (`trigger_screen`), so that no test
counts as evidence what a model without the watermark does anyway.

How a patch sways a model depends on how the model was trained as well as
on its architecture: at one EWE trigger position on MNIST, fifteen deeper
ELU CNNs of an independent population moved by anything from under 5
points (most) to 57 (one distilled from an MLP), and SGD with label
smoothing gave 35.5. `REFERENCE_TRAININGS` names the recipes a panel may
use (`verification.reference_trainings`).
"""

import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import time

import keras
import numpy as np

from kwm import architectures, datasets, training
from kwm.datasets.resolver import sha256_of
from kwm.export.serving import outputs_logits
from kwm.recipes.models import build_model, plain_epochs, train_plain
from kwm.registry import Registry
from kwm.verification import calibrate_false_rate, measure_trigger_effect
from kwm.version import __version__

# Reference models use seeds REFERENCE_SEED + i, shared by all seeds of a run and distinct from
# every suspect's; those trained on the d-th entry of `verification.reference_datasets`,
# REFERENCE_SEED + DATASET_SEED_STRIDE * d + i.
REFERENCE_SEED = 3000
DATASET_SEED_STRIDE = 100

CACHE_SUBDIR = "reference_models"
# What a cached reference model is trained by: a change here retrains it.
_CODE_FILES = ("training.py", "architectures", os.path.join("recipes", "reference_models.py"))


@functools.lru_cache(maxsize=None)
def _code_digest():
    """SHA-256 of the source of kwm's training loop and architectures, read once per process:
    the code that runs is the code imported, whatever happens to the files during a run."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for name in _CODE_FILES:
        path = os.path.join(root, name)
        files = (
            [path]
            if os.path.isfile(path)
            else sorted(
                os.path.join(path, f) for f in os.listdir(path) if f.endswith(".py")
            )
        )
        for file in files:
            digest.update(os.path.relpath(file, root).encode())
            with open(file, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _array_digest(array):
    array = np.asarray(array)
    if array.dtype.hasobject:
        # Texts: an object array's buffer holds pointers, so hash each string's UTF-8 bytes.
        digest = hashlib.sha256(f"text{array.shape}".encode())
        for value in array.ravel():
            data = str(value).encode("utf-8")
            digest.update(len(data).to_bytes(8, "little") + data)
        return digest.hexdigest()
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data)
    return digest.hexdigest()


def dataset_digest(data):
    """The name of a task dataset and SHA-256 digests of its training split."""
    return {
        "name": data.name,
        "train_x_sha256": _array_digest(data.train.x),
        "train_y_sha256": _array_digest(data.train.y),
    }


def reference_identity(model, training, data, seed, data_digest=None):
    """Everything a reference model depends on, as a JSON-ready dict.

    Two runs share a cached reference model only when all of it is equal:
    the model and training configuration, the training data itself (hashed,
    not named), the seed, the versions of kwm, Keras and TensorFlow, and the
    source of kwm's training loop and architectures.

    Args:
        model: dict. The recipe's `[model]` table.
        training: dict. `epochs`, `batch_size`, `learning_rate` of the training.
        data: TaskDataset. The task data the model trains on.
        seed: int. The model's seed.
        data_digest: dict or None. `dataset_digest(data)`, if already computed.

    Returns:
        A dict; `identity_fingerprint(identity)` names it.
    """
    import tensorflow

    identity = {
        "model": model,
        "training": training,
        "data": data_digest or dataset_digest(data),
        "seed": int(seed),
        "versions": {
            "kwm": __version__,
            "keras": keras.__version__,
            "tensorflow": tensorflow.__version__,
        },
        "code_sha256": _code_digest(),
    }
    # As stored beside a cached model: JSON types (tuples become lists), so the two compare equal.
    return json.loads(json.dumps(identity, sort_keys=True))


def identity_fingerprint(identity):
    """SHA-256 of an identity's canonical JSON."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class ReferenceModels:
    """The owner's models trained on the task without the watermark.

    Trained on first use and kept for every seed of a run. With `directory`
    they are also saved there (`<fingerprint>.keras` beside a `.json` with
    their identity and provenance) and loaded by any later run whose model,
    training, data, seed, library versions and training code are the same
    (`reference_identity`): on CIFAR-10 the three reference ResNets take
    about 30 minutes on 2 CPU cores, the same for every run of a recipe. A
    model is loaded only when the identity stored beside it equals the one
    asked for, and every use is recorded (`records`) with the file's
    SHA-256, so a report says which models its checks rest on.

    Args:
        directory: str or None. Where to keep models across runs; None
            keeps them in memory only.
        datasets: dict or None. The other datasets of the task that
            `verification.reference_datasets` names, by name
            (`kwm.recipes.data.load_other_datasets`).

    Examples:

    >>> store = ReferenceModels()          # in memory, for one run
    >>> store.records
    []
    """

    def __init__(self, directory=None, datasets=None):
        self.directory = directory
        self.datasets = dict(datasets or {})
        self._models = {}
        self._per_data = {}
        self.records = []

    def _per_dataset(self, key, data, compute):
        """`compute()`, once per `key` and dataset object of the run."""
        entry = self._per_data.get((key, id(data)))
        if entry is None or entry[0] is not data:  # holding `data` keeps its id unique
            entry = (data, compute())
            self._per_data[(key, id(data))] = entry
        return entry[1]

    def training_data(self, config, data):
        """`reference_data(config, data)`, drawn once per dataset of the run."""
        max_train = config["verification"].get("reference_max_train", 0)
        return self._per_dataset(
            ("subset", max_train), data, lambda: reference_data(config, data)
        )

    def data_digest(self, data):
        """`dataset_digest(data)`, computed once per dataset of the run."""
        return self._per_dataset("digest", data, lambda: dataset_digest(data))

    def get(self, identity, train, log=print):
        """The model of `identity`: from memory, from disk, or trained by `train()`.

        Args:
            identity: dict. From `reference_identity`.
            train: callable. Trains and returns the model when none is kept.
            log: callable. Where progress lines go.

        Returns:
            `(model, record)`: the model and a JSON-ready dict of where it came from.
        """
        fingerprint = identity_fingerprint(identity)
        if fingerprint in self._models:
            return self._models[fingerprint]
        model, record = None, None
        if self.directory:
            model, record = self._load(fingerprint, identity, log)
        if model is None:
            model = train()
            record = {"source": "trained", "fingerprint": fingerprint, "seed": identity["seed"]}
            if self.directory:
                record.update(self._save(model, fingerprint, identity))
        self._models[fingerprint] = (model, record)
        self.records.append(record)
        return model, record

    def _paths(self, fingerprint):
        base = os.path.join(self.directory, fingerprint)
        return base + ".keras", base + ".json"

    def _load(self, fingerprint, identity, log):
        model_path, meta_path = self._paths(fingerprint)
        if not (os.path.isfile(model_path) and os.path.isfile(meta_path)):
            return None, None
        with open(meta_path) as f:
            meta = json.load(f)
        file_sha256 = sha256_of(model_path)
        if meta.get("identity") != identity or meta.get("file_sha256") != file_sha256:
            log(
                f"reference model cache: {model_path} does not match its record; retraining"
            )
            return None, None
        model = keras.saving.load_model(model_path)
        log(f"reference model seed {identity['seed']}: loaded from {model_path}")
        return model, {
            "source": "cache",
            "fingerprint": fingerprint,
            "seed": identity["seed"],
            "file": model_path,
            "file_sha256": file_sha256,
            "trained_by": meta.get("trained_by"),
        }

    def _save(self, model, fingerprint, identity):
        from kwm.reports.provenance import code_provenance

        os.makedirs(self.directory, exist_ok=True)
        model_path, meta_path = self._paths(fingerprint)
        # Written under temporary names and renamed: a killed run leaves no half file.
        fd, partial = tempfile.mkstemp(suffix=".keras", dir=self.directory, prefix=".partial-")
        os.close(fd)
        try:
            model.save(partial)
            file_sha256 = sha256_of(partial)
            os.replace(partial, model_path)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
        provenance = code_provenance()
        meta = {
            "identity": identity,
            "file_sha256": file_sha256,
            "trained_by": {
                k: provenance[k] for k in ("git_commit", "git_dirty", "command", "utc_time")
            },
        }
        with open(meta_path + ".partial", "w") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
        os.replace(meta_path + ".partial", meta_path)
        return {"file": model_path, "file_sha256": file_sha256, "saved": True}

    @staticmethod
    def default_directory():
        """`$KWM_CACHE_DIR/reference_models`, else `~/.cache/kwm/reference_models`."""
        from kwm.datasets.cifar import cache_dir

        return os.path.join(cache_dir(), CACHE_SUBDIR)


REFERENCE_TRAININGS = Registry("reference training")


@dataclasses.dataclass(frozen=True)
class ReferenceTraining:
    """How one kind of reference model is trained, beside its architecture.

    Args:
        name: str. The name `verification.reference_trainings` uses.
        description: str. One line for reports.
        optimizer: str. `"recipe"` (the recipe's own training:
            `kwm.training.train_classifier`, Adam at the recipe's learning
            rate, on the labels) or `"sgd_momentum"` (SGD, momentum 0.9, at
            `learning_rate`).
        learning_rate: float or None. None: the recipe's.
        label_smoothing: float. Label smoothing of the cross-entropy.
        distilled: bool. Trains on the probabilities of a teacher (the
            panel's model of the previous family in
            `reference_architectures`, trained by the panel's first
            recipe) instead of the labels.

    Examples:

    >>> REFERENCE_TRAININGS.get("distilled").distilled
    True
    """

    name: str
    description: str
    optimizer: str = "recipe"
    learning_rate: object = None
    label_smoothing: float = 0.0
    distilled: bool = False

    @property
    def plain(self):
        """Trained exactly as the recipe trains a model without the watermark."""
        return self.optimizer == "recipe" and not self.label_smoothing and not self.distilled

    def settings(self):
        """What the training adds to a reference model's identity (nothing when plain)."""
        if self.plain:
            return {}
        return {
            "recipe": self.name, "optimizer": self.optimizer,
            "label_smoothing": self.label_smoothing, "distilled": self.distilled,
            **({"learning_rate": self.learning_rate} if self.learning_rate else {}),
        }


for _training in (
    ReferenceTraining("plain", "the recipe's training: Adam on the labels"),
    ReferenceTraining(
        "sgd_label_smoothing", "SGD with momentum 0.9 at 0.01, label smoothing 0.1",
        optimizer="sgd_momentum", learning_rate=0.01, label_smoothing=0.1,
    ),
    ReferenceTraining(
        "distilled", "Adam on the probabilities of the panel's model of the previous family",
        distilled=True,
    ),
):
    REFERENCE_TRAININGS.register(_training.name, _training)


def _families(config):
    """The entries of `verification.reference_architectures` as `[model]` tables."""
    panel = config["verification"]["reference_architectures"]
    if not panel:
        raise ValueError(
            "`verification.reference_architectures` needs at least one entry (\"\": the "
            f"victim's). Received: reference_architectures={panel}"
        )
    victim = config["model"]
    entries = []
    for entry in panel:
        if isinstance(entry, str):
            entries.append(
                victim if entry in ("", victim["architecture"])
                else {"architecture": entry, "dropout": 0.0, "options": {}}
            )
            continue
        unknown_keys = set(entry) - {"architecture", "dropout", "options", "learning_rate"}
        if not isinstance(entry, dict) or "architecture" not in entry or unknown_keys:
            raise ValueError(
                "A reference architecture is a name or a table with `architecture` and "
                "optionally `dropout`, `options`, `learning_rate`. "
                f"Received: reference_architectures={panel}"
            )
        entries.append({"dropout": 0.0, "options": {}, **entry})
    unknown = [
        e["architecture"] for e in entries
        if e["architecture"] not in architectures.available_architectures()
    ]
    if unknown:
        raise ValueError(
            f"Unknown reference architecture. Known: {architectures.available_architectures()}. "
            f"Received: reference_architectures={panel}"
        )
    return entries


def _trainings(config):
    names = config["verification"].get("reference_trainings", ["plain"])
    if not names:
        raise ValueError(
            "`verification.reference_trainings` needs at least one entry. "
            f"Received: reference_trainings={names}"
        )
    trainings = [REFERENCE_TRAININGS.get(name) for name in names]
    if trainings[0].distilled:
        raise ValueError(
            "The first reference training trains the teachers of distilled models, so it "
            f"cannot be distilled itself. Received: reference_trainings={names}"
        )
    return trainings


def reference_model_configs(config):
    """The `[model]` table of each of the owner's reference models, in order.

    `verification.reference_models` models cycle through
    `verification.reference_architectures`. An entry is an architecture name
    ("" is the victim's own architecture, with the recipe's options; others
    are built with their defaults) or a table `{ architecture, dropout,
    options, learning_rate }` for a model that needs its own settings, e.g.
    a BERT trained from scratch beside a fine-tuned one. A table's
    `learning_rate` replaces the recipe's for that model.
    """
    return [model for model, _ in reference_panel(config)]


def reference_panel(config):
    """`(model table, ReferenceTraining)` of each of the owner's reference models, in order.

    Model `i` is of family `i % F` of the `F` entries of
    `verification.reference_architectures` and trained by recipe
    `(i // F) % R` of the `R` names of `verification.reference_trainings`
    (`REFERENCE_TRAININGS`; default `["plain"]`): with `F * R` models every
    family is trained every way.

    Examples:

    >>> from kwm.recipes import load_recipe
    >>> config = load_recipe("mnist_ewe")
    >>> [(m["architecture"], t.name) for m, t in reference_panel(config)][4:6]
    [('elu_cnn', 'plain'), ('ewe_cnn', 'sgd_label_smoothing')]
    """
    families, trainings = _families(config), _trainings(config)
    count = config["verification"]["reference_models"]
    return [
        (families[i % len(families)], trainings[(i // len(families)) % len(trainings)])
        for i in range(count)
    ]


def _train_reference(config, data, seed, model_config, reference_training, learning_rate,
                     teacher, verbose):
    """A reference model of `model_config` trained the way `reference_training` says."""
    if reference_training.plain:
        return train_plain(config, data, seed, verbose, model_config, learning_rate=learning_rate)
    model = build_model({"model": model_config}, data, seed)
    num_classes = data.num_classes
    if reference_training.distilled:
        targets = np.asarray(teacher.predict(data.train.x, verbose=0), dtype="float32")
        if outputs_logits(teacher):
            targets = np.asarray(keras.ops.softmax(targets), dtype="float32")
    else:
        targets = np.eye(num_classes, dtype="float32")[np.asarray(data.train.y)]
    logits = outputs_logits(model)
    learning_rate = reference_training.learning_rate or learning_rate
    optimizer = (
        keras.optimizers.SGD(learning_rate, momentum=0.9)
        if reference_training.optimizer == "sgd_momentum"
        else training.adam(learning_rate)
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(
            from_logits=logits, label_smoothing=reference_training.label_smoothing
        ),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    model.fit(
        data.train.x, targets, epochs=plain_epochs(config),
        batch_size=config["training"]["batch_size"], shuffle=True, verbose=verbose,
    )
    return model


def reference_accuracy(model, data, max_examples=None):
    """Accuracy of `model` on `max_examples` test examples of `data` (default 2000 images, 200
    texts), drawn at random with a fixed seed: a test split may be ordered by class (IMDB's
    is), and its first examples would then be of one class."""
    if max_examples is None:
        max_examples = 200 if data.modality == "text" else 2000
    indices = np.arange(len(data.test))
    if max_examples < len(indices):
        indices = np.sort(np.random.default_rng(REFERENCE_SEED).choice(
            len(indices), size=max_examples, replace=False))
    x, y = data.test.x[indices], np.asarray(data.test.y)[indices]
    return float(np.mean(np.asarray(model.predict(x, verbose=0)).argmax(axis=-1) == y))


def reference_data(config, data):
    """The task data reference models train on: all of it, or a stratified subset of
    `verification.reference_max_train` training examples (the same draw on every run)."""
    max_train = config["verification"].get("reference_max_train", 0)
    if max_train < 0:
        raise ValueError(
            f"`verification.reference_max_train` must be >= 0 (0: all). "
            f"Received: reference_max_train={max_train}"
        )
    if not max_train or max_train >= len(data.train):
        return data
    return datasets.subsample(data, max_train, 0, seed=REFERENCE_SEED)


def reference_dataset_names(config, data):
    """The names of the datasets reference models train on, in order.

    Args:
        config: dict. A loaded recipe; its `verification.reference_datasets`
            names the datasets, "" meaning the task's own.
        data: TaskDataset. The task's data.

    Examples:

    >>> from kwm import datasets
    >>> from kwm.recipes import load_recipe
    >>> imdb = datasets.load("imdb", sources=("embedded",))
    >>> reference_dataset_names(load_recipe("imdb_feature_sharing"), imdb)
    ['imdb', 'sst2']
    """
    entries = config["verification"].get("reference_datasets", [""])
    names = [entry or data.name for entry in entries]
    if not names or len(set(names)) != len(names):
        raise ValueError(
            "`verification.reference_datasets` needs at least one dataset, each once (\"\": "
            f"the task's own, {data.name!r}). Received: reference_datasets={entries}"
        )
    if len(names) > 1 and config["verification"]["reference_models"] > DATASET_SEED_STRIDE:
        raise ValueError(
            f"With several reference datasets, at most {DATASET_SEED_STRIDE} reference models "
            "per dataset (their seeds would overlap). "
            f"Received: reference_models={config['verification']['reference_models']}"
        )
    return names


def reference_datasets(config, data, cache):
    """The datasets reference models train on: `data` and the task's other datasets in `cache`."""
    out = []
    for name in reference_dataset_names(config, data):
        if name == data.name:
            out.append(data)
            continue
        other = cache.datasets.get(name)
        if other is None:
            raise ValueError(
                f"Reference models of this recipe also train on {name!r}, which was not "
                "loaded: pass it as `ReferenceModels(datasets=...)` "
                "(`kwm.recipes.data.load_other_datasets`). "
                f"Received: reference_datasets={config['verification']['reference_datasets']}"
            )
        check_same_task(data, other)
        out.append(other)
    return out


def check_same_task(data, other):
    """Raises unless `other` is a dataset of `data`'s task (same modality and classes)."""
    if (other.modality, tuple(other.class_names)) != (data.modality, tuple(data.class_names)):
        raise ValueError(
            f"Another dataset of the task must have its modality and classes ({data.modality}, "
            f"{list(data.class_names)}). Received: {other.name} ({other.modality}, "
            f"{list(other.class_names)})"
        )


def train_reference_models(config, data, cache, verbose, log):
    """The owner's models trained on the task without the watermark, and their descriptions.

    `verification.reference_models` models of the panel (`reference_panel`)
    on each dataset of `verification.reference_datasets`: the task's own
    data first, then the other datasets of the task held by `cache`.
    """
    panel = reference_panel(config)
    other = sorted({t.name for _, t in panel if not t.plain})
    if other and data.modality != "image":
        raise ValueError(
            "Reference trainings other than the recipe's own are for image tasks. "
            f"Received: reference_trainings={other} on {data.name} ({data.modality})"
        )
    families = _families(config)
    first_training = _trainings(config)[0]
    epochs = plain_epochs(config)
    task, datasets_ = data, reference_datasets(config, data, cache)
    total = len(panel) * len(datasets_)
    models, names = [], []
    for d, dataset in enumerate(datasets_):
        data = cache.training_data(config, dataset)

        def get(i, model_config, reference_training, d=d, data=data):
            seed = REFERENCE_SEED + DATASET_SEED_STRIDE * d + i
            model_config = dict(model_config)
            learning_rate = (
                model_config.pop("learning_rate", None) or config["training"]["learning_rate"]
            )
            teacher = None
            settings = {
                "epochs": epochs,
                "batch_size": config["training"]["batch_size"],
                "learning_rate": learning_rate,
                **reference_training.settings(),
            }
            if reference_training.distilled:
                # The teacher: the model of the previous family, trained by the first recipe.
                index = (i % len(families) - 1) % len(families)
                teacher, teacher_record = get(index, families[index], first_training)
                settings["teacher"] = teacher_record["fingerprint"]
            identity = reference_identity(
                model_config, settings, data, seed, data_digest=cache.data_digest(data)
            )

            def train():
                log(
                    f"training reference model {d * len(panel) + i + 1}/{total} "
                    f"({model_config['architecture']}, {reference_training.name}, "
                    f"{data.name}, seed {seed}, no watermark)"
                )
                return _train_reference(
                    config, data, seed, model_config, reference_training, learning_rate,
                    teacher, verbose,
                )

            return cache.get(identity, train, log)

        for i, (model_config, reference_training) in enumerate(panel):
            model, record = get(i, model_config, reference_training)
            seed = record["seed"]
            where = (
                "the task" if dataset is task else f"{dataset.name} (another dataset of the task)"
            )
            if "test_accuracy" not in record:
                # A reference model that has not learned the task checks nothing: say how well.
                record["test_accuracy"] = reference_accuracy(model, data)
                if dataset is not task:
                    record["task_test_accuracy"] = reference_accuracy(model, task)
                log(
                    f"reference model seed {seed} ({model_config['architecture']}, "
                    f"{reference_training.name}, on {dataset.name}): test accuracy "
                    f"{100 * record['test_accuracy']:.2f}%"
                    + (
                        f", on {task.name} {100 * record['task_test_accuracy']:.2f}%"
                        if dataset is not task
                        else ""
                    )
                )
            models.append(model)
            names.append(
                f"{model_config['architecture']} seed {seed}, {epochs} epochs on {where} "
                "without the watermark"
                + ("" if reference_training.plain else f", {reference_training.name}")
                + (
                    f" (loaded from {record['file']}, sha256 {record['file_sha256'][:16]})"
                    if record["source"] == "cache"
                    else ""
                )
            )
    return models, names


def calibrated_key(config, data, key, cache, verbose, log):
    """An out-of-distribution key with its false rate measured on reference models."""
    models, names = train_reference_models(config, data, cache, verbose, log)
    return calibrate_false_rate(
        key, models, names=names, max_false_rate=config["verification"]["max_false_rate"]
    )


def trigger_screen(config, data, seed, cache, verbose, log, timings):
    """The owner's trigger check of in-distribution keys, or None when the recipe skips it.

    Returns a callable `key -> measure_trigger_effect dict` on the reference
    models (trained on first use), which logs every measurement and adds
    its time (reference training included) to `timings["trigger_check_s"]`.
    """
    if not config["verification"]["check_trigger"]:
        return None

    def screen(key):
        start = time.perf_counter()
        models, names = train_reference_models(config, data, cache, verbose, log)
        effect = measure_trigger_effect(key, models, names=names)
        timings["trigger_check_s"] = (
            timings.get("trigger_check_s", 0.0) + time.perf_counter() - start
        )
        allowed = effect["value"] <= config["verification"]["max_trigger_effect"]
        log(
            f"[seed {seed}] trigger {getattr(key.trigger, 'position', key.trigger)}: "
            "moves the reference models by "
            + ", ".join(f"{100 * e:+.1f}" for e in effect["effects"])
            + " points towards the target"
            + ("" if allowed else " -- refused")
        )
        return effect

    return screen
