"""EWE calibration sweep: one recipe with overrides, several seeds, one JSON line per seed.

    KWM_DATA_DIR=../shared/data python benchmarks/ewe_sweep.py NAME SEEDS OVERRIDES [RECIPE]

    e.g. python benchmarks/ewe_sweep.py w0.25 0,1 '{"ewe": {"snnl_weight": 0.25}}' mnist_ewe

Lighter than a recipe run (nothing exported, the thief queries the victim in memory, the
independent model of each seed is cached in `--cache`), for choosing hyperparameters; the figures
that count come from the recipe runs. Prints per seed: victim, stolen and independent task
accuracy, watermark accuracy on the held-out verification watermarks (and the stolen copy's on
the embedding watermarks), and the rate at which the stolen and independent models send the
trigger-free references to the target. Set THREADS to limit TensorFlow's intra-op threads
(e.g. THREADS=1 to run two sweeps side by side on 2 cores).
"""

import json
import os
import sys
import time

import tensorflow as tf

if os.environ.get("THREADS"):
    tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["THREADS"]))
    tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kwm.attacks import extract_model  # noqa: E402
from kwm.recipes import config as recipe_config  # noqa: E402
from kwm.recipes import pipeline  # noqa: E402
from kwm.recipes.data import load_data  # noqa: E402
from kwm.recipes.methods import get_method  # noqa: E402
from kwm.recipes.models import build_model, total_epochs, train_plain  # noqa: E402

CACHE = os.environ.get("KWM_SWEEP_CACHE", os.path.join("benchmarks", "results", "sweep_cache"))


def _rate(model, x, target):
    if x is None:
        return None
    return float(np.mean(model.predict(x, verbose=0, batch_size=256).argmax(-1) == target))


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    name, seeds, overrides = argv[0], [int(s) for s in argv[1].split(",")], json.loads(argv[2])
    recipe = argv[3] if len(argv) > 3 else "mnist_ewe"
    config = recipe_config.load_recipe(recipe, overrides=overrides)
    data, source = load_data(config, data_dir=os.environ.get("KWM_DATA_DIR"), download=False)
    os.makedirs(CACHE, exist_ok=True)

    def accuracy(model):
        return float(np.mean(model.predict(data.test.x, verbose=0, batch_size=512).argmax(-1) == data.test.y))

    for seed in seeds:
        start = time.perf_counter()
        victim, key, _ = get_method(config["experiment"]["method"])(data, source, config, seed, 0)
        trained = time.perf_counter()
        extraction = config["extraction"]
        stolen = extract_model(
            victim, data.train.x, build_model(config, data, seed + pipeline.STOLEN_SEED_OFFSET),
            labels=extraction["labels"], epochs=extraction["epochs"] or total_epochs(config),
            batch_size=config["training"]["batch_size"], learning_rate=config["training"]["learning_rate"],
            seed=seed + pipeline.STOLEN_SEED_OFFSET, verbose=0,
        ).model
        extracted = time.perf_counter()
        path = os.path.join(
            CACHE, f"independent_{data.name}_{len(data.train.x)}_{total_epochs(config)}_{seed}.keras"
        )
        if os.path.exists(path):
            independent = keras.models.load_model(path)
        else:
            independent = train_plain(
                config, data, seed + pipeline.INDEPENDENT_SEED_OFFSET, verbose=0
            )
            independent.save(path)
        target = key.target_class
        print(json.dumps({
            "name": name, "recipe": recipe, "overrides": overrides, "seed": seed,
            "pair": [key.source_class, target], "key": key.short_fingerprint,
            "victim_acc": accuracy(victim), "victim_wm": _rate(victim, key.verify_inputs, target),
            "stolen_acc": accuracy(stolen), "stolen_wm": _rate(stolen, key.verify_inputs, target),
            "stolen_wm_embed": _rate(stolen, key.embed_inputs, target),
            "stolen_reference": _rate(stolen, key.reference_inputs, target),
            "independent_acc": accuracy(independent),
            "independent_wm": _rate(independent, key.verify_inputs, target),
            "independent_reference": _rate(independent, key.reference_inputs, target),
            "victim_s": round(trained - start), "extraction_s": round(extracted - trained),
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
