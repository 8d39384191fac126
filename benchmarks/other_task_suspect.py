"""Innocent suspects trained on another task: an SST-2 sentiment model against IMDB keys.

    KWM_DATA_DIR=../shared/data python benchmarks/other_task_suspect.py RUN [RUN ...] \
        --task sst2 --seeds 0 1 2 --output benchmarks/results/other_task_suspect/imdb.json

Every text model of kwm starts from the same pretrained MiniLM, and SST-2 and IMDB are the same
question (is this text negative or positive?) asked of other texts. A sentiment model fine-tuned
on SST-2 is therefore an honest model that answers IMDB reviews well and never saw the owner's
key: the kind of innocent API an IMDB owner might suspect. For each `--seeds` entry this trains
one model of the run's architecture on `--task` exactly as the run trained its independent model
(same `[model]` and `[training]`, as many epochs as the victim, the task subsampled to the run's
`max_train` / `max_test`; the model a recipe with `verification.independent_datasets = [task]`
trains for that seed), then verifies it with every seed's key of every run given, by every
test of the run's `[verification]`, at the run's serving temperature. Models are cached with the
owner's reference models (the same identity rules), so a second call reuses them.

Writes the JSON (one row per model and key: accuracy on both tasks, watermark accuracy, reference
rate, each test's verdict and p-value) and a Markdown table beside it.
"""

import argparse
import json
import os
import sys

from reextraction import load_run, seed_key

from kwm.recipes.data import load_other_datasets
from kwm.recipes.models import total_epochs
from kwm.recipes.pipeline import OTHER_DATA_SEED_OFFSET, evaluate_suspect, train_independent_on
from kwm.recipes.reference_models import (
    ReferenceModels,
    reference_accuracy,
    reference_identity,
)

def other_task_data(config, data, task):
    """`task`'s data from the run's sources, cut as the run cut its own (as a recipe's
    `verification.independent_datasets`)."""
    config = dict(config, verification=dict(
        config["verification"], reference_datasets=[""], independent_datasets=[task]))
    return load_other_datasets(config, data)[task]


def other_task_model(config, other, seed, cache, log=print):
    """The model a recipe's `verification.independent_datasets = [other]` trains for `seed`
    (`train_independent_on`), cached with the owner's reference models."""
    settings = {
        "epochs": total_epochs(config),
        "batch_size": config["training"]["batch_size"],
        "learning_rate": config["training"]["learning_rate"],
        "other_task": other.name,
    }
    identity = reference_identity(config["model"], settings, other, seed + OTHER_DATA_SEED_OFFSET)

    def train():
        log(f"training a {config['model']['architecture']} on {other.name}, seed "
            f"{seed + OTHER_DATA_SEED_OFFSET}")
        return train_independent_on(config, other, seed, verbose=0)

    return cache.get(identity, train, log)


def _markdown(rows, command):
    tests = sorted({test for row in rows for test in row["verdicts"]})
    lines = [
        "# Innocent suspects trained on another task",
        "",
        f"`{command}`",
        "",
        "| run | key seed | model | accuracy on its task % | accuracy on the run's task % | "
        "watermark % | reference % | " + " | ".join(f"{t} p" for t in tests) + " | claimed |",
        "|---|---|---|---|---|---|---|" + "---|" * len(tests) + "---|",
    ]
    for row in rows:
        reference = row["reference_rate"]
        lines.append(
            f"| {row['run']} | {row['key_seed']} | {row['task']} seed {row['model_seed']} | "
            f"{100 * row['accuracy_own_task']:.1f} | {100 * row['accuracy_run_task']:.1f} | "
            f"{100 * row['watermark_accuracy']:.1f} | "
            f"{'' if reference is None else f'{100 * reference:.1f}'} | "
            + " | ".join(f"{row['verdicts'][t]['p_value']:.3g}" for t in tests)
            + f" | {'yes' if row['claimed'] else 'no'} |"
        )
    rejected = {t: sum(row["verdicts"][t]["claimed"] for row in rows) for t in tests}
    lines += [
        "",
        f"Claimed by the decision test: {sum(row['claimed'] for row in rows)} of {len(rows)}; "
        "H0 rejected: " + ", ".join(f"{t} {k}/{len(rows)}" for t, k in rejected.items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="text recipe output folders")
    parser.add_argument("--task", default="sst2", help="the other dataset (default: sst2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help=f"one model per seed (trained with seed {OTHER_DATA_SEED_OFFSET} + s)")
    parser.add_argument("--output", required=True, help="JSON file (a .md table beside it)")
    args = parser.parse_args(argv)
    command = "python benchmarks/other_task_suspect.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    cache = ReferenceModels(ReferenceModels.default_directory())
    rows = []
    for run in args.runs:
        results, config, data = load_run(run)
        if data.modality != "text":
            raise ValueError(f"Other-task suspects are for text runs. Received: run={run!r}")
        other = other_task_data(config, data, args.task)  # another dataset, the run's classes
        for model_seed in args.seeds:
            model, record = other_task_model(config, other, model_seed, cache)
            own = reference_accuracy(model, other, max_examples=len(other.test.x))
            for seed_result in results["seeds"]:
                _, key = seed_key(run, seed_result)
                name = f"{other.name} model seed {model_seed}"
                result = evaluate_suspect(name, model, data, key, config, seed_result["seed"])
                verification = result["verification"]
                row = {
                    "run": os.path.basename(os.path.normpath(run)),
                    "experiment": config["experiment"]["name"],
                    "key_seed": seed_result["seed"],
                    "key_fingerprint": key.fingerprint,
                    "task": other.name,
                    "task_data": {"description": other.describe(),
                                  "provenance": other.provenance.to_dict()},
                    "model_seed": model_seed,
                    "model": {k: record.get(k) for k in ("source", "fingerprint", "file_sha256")},
                    "accuracy_own_task": own,
                    "accuracy_run_task": result["accuracy"],
                    "watermark_accuracy": verification["watermark_accuracy"],
                    "reference_rate": verification["reference_rate"],
                    "verdicts": {
                        t: {"p_value": v["p_value"], "claimed": v["claimed"],
                            "num_queries": v["num_queries"]}
                        for t, v in verification["verdicts"].items()
                    },
                    "claimed": verification["claimed"],
                    "summary": result["summary"],
                }
                rows.append(row)
                print(json.dumps({k: row[k] for k in (
                    "run", "key_seed", "model_seed", "accuracy_own_task", "accuracy_run_task",
                    "watermark_accuracy", "reference_rate", "claimed")}), flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump({"command": command, "rows": rows}, f, indent=1)
    with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
        f.write(_markdown(rows, command))
    claimed = sum(row["claimed"] for row in rows)
    print(f"claimed by the decision test: {claimed} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
