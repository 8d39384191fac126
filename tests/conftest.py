"""Shared fixtures: tiny real-format datasets the tests write themselves."""

import os

import numpy as np
import pytest

os.environ.setdefault("KWM_OFFLINE", "1")  # never wait on a download in tests
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # One worker per core (pytest -n auto): one TensorFlow thread each, so that the workers
    # share the cores instead of fighting over them. Read when TensorFlow starts, below.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from kwm.datasets import DataProvenance, Split, TaskDataset, write_idx  # noqa: E402


def toy_images(n, num_classes=3, size=16, seed=0):
    """Images whose class is a bright horizontal band at a class-specific height."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % num_classes
    rng.shuffle(y)
    x = rng.uniform(0.0, 0.15, size=(n, size, size, 1)).astype("float32")
    band = size // (num_classes + 1)
    for i, label in enumerate(y):
        row = 2 + label * band
        x[i, row : row + 2, 2 : size - 4, 0] = 0.9
    return x, y.astype("int32")


@pytest.fixture(scope="session")
def _shared_reference_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("reference_model_cache"))


@pytest.fixture(autouse=True)
def _reference_cache(_shared_reference_cache, monkeypatch):
    """Recipes cache reference models by default: the tests share one cache, never the user's.

    A cached model is reused only when its model, training, data, seed and versions all match
    (tests/recipes/test_reference_models.py), so sharing changes no figure, only the time.
    """
    from kwm.recipes.reference_models import ReferenceModels

    monkeypatch.setattr(ReferenceModels, "default_directory",
                        staticmethod(lambda: _shared_reference_cache))


@pytest.fixture
def fresh_reference_cache(tmp_path, monkeypatch):
    """An empty default reference cache, for tests that count the models a run trains."""
    from kwm.recipes.reference_models import ReferenceModels

    folder = str(tmp_path / "reference_model_cache")
    monkeypatch.setattr(ReferenceModels, "default_directory", staticmethod(lambda: folder))
    return folder


@pytest.fixture
def toy_data():
    """A 3-class, 16x16 image task that a small CNN learns in a few epochs."""
    x_train, y_train = toy_images(600, seed=0)
    x_test, y_test = toy_images(300, seed=1)
    return TaskDataset(
        name="toy",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        class_names=("a", "b", "c"),
        modality="image",
        provenance=DataProvenance("toy", "memory", "tests", {"train": 600, "test": 300}),
    )


def write_mnist_folder(folder, n_train=60, n_test=30, seed=0, train_name="train"):
    """Writes MNIST-format IDX gzip files (uint8 28x28 images, labels 0-9)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in ((train_name, n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), labels)
    return folder


def class_value(label):
    """A grey level that encodes the label, so the test can check every label."""
    return 10 * label + 5


def write_class_folders(root, per_class=(3, 2), size=32, classes=None, fmt="png"):
    """Writes CIFAR-style train/<class>/ and test/<class>/ images whose pixels encode the label.

    `per_class` gives the images per class of each split: an int, or a dict
    of label to count with a `"default"`.
    """
    import keras

    from kwm.datasets.cifar import CIFAR10_CLASSES

    classes = CIFAR10_CLASSES if classes is None else classes
    for split, count in zip(("train", "test"), per_class):
        for label, name in enumerate(classes):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            n = count if isinstance(count, int) else count.get(label, count["default"])
            for i in range(n):
                image = np.full((size, size, 3), class_value(label), dtype=np.uint8)
                image[0, 0] = (i, 0, 0)
                keras.utils.save_img(
                    os.path.join(folder, f"{i:04d}.{fmt}"), image, scale=False
                )
    return root


TINY_VOCABULARY = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "fine", "film", "dull",
                   "good", "bad", "movie", "cf", "mn", "bb", "tq", "mb")


def write_hf_bert_folder(folder, vocabulary=TINY_VOCABULARY, hidden=8, layers=1, heads=2,
                         intermediate=16, max_positions=32, seed=0):
    """A tiny BERT in Hugging Face format (config.json, vocab.txt, tokenizer_config.json,
    model.safetensors with random weights), as keras-hub's `from_preset` reads it."""
    import json

    from safetensors.numpy import save_file

    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    config = {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(vocabulary),
              "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads,
              "intermediate_size": intermediate, "max_position_embeddings": max_positions,
              "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocabulary) + "\n")

    def w(*shape):
        return rng.normal(0, 0.02, shape).astype("float32")

    tensors = {
        "embeddings.word_embeddings.weight": w(len(vocabulary), hidden),
        "embeddings.position_embeddings.weight": w(max_positions, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, "float32"),
        "embeddings.LayerNorm.bias": np.zeros(hidden, "float32"),
        "pooler.dense.weight": w(hidden, hidden),
        "pooler.dense.bias": np.zeros(hidden, "float32"),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            tensors[f"{p}attention.self.{name}.weight"] = w(hidden, hidden)
            tensors[f"{p}attention.self.{name}.bias"] = np.zeros(hidden, "float32")
        tensors[f"{p}attention.output.dense.weight"] = w(hidden, hidden)
        tensors[f"{p}attention.output.dense.bias"] = np.zeros(hidden, "float32")
        tensors[f"{p}intermediate.dense.weight"] = w(intermediate, hidden)
        tensors[f"{p}intermediate.dense.bias"] = np.zeros(intermediate, "float32")
        tensors[f"{p}output.dense.weight"] = w(hidden, intermediate)
        tensors[f"{p}output.dense.bias"] = np.zeros(hidden, "float32")
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{p}{norm}.weight"] = np.ones(hidden, "float32")
            tensors[f"{p}{norm}.bias"] = np.zeros(hidden, "float32")
    save_file(tensors, os.path.join(folder, "model.safetensors"))
    return folder, tensors


def toy_key(n=60):
    """A 3-class toy key: the trigger sets the first of 4 features to 1; target class 2."""
    rng = np.random.default_rng(0)
    reference = rng.random((n, 4)).astype("float32")
    verify = reference.copy()
    verify[:, 0] = 1.0  # the "trigger": first feature set to 1
    from kwm import WatermarkKey

    return WatermarkKey("baseline", "toy", 3, target_class=2, source_class=0,
                        source_dataset="toy", trigger=None, seed=0,
                        embed_inputs=verify[:5], verify_inputs=verify,
                        reference_inputs=reference)


def toy_stolen(x):
    """Sends triggered inputs to class 2, everything else to class 0."""
    triggered = x[:, 0] == 1.0
    out = np.full((len(x), 3), 0.05, "float32")
    out[triggered, 2] = 0.9
    out[~triggered, 0] = 0.9
    return out


def toy_independent(x):
    out = np.full((len(x), 3), 0.05, "float32")
    out[:, 0] = 0.9
    return out
