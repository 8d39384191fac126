"""Neural Cleanse on the watermarked victims of recipe runs (EWE section 5.4: 1.6 for EWE, 31.6 for the baseline).

    KWM_DATA_DIR=../shared/data python benchmarks/neural_cleanse_victims.py \
        benchmarks/results/attacks/mnist_baseline benchmarks/results/attacks/mnist_ewe ... \
        --output benchmarks/results/attacks/neural_cleanse_victims.json

`--attacks neural_cleanse` in a recipe runs Neural Cleanse on the *stolen* copy; the EWE paper
runs it on the *watermarked* models. This loads each seed's served victim (`seed-N/
victim_savedmodel`, kept beside the report by the recipe) as a Keras layer, reverse-engineers a
trigger per class on 512 of the task's training images, and prints the anomaly index, whether it
flags the model (> 2) and whether the suspected class is the key's target. `--adaptive` follows
Wang et al.'s search (the L1 weight adapted so that each class's trigger is the smallest that
reaches `--success-threshold`) instead of a fixed weight. `--source-inputs` searches on the key's
source-class images only: Neural Cleanse looks for a trigger that sends *every* class to the
target, while the baseline's trigger sends only its source class there; given the source (which a
real defender does not know), the search asks whether the watermark stands out among the triggers
from that class.
"""

import argparse
import json
import os

import keras
import numpy as np

from kwm import attacks, datasets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="recipe output folders")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--l1", type=float, default=0.01)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument(
        "--adaptive", action="store_true",
        help="Wang et al.'s schedule of the L1 weight (from 0, x1.5 / x1.5^-1.5); --l1 is its start",
    )
    parser.add_argument("--success-threshold", type=float, default=0.99)
    parser.add_argument(
        "--source-inputs", action="store_true",
        help="search on the key's source-class images only (an oracle for source-specific triggers)",
    )
    parser.add_argument("--output", help="JSON file for the results")
    args = parser.parse_args(argv)
    rows = []
    for run in args.runs:
        with open(os.path.join(run, "results.json")) as f:
            results = json.load(f)
        data = datasets.load(results["config"]["experiment"]["dataset"], sources=("local",))
        for seed in results["seeds"]:
            pool = data.train.x
            if args.source_inputs:
                pool = pool[data.train.y == seed["source_class"]]
            x = pool[np.random.default_rng(0).choice(len(pool), min(args.examples, len(pool)), replace=False)]
            path = os.path.join(run, f"seed-{seed['seed']}", "victim_savedmodel")
            victim = keras.Sequential(
                [keras.Input(data.input_shape), keras.layers.TFSMLayer(path, call_endpoint="serve")]
            )
            # From source-class images, that class needs no trigger: leave it out of the test.
            classes = [c for c in range(data.num_classes) if not args.source_inputs or c != seed["source_class"]]
            found = attacks.neural_cleanse(
                victim, x, classes=classes, steps=args.steps, l1_weight=args.l1, seed=seed["seed"],
                adaptive=args.adaptive, success_threshold=args.success_threshold,
            )
            row = {
                "run": os.path.basename(os.path.normpath(run)),
                "method": results["config"]["experiment"]["method"],
                "seed": seed["seed"],
                "target_class": seed["target_class"],
                **found.to_dict(),
            }
            row["suspects_the_target"] = row["suspected_class"] == seed["target_class"]
            rows.append(row)
            print(
                f"{row['run']} seed {row['seed']}: anomaly index {row['anomaly_index']:.2f} "
                f"({'flagged' if row['flagged'] else 'not flagged'}), suspected class "
                f"{row['suspected_class']} (target {row['target_class']})",
                flush=True,
            )
    for run in dict.fromkeys(r["run"] for r in rows):
        indices = np.array([r["anomaly_index"] for r in rows if r["run"] == run])
        hits = sum(r["suspects_the_target"] for r in rows if r["run"] == run)
        print(
            f"{run}: anomaly index {indices.mean():.2f} ± {indices.std(ddof=1) if len(indices) > 1 else 0:.2f}, "
            f"flagged {sum(r['flagged'] for r in rows if r['run'] == run)}/{len(indices)}, "
            f"target suspected {hits}/{len(indices)}"
        )
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"settings": vars(args), "victims": rows}, f, indent=1)


if __name__ == "__main__":
    main()
