"""What a served temperature costs the API's clients: the victims' top-1 probability at each T.

    KWM_DATA_DIR=../shared/data python benchmarks/api_confidence.py \
        benchmarks/results/mnist_feature_sharing --temperatures 1 4 8 16 \
        --output benchmarks/results/mnist_feature_sharing/api_confidence.json

A recipe run keeps each seed's served victim (`seed-N/victim_savedmodel`). This asks every victim
for the run's test set through the SavedModel, re-tempers the answers to each T as the recipes'
`--serving-temperature` does (`kwm.export.serving_temperature.temper_probabilities`; decisions are unchanged) and
reports the mean and median probability of the answered class, per victim and T, and their
mean ± std over victims (a run served at T0 is re-tempered by T / T0).
"""

import argparse
import json
import os

import numpy as np
from reextraction import load_run, victim_api  # benchmarks/: a finished run and its victims

from kwm.export.serving_temperature import temper_probabilities


def api_confidence(run, temperatures, limit=None):
    """Rows `{seed, temperature, mean_top1, median_top1, num_inputs}` for each victim and T."""
    results, config, data = load_run(run)
    served_at = config["serving"]["temperature"]
    x = data.test.x[:limit]
    rows = []
    for seed_result in results["seeds"]:
        seed = seed_result["seed"]
        api = victim_api(run, seed, data, served_at)
        answers = np.asarray(api(x), "float64")
        for temperature in temperatures:
            top1 = temper_probabilities(answers, temperature / served_at).max(axis=1)
            rows.append({
                "seed": seed,
                "temperature": temperature,
                "mean_top1": float(top1.mean()),
                "median_top1": float(np.median(top1)),
                "num_inputs": len(x),
            })
    return rows


def markdown(rows):
    lines = ["| T | mean top-1 probability | median top-1 probability |", "|---|---|---|"]
    for temperature in dict.fromkeys(r["temperature"] for r in rows):
        mine = [r for r in rows if r["temperature"] == temperature]
        cells = []
        for field in ("mean_top1", "median_top1"):
            values = np.array([r[field] for r in mine])
            std = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.3f} ± {std:.3f}")
        lines.append(f"| {temperature:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a recipe output folder (results.json, seed-N/)")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 4.0, 8.0, 16.0])
    parser.add_argument("--limit", type=int, help="first N test inputs only (default: all)")
    parser.add_argument("--output", help="JSON file for the rows (a .md table beside it)")
    args = parser.parse_args(argv)
    rows = api_confidence(args.run, args.temperatures, args.limit)
    table = markdown(rows)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"settings": vars(args), "rows": rows}, f, indent=1)
        with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
