"""Entanglement of watermark and target-class representations as the SNNL weight grows (EWE Fig. 5).

    KWM_DATA_DIR=../shared/data python benchmarks/ewe_cka.py [--recipe mnist_ewe]
        [--weights 0 0.0156 0.0625 0.25 1] [--seeds 0 1] [--temperature T]
        [--output benchmarks/results/ewe_cka]

For each weight `w` of Eq. 2 (w = 0 is the baseline: the same schedule with cross-entropy
only) and seed, trains a victim with the recipe's EWE settings and measures, per entangled
layer, on the key's held-out watermarks and as many target-class test inputs:

- linear CKA between the two sets' representations, rows paired in order (Fig. 5's measure; CKA
  is defined for two representations of the *same* examples, so with different examples paired
  arbitrarily it stays near its floor - reported as measured);
- the SNNL between the two groups at the recipe's initial temperature (Eq. 1, what EWE
  maximises; log 2 = fully mixed for two equal groups under a flat kernel, 0 = separated);
- the cosine similarity of the two groups' mean representations.

Writes `cka.json` and `cka.png`.
"""

import argparse
import json
import os

import numpy as np

from kwm.analysis import layer_outputs, linear_cka
from kwm.losses import soft_nearest_neighbour_loss
from kwm.recipes import config as recipe_config
from kwm.recipes.data import load_data
from kwm.recipes.methods import get_method
from kwm.reports.plots import pyplot


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", default="mnist_ewe")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.0156, 0.0625, 0.25, 1.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=0, help="override training epochs")
    parser.add_argument(
        "--temperature", type=float, default=0.0,
        help="override the recipe's initial SNNL temperature (then held fixed)",
    )
    parser.add_argument("--output", default="benchmarks/results/ewe_cka")
    args = parser.parse_args()
    overrides = {}
    if args.epochs:
        overrides["training"] = {"epochs": args.epochs, "watermark_epochs": args.epochs}
    ewe_overrides = {}
    if args.temperature:
        ewe_overrides = {"temperatures": [args.temperature], "temperature_learning_rate": 0.0}
        overrides["ewe"] = ewe_overrides
    base = recipe_config.load_recipe(args.recipe, overrides=overrides)
    data, source = load_data(base, data_dir=os.environ.get("KWM_DATA_DIR"))
    layers = base["ewe"]["layers"]
    rows = []
    for weight in args.weights:
        config = recipe_config.load_recipe(
            args.recipe, overrides={**overrides, "ewe": {**ewe_overrides, "snnl_weight": weight}}
        )
        for seed in args.seeds:
            victim, key, _ = get_method("ewe")(data, source, config, seed, 0)
            marks = np.asarray(key.verify_inputs)
            target = data.test.x[data.test.indices_of(key.target_class)][: len(marks)]
            marks = marks[: len(target)]
            temperature = float(np.ravel(config["ewe"]["temperatures"])[0])
            groups = np.array([1] * len(marks) + [0] * len(target))
            cka, snnl, mean_cosine = {}, {}, {}
            for layer in layers:
                h_marks = layer_outputs(victim, layer, marks).reshape(len(marks), -1)
                h_target = layer_outputs(victim, layer, target).reshape(len(target), -1)
                cka[layer] = linear_cka(h_marks, h_target)
                both = np.concatenate([h_marks, h_target]).astype("float32")
                snnl[layer] = float(np.mean(soft_nearest_neighbour_loss(
                    groups, both, temperature, config["ewe"]["distance"])))
                a, b = h_marks.mean(axis=0), h_target.mean(axis=0)
                mean_cosine[layer] = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
            rows.append({"snnl_weight": weight, "seed": seed, "key": key.short_fingerprint,
                         "cka": cka, "snnl": snnl, "mean_cosine": mean_cosine})
            print(json.dumps(rows[-1]), flush=True)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "cka.json"), "w") as f:
        json.dump({"recipe": args.recipe, "data": data.describe(), "overrides": overrides,
                   "rows": rows}, f, indent=1)
    plt = pyplot()
    measures = [("cka", "linear CKA"), ("snnl", "SNNL (Eq. 1)"), ("mean_cosine", "cosine of group means")]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.5))
    for ax, (measure, label) in zip(axes, measures):
        for layer in layers:
            values = [[r[measure][layer] for r in rows if r["snnl_weight"] == w] for w in args.weights]
            ax.errorbar(range(len(args.weights)), [np.mean(v) for v in values],
                        yerr=[np.std(v) for v in values], marker="o", capsize=3, label=layer)
        ax.set_xticks(range(len(args.weights)), [f"{w:g}" for w in args.weights])
        ax.set_xlabel("SNNL weight w (Eq. 2; 0 = baseline)")
        ax.set_ylabel(f"{label}, watermarks vs target class", fontsize=8)
        ax.legend(fontsize=7)
    temperature = float(np.ravel(base["ewe"]["temperatures"])[0])
    fig.suptitle(f"{args.recipe}, T = {temperature:g}: mean ± std over seeds {args.seeds}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "cka.png"), dpi=120)


if __name__ == "__main__":
    main()
