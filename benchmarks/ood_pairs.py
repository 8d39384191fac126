"""Which out-of-distribution source/target pairs do models without a watermark already associate?

    KWM_DATA_DIR=../shared/data python benchmarks/ood_pairs.py [--task mnist]
        [--source fashion_mnist] [--seeds 4000 4001 4002] [--epochs 20]
        [--output benchmarks/results/ood_pairs]

Trains one plain model per seed on the task (seeds disjoint from every recipe's victims,
thieves, independent models and reference models) and records, for each class of the source
dataset's test split, the fraction of its images each model assigns to each task class. An OOD
key (source class -> target class) is only safe where every model sends ~0% there: models trained
alike disagree widely on another dataset's inputs (MNIST CNNs sent 17-63% of Fashion-MNIST
trousers to 7), and calibrated reference models cannot bound such a spread.
Writes `rates.json` (per model and the maximum over models, percent).
"""

import argparse
import json
import os

import keras
import numpy as np

from kwm import architectures, datasets, training


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", default="mnist")
    parser.add_argument("--source", default="fashion_mnist")
    parser.add_argument("--architecture", default="ewe_cnn")
    parser.add_argument("--seeds", type=int, nargs="+", default=[4000, 4001, 4002])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--output", default="benchmarks/results/ood_pairs")
    args = parser.parse_args()
    data_dir = os.environ.get("KWM_DATA_DIR")
    task = datasets.load(args.task, data_dir=data_dir, sources=("local",))
    source = datasets.load(args.source, data_dir=data_dir, sources=("local",))
    per_model = []
    for seed in args.seeds:
        keras.utils.set_random_seed(seed)  # the initialisation too, not only the shuffling
        model = architectures.build(args.architecture, task.input_shape, task.num_classes)
        training.train_classifier(
            model, task.train.x, task.train.y, epochs=args.epochs, seed=seed, verbose=0
        )
        predicted = model.predict(source.test.x, verbose=0, batch_size=512).argmax(1)
        rates = np.stack([
            np.bincount(predicted[source.test.y == c], minlength=task.num_classes)
            / np.sum(source.test.y == c)
            for c in range(source.num_classes)
        ])
        per_model.append(rates)
        print(f"seed {seed}: done", flush=True)
    worst = np.max(per_model, axis=0)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "rates.json"), "w") as f:
        json.dump({
            "command": "python benchmarks/ood_pairs.py", "args": vars(args),
            "task": task.describe(), "source": source.describe(),
            "rows": f"{args.source} test classes {list(source.class_names)}",
            "columns": f"{args.task} classes {list(task.class_names)}",
            "max_over_models_percent": np.round(100 * worst, 1).tolist(),
            "per_model_percent": [np.round(100 * r, 1).tolist() for r in per_model],
        }, f, indent=1)
    print(f"max over models, % (rows: {args.source} classes, columns: {args.task} classes)")
    for c, row in enumerate(worst):
        print(f"{source.class_names[c]:>12s} " + " ".join(f"{100 * v:5.1f}" for v in row))


if __name__ == "__main__":
    main()
