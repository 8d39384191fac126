"""Independent models kwm never trained, and whether any test claims them.

    python benchmarks/independent_population.py train --dataset fashion_mnist --output DIR
    python benchmarks/independent_population.py verify --population DIR \
        --key NAME=seed-0/watermark_key.json [--key ...] --temperatures 1 4 --output FILE.json

`train` builds a population of models on the task *without* any watermark, with architectures and
training code of this script's own (nothing from `kwm.architectures` or `kwm.training`): a
two-layer MLP, a LeNet-style CNN (tanh, average pooling), a batch-norm CNN with global average
pooling, and a dropout CNN; each trained by one of several recipes (Adam, SGD with momentum,
RMSprop; label smoothing; a custom `tf.GradientTape` loop; batch sizes 32-256; half the training
split), 3 seeds per architecture. `--models N` trains a larger calibration population instead:
N models over seven architectures (also a wide CNN, a deeper ELU CNN with global pooling, a CNN of
the EWE CNN's shape) and eight training recipes (also a quarter of the data, label smoothing 0.3,
a softmax at temperature 4, students distilled from an independent teacher of the population at
temperature 1 or 4). The models are saved as `.keras` files beside a `population.json` manifest
with their test accuracy.

`verify` verifies every model of the population against every key given, at each temperature,
with all of kwm's tests (`kwm.verify_ownership`, the settings recorded in the key), and counts how
many models each test would claim (H0 rejected at 0.05). An owner's key must claim none of them.
"""

import argparse
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kwm import datasets
from kwm.verification import verify_ownership
from kwm.watermarks import WatermarkKey


