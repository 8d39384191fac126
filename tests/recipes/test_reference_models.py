"""The owner's reference models are reused only when everything they depend on is equal."""

import json
import os

import keras
import numpy as np
import pytest

from kwm import datasets
from kwm.datasets import DataProvenance, Split, TaskDataset
from kwm.recipes import load_recipe, mnist
from kwm.recipes.reference_models import (
    ReferenceModels,
    identity_fingerprint,
    reference_identity,
    reference_panel,
    train_reference_models,
)


def _data(offset=0.0):
    rng = np.random.default_rng(0)
    x = rng.random((16, 4), dtype="float32") + offset
    y = np.arange(16) % 2
    return TaskDataset("toy", Split(x, y), Split(x, y), ("a", "b"), "image",
                       DataProvenance("toy", "memory", "", {"train": 16, "test": 16}))


def _identity(data, seed=3000, epochs=2):
    return reference_identity({"architecture": "dense"}, {"epochs": epochs}, data, seed)


class _Trainer:
    """Counts how often a model had to be trained."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        keras.utils.set_random_seed(self.calls)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])


def test_identity_names_the_data_by_content_not_by_name():
    a, b = _identity(_data()), _identity(_data(offset=1e-3))
    assert a["data"]["name"] == b["data"]["name"] == "toy"
    assert identity_fingerprint(a) != identity_fingerprint(b)
    assert identity_fingerprint(a) == identity_fingerprint(_identity(_data()))
    assert identity_fingerprint(a) != identity_fingerprint(_identity(_data(), seed=3001))
    assert identity_fingerprint(a) != identity_fingerprint(_identity(_data(), epochs=3))
    # A configuration read back from JSON (lists) names the same model as one with tuples.
    with_tuple = reference_identity({"options": {"size": (3, 3)}}, {}, _data(), 0)
    assert with_tuple == reference_identity({"options": {"size": [3, 3]}}, {}, _data(), 0)


def test_texts_are_named_by_their_content():
    def texts(*values):
        return np.array(["".join(list(v)) for v in values], dtype=object)  # new str objects

    def text_data(x):
        split = Split(x, np.arange(len(x)) % 2)
        return TaskDataset("toy_text", split, split, ("neg", "pos"), "text",
                           DataProvenance("toy_text", "memory", "", {}))

    a = _identity(text_data(texts("a fine film", "a dull film")))
    assert a == _identity(text_data(texts("a fine film", "a dull film")))
    assert a != _identity(text_data(texts("a fine film", "a dull film!")))
    assert a != _identity(text_data(texts("a fine filma", " dull film")))


def test_in_memory_store_trains_each_model_once_per_run():
    store, train = ReferenceModels(), _Trainer()
    first, record = store.get(_identity(_data()), train, log=lambda m: None)
    again, _ = store.get(_identity(_data()), train, log=lambda m: None)
    assert again is first and train.calls == 1
    assert record["source"] == "trained" and "file" not in record
    assert len(store.records) == 1


def test_a_later_run_loads_the_saved_model_exactly(tmp_path):
    data, train = _data(), _Trainer()
    model, record = ReferenceModels(tmp_path).get(_identity(data), train, log=lambda m: None)
    assert record["saved"] and os.path.isfile(record["file"])
    lines = []
    loaded, record2 = ReferenceModels(tmp_path).get(_identity(data), train, log=lines.append)
    assert train.calls == 1  # not trained again
    assert record2["source"] == "cache" and record2["file_sha256"] == record["file_sha256"]
    assert record2["trained_by"]["utc_time"]
    np.testing.assert_array_equal(loaded.predict(data.test.x, verbose=0),
                                  model.predict(data.test.x, verbose=0))
    assert any("loaded from" in line for line in lines)
    # Another seed or other data is another model.
    ReferenceModels(tmp_path).get(_identity(data, seed=3001), train, log=lambda m: None)
    ReferenceModels(tmp_path).get(_identity(_data(offset=0.5)), train, log=lambda m: None)
    assert train.calls == 3


@pytest.mark.parametrize("tamper", ["model", "identity"])
def test_a_file_that_does_not_match_its_record_is_retrained(tmp_path, tamper):
    data, train = _data(), _Trainer()
    _, record = ReferenceModels(tmp_path).get(_identity(data), train, log=lambda m: None)
    meta_path = record["file"][: -len(".keras")] + ".json"
    if tamper == "model":  # another model saved under the name
        train().save(record["file"])
    else:  # a record that claims another identity for the file
        meta = json.loads(open(meta_path).read())
        meta["identity"]["seed"] = 1
        open(meta_path, "w").write(json.dumps(meta))
    lines = []
    _, again = ReferenceModels(tmp_path).get(_identity(data), train, log=lines.append)
    assert again["source"] == "trained" and train.calls == 3 - (tamper == "identity")
    assert any("does not match its record" in line for line in lines)


def test_recipes_cache_reference_models_by_default(
    tmp_path, capsys, fresh_reference_cache
):
    from kwm.recipes.reference_models import ReferenceModels

    config = tmp_path / "screened.toml"
    config.write_text(
        '[experiment]\nname = "mnist_screened"\ndataset = "mnist"\nmethod = "baseline"\n'
        '[data]\nmax_train = 500\nmax_test = 500\n'
        '[training]\nepochs = 1\nwatermark_epochs = 1\n'
        '[watermark]\nnum_embed = 32\nnum_verify = 40\n'
        '[verification]\nwdr_draws = 20\nreference_models = 3\n'
    )
    common = ["--config", str(config), "--seed", "0", "--data-source", "embedded",
              "--verbose", "0", "--output"]
    assert mnist.main(common + [str(tmp_path / "a")]) == 0
    assert capsys.readouterr().out.count("training reference model") == 3
    cached = os.listdir(ReferenceModels.default_directory())
    assert len([f for f in cached if f.endswith(".keras")]) == 3
    assert mnist.main(common + [str(tmp_path / "b")]) == 0
    assert "training reference model" not in capsys.readouterr().out
    first, second = (json.loads((tmp_path / run / "results.json").read_text()) for run in "ab")
    assert [r["source"] for r in first["reference_models"]] == ["trained"] * 3
    assert [r["source"] for r in second["reference_models"]] == ["cache"] * 3
    assert [r["file_sha256"] for r in first["reference_models"]] == [
        r["file_sha256"] for r in second["reference_models"]
    ]
    # The same models give the same check, and the report says where they came from.
    check1, check2 = (r["seeds"][0]["trigger_check"] for r in (first, second))
    assert check1["effects"] == check2["effects"]
    assert all("loaded from" in name for name in check2["models"])
    assert (tmp_path / "b" / "report.md").read_text().count("loaded from") >= 3
    assert mnist.main(common + [str(tmp_path / "c"), "--no-reference-cache"]) == 0
    assert capsys.readouterr().out.count("training reference model") == 3


def test_the_ewe_panel_trains_every_family_every_way():
    panel = reference_panel(load_recipe("mnist_ewe"))
    families = ["ewe_cnn", "mlp", "lenet", "bn_cnn", "elu_cnn"]
    assert [(m["architecture"], t.name) for m, t in panel] == [
        (family, training)
        for training in ("plain", "sgd_label_smoothing", "distilled")
        for family in families
    ]
    # Recipes that do not ask for other trainings keep the recipe's own.
    assert {t.name for _, t in reference_panel(load_recipe("mnist_baseline"))} == {"plain"}


@pytest.mark.parametrize(
    "trainings, message",
    [
        (["plain", "adamw"], r"Unknown reference training.*Received: name='adamw'"),
        (["distilled", "plain"], r"cannot be distilled itself.*Received: reference_trainings="),
        ([], r"at least one entry.*Received: reference_trainings=\[\]"),
    ],
)
def test_a_panel_refuses_bad_trainings(trainings, message):
    config = load_recipe("mnist_ewe")
    config["verification"]["reference_trainings"] = trainings
    with pytest.raises(ValueError, match=message):
        reference_panel(config)


def test_reference_models_are_trained_as_their_training_says(tmp_path):
    config = load_recipe("mnist_baseline", quick=True, overrides={
        "training": {"epochs": 2, "watermark_epochs": 0},
        "verification": {
            "reference_models": 6,
            "reference_architectures": ["mlp", "lenet"],
            "reference_trainings": ["plain", "sgd_label_smoothing", "distilled"],
        },
    })
    data = datasets.subsample(datasets.load("mnist", sources=("embedded",)), 600, 300)
    lines = []
    models, names = train_reference_models(config, data, ReferenceModels(tmp_path), 0, lines.append)
    assert [n.split()[0] for n in names] == ["mlp", "lenet"] * 3
    assert [n.endswith("watermark") for n in names] == [True, True, False, False, False, False]
    assert "sgd_label_smoothing" in names[2] and "distilled" in names[5]
    assert sum("training reference model" in line for line in lines) == 6  # teachers: in the panel
    sgd = models[3]
    assert isinstance(sgd.optimizer, keras.optimizers.SGD) and sgd.optimizer.momentum == 0.9
    assert sgd.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    # Every model learned the task, and says how well.
    accuracies = [float(line.split()[-1][:-1]) for line in lines if "test accuracy" in line]
    assert len(accuracies) == 6 and min(accuracies) > 30
    # A distilled model names its teacher, the model of the previous family trained plainly.
    metas = sorted(
        (json.loads(open(os.path.join(tmp_path, f)).read()) for f in os.listdir(tmp_path)
         if f.endswith(".json")),
        key=lambda meta: meta["identity"]["seed"],
    )
    fingerprints = [identity_fingerprint(meta["identity"]) for meta in metas]
    assert [m["identity"]["training"].get("teacher") for m in metas] == [
        None, None, None, None, fingerprints[1], fingerprints[0]
    ]
    teacher, student = models[0].predict(data.test.x, verbose=0), models[5].predict(
        data.test.x, verbose=0)
    assert np.mean(teacher.argmax(1) == student.argmax(1)) > 0.5
    # A later run loads all six.
    lines = []
    train_reference_models(config, data, ReferenceModels(tmp_path), 0, lines.append)
    assert not any("training reference model" in line for line in lines)


def test_other_trainings_are_refused_on_text_before_training():
    config = load_recipe("imdb_feature_sharing", quick=True)
    config["verification"]["reference_trainings"] = ["plain", "distilled"]
    split = Split(np.array(["a fine film", "a dull film"], dtype=object), np.array([1, 0]))
    data = TaskDataset("toy_text", split, split, ("neg", "pos"), "text",
                       DataProvenance("toy_text", "memory", "", {}))
    with pytest.raises(ValueError, match=r"for image tasks. Received: reference_trainings="
                                         r"\['distilled'\] on toy_text \(text\)"):
        train_reference_models(config, data, ReferenceModels(), 0, print)


def test_reference_models_may_train_on_a_fixed_subset():
    from kwm.recipes.reference_models import reference_data

    config = load_recipe("fashion_mnist_ewe")
    assert config["verification"]["reference_max_train"] == 10000
    data = datasets.load("mnist", sources=("embedded",))
    config["verification"]["reference_max_train"] = 500
    subset, again = reference_data(config, data), reference_data(config, data)
    assert 495 <= len(subset.train) <= 505 and len(subset.test) == len(data.test)  # about 500
    np.testing.assert_array_equal(subset.train.x, again.train.x)  # the same draw every run
    counts = np.bincount(subset.train.y, minlength=10)
    assert counts.min() >= 40  # every class in proportion
    store = ReferenceModels()  # a run draws the subset once, and hashes it once
    assert store.training_data(config, data) is store.training_data(config, data)
    np.testing.assert_array_equal(store.training_data(config, data).train.y, subset.train.y)
    config["verification"]["reference_max_train"] = 0
    assert reference_data(config, data) is data
    config["verification"]["reference_max_train"] = -1
    with pytest.raises(ValueError, match=r"Received: reference_max_train=-1"):
        reference_data(config, data)


def _mnist_panel_config(reference_datasets):
    # The reference models train `plain_epochs` (1), not as long as the victim (2 + 1).
    config = load_recipe("mnist_baseline", overrides={
        "training": {"epochs": 2, "watermark_epochs": 1, "plain_epochs": 1},
        "verification": {"reference_models": 2, "reference_architectures": ["mlp"],
                         "reference_datasets": reference_datasets},
    })
    return config


def test_reference_models_also_train_on_other_datasets_of_the_task():
    import dataclasses

    mnist_data = datasets.load("mnist", sources=("embedded",))
    data = datasets.subsample(mnist_data, 300, 200, seed=1)
    other = dataclasses.replace(datasets.subsample(mnist_data, 300, 200, seed=2), name="digits")
    config = _mnist_panel_config(["", "digits"])
    lines = []
    store = ReferenceModels(datasets={"digits": other})
    models, names = train_reference_models(config, data, store, 0, lines.append)
    assert len(models) == 4
    assert [line.split(",")[2].strip() for line in lines if "training reference" in line] == [
        "mnist", "mnist", "digits", "digits"
    ]
    assert [r["seed"] for r in store.records] == [3000, 3001, 3100, 3101]
    assert names[2].startswith("mlp seed 3100, 1 epochs on digits (another dataset of the task)")
    assert "on the task without" in names[0]
    # Each model is named by the data it trained on, and says how it does on the task.
    assert "task_test_accuracy" in store.records[2] and "task_test_accuracy" not in store.records[0]
    accuracies = [float(line.split()[-1][:-1]) for line in lines if "test accuracy" in line]
    assert len(accuracies) == 4 and min(accuracies) > 50


def test_reference_datasets_are_checked():
    data = _data()
    store = ReferenceModels()
    for bad in ([], ["", "toy"], ["", ""]):
        with pytest.raises(ValueError, match=r"each once .*Received: reference_datasets="):
            train_reference_models(_mnist_panel_config(bad), data, store, 0, print)
    with pytest.raises(ValueError, match=r"'other', which was not loaded.*Received: "
                                         r"reference_datasets=\['', 'other'\]"):
        train_reference_models(_mnist_panel_config(["", "other"]), data, store, 0, print)
    clothes = TaskDataset("other", data.train, data.test, ("c", "d"), "image",
                          DataProvenance("other", "memory", "", {}))
    with pytest.raises(ValueError, match=r"must have its modality and classes \(image, \['a', "
                                         r"'b'\]\). Received: other \(image, \['c', 'd'\]\)"):
        train_reference_models(_mnist_panel_config(["", "other"]), data,
                               ReferenceModels(datasets={"other": clothes}), 0, print)


def test_recipes_load_the_other_datasets_their_reference_models_train_on(monkeypatch):
    from kwm.recipes.data import load_other_datasets

    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    config = load_recipe("imdb_feature_sharing", overrides={"data": {"sources": ["embedded"]}})
    assert config["verification"]["reference_datasets"] == ["", "sst2"]
    imdb = datasets.subsample(datasets.load("imdb", sources=("embedded",)), 1000, 500)
    others = load_other_datasets(config, imdb)
    assert list(others) == ["sst2"] and len(others["sst2"].train) == 1000  # cut as the task is
    assert others["sst2"].provenance.source == "embedded"
    assert load_other_datasets(load_recipe("mnist_baseline"), imdb) == {}
    config["verification"]["reference_datasets"] = [""]  # the suspects' data alone
    assert config["verification"]["independent_datasets"] == ["sst2"]
    assert list(load_other_datasets(config, imdb)) == ["sst2"]
    # A test split kept whole is cut to the task's own test size (it only scores an innocent).
    config["data"]["max_test"] = 0
    assert len(load_other_datasets(config, imdb)["sst2"].test) == 500
    config["verification"]["reference_datasets"] = ["", "mnist"]
    with pytest.raises(ValueError, match=r"Received: mnist \(image"):
        load_other_datasets(config, imdb)
    config["verification"]["reference_datasets"] = [""]
    for bad in (["imdb"], ["sst2", "sst2"], [""]):
        config["verification"]["independent_datasets"] = bad
        with pytest.raises(ValueError, match=r"other datasets of the task, each once .*"
                                             r"Received: independent_datasets="):
            load_other_datasets(config, imdb)


def test_a_recipe_refuses_independent_datasets_it_was_not_given(tmp_path):
    from kwm.recipes.pipeline import run_seed

    config = load_recipe("imdb_feature_sharing", quick=True)
    imdb = datasets.subsample(datasets.load("imdb", sources=("embedded",)), 40, 40)
    with pytest.raises(ValueError, match=r"train on \['sst2'\], which were not loaded.*"
                                         r"Received: independent_datasets=\['sst2'\]"):
        run_seed(config, imdb, None, 0, str(tmp_path), verbose=0)
    assert not os.listdir(tmp_path)  # refused before any work


def test_reference_accuracy_is_not_fooled_by_a_split_ordered_by_class():
    from kwm.recipes.reference_models import reference_accuracy

    texts = np.array([f"review {i}" for i in range(1000)], dtype=object)
    split = Split(texts, np.repeat([0, 1], 500))  # ordered by label, as IMDB's test split is
    data = TaskDataset("toy_text", split, split, ("neg", "pos"), "text",
                       DataProvenance("toy_text", "memory", "", {}))

    class AlwaysNegative:
        def predict(self, x, verbose=0):
            return np.tile([[0.9, 0.1]], (len(x), 1))

    # 200 reviews drawn from both classes, not the first 200 (all negative: 100%).
    assert 0.4 < reference_accuracy(AlwaysNegative(), data) < 0.6
    assert reference_accuracy(AlwaysNegative(), data, max_examples=1000) == 0.5
