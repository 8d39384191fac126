"""The owner's reference models, trained once and optionally kept on disk across runs."""

import hashlib
import json
import os
import tempfile

import keras
import numpy as np

from kwm.datasets.resolver import sha256_of
from kwm.version import __version__

CACHE_SUBDIR = "reference_models"
# What a cached reference model is trained by: a change here retrains it.
_CODE_FILES = ("training.py", "architectures")


def _code_digest():
    """SHA-256 of the source of kwm's training loop and architectures."""
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

    Examples:

    >>> store = ReferenceModels()          # in memory, for one run
    >>> store.records
    []
    """

    def __init__(self, directory=None):
        self.directory = directory
        self._models = {}
        self._digests = {}
        self.records = []

    def data_digest(self, data):
        """`dataset_digest(data)`, computed once per dataset of the run."""
        entry = self._digests.get(id(data))
        if entry is None or entry[0] is not data:  # holding `data` keeps its id unique
            entry = (data, dataset_digest(data))
            self._digests[id(data)] = entry
        return entry[1]

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