def mlp(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = layers.Flatten()(inputs)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def lenet_tanh(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(6, 5, padding="same", activation="tanh")(inputs)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def bn_cnn(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(128, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def dropout_cnn(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def wide_cnn(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(64, 5, strides=2, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(128, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def deep_cnn(input_shape, num_classes):
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(16, 3, padding="same", activation="elu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="elu")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="elu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="elu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(64, activation="elu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def small_convnet(input_shape, num_classes):
    """The shape of the EWE CNN (conv 32@5x5, conv 64@3x3, dense 128), written here."""
    inputs = keras.Input(input_shape)
    x = layers.Conv2D(32, 5, activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


ARCHITECTURES = {"mlp": mlp, "lenet_tanh": lenet_tanh, "bn_cnn": bn_cnn, "dropout_cnn": dropout_cnn,
                 "wide_cnn": wide_cnn, "deep_cnn": deep_cnn, "small_convnet": small_convnet}
ORIGINAL_ARCHITECTURES = ("mlp", "lenet_tanh", "bn_cnn", "dropout_cnn")

# One training recipe per seed index; each architecture gets all three.
RECIPES = (
    {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128, "epochs": 4,
     "label_smoothing": 0.0, "loop": "fit", "data_fraction": 1.0},
    {"optimizer": "sgd", "learning_rate": 0.05, "batch_size": 64, "epochs": 4,
     "label_smoothing": 0.1, "loop": "fit", "data_fraction": 1.0},
    {"optimizer": "rmsprop", "learning_rate": 5e-4, "batch_size": 256, "epochs": 5,
     "label_smoothing": 0.0, "loop": "gradient_tape", "data_fraction": 0.5},
)
# The larger calibration population (`--models N`) adds these: a quarter of the data, strong
# label smoothing, a softmax at temperature 4 in training, and students distilled from an
# independent teacher of the population (its probabilities at temperature 1 or 4).
MORE_RECIPES = (
    {"optimizer": "adam", "learning_rate": 2e-3, "batch_size": 32, "epochs": 3,
     "label_smoothing": 0.0, "loop": "fit", "data_fraction": 0.25},
    {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128, "epochs": 4,
     "label_smoothing": 0.3, "loop": "fit", "data_fraction": 1.0},
    {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128, "epochs": 4,
     "label_smoothing": 0.0, "loop": "fit", "data_fraction": 1.0, "train_temperature": 4.0},
    {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 128, "epochs": 4,
     "label_smoothing": 0.0, "loop": "distill", "data_fraction": 1.0, "teacher_temperature": 1.0},
    {"optimizer": "sgd", "learning_rate": 0.05, "batch_size": 64, "epochs": 4,
     "label_smoothing": 0.0, "loop": "distill", "data_fraction": 1.0, "teacher_temperature": 4.0},
)


def _optimizer(recipe):
    if recipe["optimizer"] == "sgd":
        return keras.optimizers.SGD(recipe["learning_rate"], momentum=0.9, nesterov=True)
    if recipe["optimizer"] == "rmsprop":
        return keras.optimizers.RMSprop(recipe["learning_rate"])
    return keras.optimizers.Adam(recipe["learning_rate"])


def _tempered(probabilities, temperature):
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype("float32")


def _train(model, x, y, num_classes, recipe, seed, teacher=None):
    rng = np.random.default_rng(seed)
    if recipe["data_fraction"] < 1:
        subset = rng.choice(len(x), int(recipe["data_fraction"] * len(x)), replace=False)
        x, y = x[subset], y[subset]
    targets = keras.utils.to_categorical(y, num_classes)
    if recipe["loop"] == "distill":  # the teacher's answers, never the labels
        targets = _tempered(teacher.predict(x, batch_size=1024, verbose=0),
                            recipe["teacher_temperature"])
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe["label_smoothing"])
    optimizer = _optimizer(recipe)
    if recipe["loop"] in ("fit", "distill"):
        trained = model
        if recipe.get("train_temperature"):  # a new head answering softmax(z / T)
            features = model.layers[-1].input
            z = layers.Dense(num_classes)(features)
            trained = keras.Model(model.input, layers.Softmax()(z / recipe["train_temperature"]))
        trained.compile(optimizer=optimizer, loss=loss)
        trained.fit(x, targets, batch_size=recipe["batch_size"], epochs=recipe["epochs"],
                    shuffle=True, verbose=0)
        return trained
    # A hand-written loop, as a thief or third party without Keras's `fit` would write it.
    variables = model.trainable_variables

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            value = loss(yb, model(xb, training=True))
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))

    for _ in range(recipe["epochs"]):
        order = rng.permutation(len(x))
        for start in range(0, len(x), recipe["batch_size"]):
            batch = order[start:start + recipe["batch_size"]]
            step(tf.constant(x[batch]), tf.constant(targets[batch]))
    return model


def population_plan(num_models=None, seeds_per_architecture=3):
    """(architecture, seed, recipe) of each model: the original 12, or `num_models` over all."""
    if num_models is None:
        return [
            (arch, 7000 + 100 * ARCHITECTURES_INDEX[arch] + i, RECIPES[i % len(RECIPES)])
            for arch in ORIGINAL_ARCHITECTURES for i in range(seeds_per_architecture)
        ]
    recipes = RECIPES + MORE_RECIPES
    names = list(ARCHITECTURES)
    plan = []
    for i in range(num_models):
        arch = names[i % len(names)]
        recipe = recipes[(i % len(names) + i // len(names)) % len(recipes)]
        plan.append((arch, 8000 + i, recipe))
    return plan


ARCHITECTURES_INDEX = {name: i for i, name in enumerate(ARCHITECTURES)}


def train_population(dataset, output, data_dir=None, seeds_per_architecture=3, num_models=None,
                     max_train=0):
    data = datasets.load(dataset, data_dir=data_dir, sources=("local",))
    # A subset of its own (seed 8000: no recipe draws it), every class in proportion.
    data = datasets.subsample(data, max_train=max_train, seed=8000)
    os.makedirs(output, exist_ok=True)
    manifest_path = os.path.join(output, "population.json")
    manifest = {"dataset": data.name, "data": data.describe(), "models": []}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest["data"] != data.describe():
            raise ValueError(
                "The population in this folder was trained on other data; train into a new "
                f"folder. Received: {data.describe()!r}, folder's {manifest['data']!r}"
            )
    done = {m["file"] for m in manifest["models"]}
    teacher = None
    for arch, seed, recipe in population_plan(num_models, seeds_per_architecture):
        file = f"{arch}_seed{seed}.keras"
        if file in done:
            continue
        if recipe["loop"] == "distill" and teacher is None:
            # The first model trained on labels teaches the distilled ones.
            first = next(m for m in manifest["models"] if m["training"]["loop"] != "distill")
            teacher = keras.saving.load_model(os.path.join(output, first["file"]))
            teacher_file = first["file"]
        keras.utils.set_random_seed(seed)
        model = ARCHITECTURES[arch](data.input_shape, data.num_classes)
        start = time.perf_counter()
        model = _train(model, data.train.x, data.train.y, data.num_classes, recipe, seed, teacher)
        accuracy = float(np.mean(
            model.predict(data.test.x, batch_size=1024, verbose=0).argmax(1) == data.test.y
        ))
        model.save(os.path.join(output, file))
        entry = {
            "file": file, "architecture": arch, "seed": seed, "training": recipe,
            "test_accuracy": accuracy, "train_s": round(time.perf_counter() - start, 1),
        }
        if recipe["loop"] == "distill":
            entry["teacher"] = teacher_file
        manifest["models"].append(entry)
        print(f"{file}: test accuracy {100 * accuracy:.2f}%", flush=True)
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
    return manifest


def verify_population(population, keys, temperatures):
    with open(os.path.join(population, "population.json")) as f:
        manifest = json.load(f)
    models = [
        (m, keras.saving.load_model(os.path.join(population, m["file"])))
        for m in manifest["models"]
    ]
    rows = []
    for key_name, key_path in keys:
        key = WatermarkKey.load(key_path)
        fingerprint = key.fingerprint  # one hash per key, not one per verified model
        for temperature in temperatures:
            for meta, model in models:
                report = verify_ownership(
                    model, key, name=meta["file"], temperature=temperature, wdr_draws=20
                )
                rows.append({
                    "key": key_name,
                    "key_fingerprint": fingerprint,
                    "temperature": temperature,
                    "model": meta["file"],
                    "architecture": meta["architecture"],
                    "watermark_accuracy": report.watermark_accuracy,
                    "reference_rate": report.reference_rate,
                    "rejected": {t: v.claimed for t, v in report.verdicts.items()},
                    "p_values": {t: v.p_value for t, v in report.verdicts.items()},
                    "t_test_margin": report.verdicts["t_test"].details.get("margin"),
                    "claimed": report.claimed,
                })
    return {"population": manifest, "rows": rows}


def load_results(path):
    with open(path) as f:
        return json.load(f)


def merge_results(old, new):
    """`new`'s rows plus those of `old` for keys `new` does not verify; same population only."""
    def files(result):
        return sorted(m["file"] for m in result["population"]["models"])

    if files(old) != files(new) or old["population"]["dataset"] != new["population"]["dataset"]:
        raise ValueError(
            "Cannot merge results of different populations. Received: "
            f"{old['population']['dataset']} {files(old)} and "
            f"{new['population']['dataset']} {files(new)}"
        )
    keys = {row["key"] for row in new["rows"]}
    kept = [row for row in old["rows"] if row["key"] not in keys]
    return {"population": new["population"], "rows": kept + new["rows"]}


def summary_table(result):
    lines = [
        "| key | T | models | T-test H0 rejected | Wilcoxon H0 rejected | claimed | "
        "smallest p: T-test, Wilcoxon | largest watermark minus reference rate (model) | "
        "T-test margin |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for row in result["rows"]:
        groups.setdefault((row["key"], row["temperature"]), []).append(row)
    for (key, temperature), rows in groups.items():
        effects = [
            (r["watermark_accuracy"] - (r["reference_rate"] or 0.0), r["model"]) for r in rows
        ]
        effect, model = max(effects)
        lines.append(
            f"| {key} | {temperature:g} | {len(rows)} | "
            f"{sum(r['rejected']['t_test'] for r in rows)} | "
            f"{sum(r['rejected']['wilcoxon'] for r in rows)} | "
            f"{sum(r['claimed'] for r in rows)} | "
            f"{min(r['p_values']['t_test'] for r in rows):.3g}, "
            f"{min(r['p_values']['wilcoxon'] for r in rows):.3g} | "
            f"{100 * effect:+.1f} points ({model}) | "
            f"{rows[0]['t_test_margin']:.3f} |"
        )
    return "\n".join(lines)


def write_outputs(result, output):
    """Writes `result` as JSON to `output` and a Markdown table beside it; returns the table."""
    table = summary_table(result)
    with open(output, "w") as f:
        json.dump(result, f, separators=(",", ":"))
    with open(os.path.splitext(output)[0] + ".md", "w") as f:
        f.write(
            f"# Independent population against the recipes' keys\n\n"
            f"{len(result['population']['models'])} models on {result['population']['dataset']}"
            " trained by `benchmarks/independent_population.py` (architectures and training code "
            "of its own); H0 rejected at 0.05. A key must claim none.\n\n"
            + table + "\n\n| model | test accuracy |\n|---|---|\n"
            + "\n".join(
                f"| {m['file']} | {100 * m['test_accuracy']:.2f}% |"
                for m in result["population"]["models"]
            ) + "\n"
        )
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train the population")
    train.add_argument("--dataset", required=True, choices=("mnist", "fashion_mnist"))
    train.add_argument("--data-dir", default=os.environ.get("KWM_DATA_DIR"))
    train.add_argument("--output", required=True)
    train.add_argument("--seeds-per-architecture", type=int, default=3)
    train.add_argument(
        "--models", type=int, default=None,
        help="a calibration population of this many models over all architectures and "
        "training recipes (default: the original 12)",
    )
    train.add_argument(
        "--max-train", type=int, default=0, metavar="N",
        help="train on about N training examples, every class in proportion (0: all)",
    )
    verify = commands.add_parser("verify", help="verify the population against keys")
    verify.add_argument("--population", required=True)
    verify.add_argument("--key", action="append", required=True, help="NAME=PATH of a key file")
    verify.add_argument("--temperatures", type=float, nargs="+", default=[1.0])
    verify.add_argument("--output", required=True, help="JSON file; a .md table beside it")
    verify.add_argument(
        "--merge", action="store_true",
        help="keep the rows of other keys already in --output (same population); rows of the "
        "keys given here are replaced",
    )
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.max_train < 0:
            parser.error(f"--max-train must be >= 0. Received: --max-train={args.max_train}")
        train_population(args.dataset, args.output, args.data_dir, args.seeds_per_architecture,
                         args.models, args.max_train)
        return 0
    keys = []
    for item in args.key:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--key takes NAME=PATH. Received: {item!r}")
        keys.append((name, path))
    result = verify_population(args.population, keys, args.temperatures)
    if args.merge and os.path.exists(args.output):
        result = merge_results(load_results(args.output), result)
    print(write_outputs(result, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
