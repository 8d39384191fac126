"""Freeze depth vs where the watermark lives and whether it transfers (feature sharing Figs. 3-4).

    KWM_DATA_DIR=../shared/data python benchmarks/feature_sharing_depth.py
        [--architecture cnn8] [--seeds 0 1 2] [--epochs 5] [--watermark-epochs 5]
        [--thief-epochs 10] [--output benchmarks/results/feature_sharing_depth]

Per seed, one model is trained on MNIST's task data only (step 1). Then, for every depth `k`
(the number of layers with weights frozen from the input: 0 is the baseline, which fine-tunes
every layer; the deepest leaves only the last layer, the feature-sharing method), a copy of that
model is fine-tuned on task + watermark batches (step 2, 7s with a 3x3 bottom-right patch -> 1,
the paper's Fig. 3 watermark) and measured:

- the weight shift of every layer in step 2: the normalised L1 distance
  `sum|W_after - W_before| / sum|W_before|` (kernel and bias together; Fig. 3);
- the victim's task and watermark accuracy;
- a thief's copy extracted with the victim's soft labels on its training images: its task and
  watermark accuracy (Fig. 4's transferability).

Writes `depth.json` (per seed and mean ± std per depth) and `weight_shift.png`, `transfer.png`.
"""

import argparse
import json
import os
import time

import keras
import numpy as np

from kwm import architectures, datasets, training
from kwm.attacks import extract_model
from kwm.reports.plots import pyplot
from kwm.verification import task_accuracy, watermark_accuracy
from kwm.watermarks import PatchTrigger, embed_feature_sharing_watermark, generate_key


def _weights(model):
    return {
        layer.name: np.concatenate([np.ravel(w) for w in layer.get_weights()])
        for layer in model.layers
        if layer.weights
    }


def _shift(before, after):
    return {
        name: float(np.abs(after[name] - before[name]).sum() / np.abs(before[name]).sum())
        for name in before
    }


def _stat(values):
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std}


def _pct(stat):
    return f"{100 * stat['mean']:.1f} ± {100 * stat['std']:.1f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--architecture", default="cnn8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5, help="step 1 (task only) epochs")
    parser.add_argument("--watermark-epochs", type=int, default=5, help="step 2 epochs")
    parser.add_argument("--thief-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--output", default="benchmarks/results/feature_sharing_depth")
    args = parser.parse_args()
    data = datasets.load("mnist", data_dir=os.environ.get("KWM_DATA_DIR"), sources=("local",))
    os.makedirs(args.output, exist_ok=True)
    rows = []
    for seed in args.seeds:
        key = generate_key(
            data, "feature_sharing", source_class=7, target_class=1,
            trigger=PatchTrigger(size=(3, 3), position="bottom_right"), num_verify=200, seed=seed,
        )
        keras.utils.set_random_seed(seed)
        clean = architectures.build(args.architecture, data.input_shape, data.num_classes)
        training.train_classifier(
            clean, data.train.x, data.train.y, epochs=args.epochs, batch_size=args.batch_size,
            learning_rate=args.learning_rate, seed=seed, verbose=0,
        )
        step_one = clean.get_weights()
        before = _weights(clean)
        layer_names = list(before)
        for depth in range(len(layer_names)):
            start = time.perf_counter()
            victim = architectures.build(args.architecture, data.input_shape, data.num_classes)
            victim.set_weights(step_one)
            embed_feature_sharing_watermark(
                victim, data, key, freeze_up_to=depth, epochs=0,
                watermark_epochs=args.watermark_epochs, batch_size=args.batch_size,
                learning_rate=args.learning_rate, seed=seed, verbose=0,
            )
            stolen = extract_model(
                victim, data.train.x,
                architectures.build(args.architecture, data.input_shape, data.num_classes),
                labels="soft", epochs=args.thief_epochs, batch_size=args.batch_size,
                learning_rate=args.learning_rate, seed=seed + 1000, verbose=0,
            ).model
            row = {
                "seed": seed,
                "depth": depth,
                "frozen": layer_names[:depth],
                "weight_shift": _shift(before, _weights(victim)),
                "victim_accuracy": task_accuracy(victim, data.test.x, data.test.y),
                "victim_watermark": watermark_accuracy(victim, key),
                "stolen_accuracy": task_accuracy(stolen, data.test.x, data.test.y),
                "stolen_watermark": watermark_accuracy(stolen, key),
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    summary = []
    for depth in range(len(layer_names)):
        at = [r for r in rows if r["depth"] == depth]
        summary.append({
            "depth": depth,
            "frozen_through": layer_names[depth - 1] if depth else None,
            **{k: _stat([r[k] for r in at]) for k in
               ("victim_accuracy", "victim_watermark", "stolen_accuracy", "stolen_watermark")},
            "weight_shift": {n: _stat([r["weight_shift"][n] for r in at]) for n in layer_names},
        })
    with open(os.path.join(args.output, "depth.json"), "w") as f:
        json.dump({"command": "python benchmarks/feature_sharing_depth.py", "args": vars(args),
                   "data": data.describe(), "layers": layer_names, "summary": summary,
                   "runs": rows}, f, indent=1)

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for entry in summary:
        label = (
            f"frozen through {entry['frozen_through']}"
            if entry["depth"]
            else "baseline (nothing frozen)"
        )
        shifts = [entry["weight_shift"][n]["mean"] for n in layer_names]
        ax.plot(layer_names, shifts, marker="o", label=label)
    ax.set_ylabel("weight shift in step 2 (normalised L1)")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_title(
        f"Where the watermark is learned ({args.architecture}, MNIST, {len(args.seeds)} seeds)"
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "weight_shift.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ticks = ["none"] + layer_names[:-1]
    for metric, label in (("victim_watermark", "victim"), ("stolen_watermark", "stolen copy")):
        means = np.array([100 * e[metric]["mean"] for e in summary])
        stds = np.array([100 * e[metric]["std"] for e in summary])
        ax.errorbar(ticks, means, yerr=stds, marker="o", capsize=3, label=label)
    ax.set_xlabel("frozen from the input through")
    ax.set_ylabel("watermark accuracy % (mean ± std)")
    ax.set_title("Transferability vs freeze depth (feature sharing Fig. 4)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "transfer.png"), dpi=120)
    plt.close(fig)
    for entry in summary:
        print(
            f"frozen through {entry['frozen_through'] or 'nothing':6s}: "
            f"victim acc {_pct(entry['victim_accuracy'])}, wm {_pct(entry['victim_watermark'])}; "
            f"stolen acc {_pct(entry['stolen_accuracy'])}, wm {_pct(entry['stolen_watermark'])}"
        )


if __name__ == "__main__":
    main()
