"""Prints the README's results table from recipe reports, one row per run.

    python benchmarks/table.py benchmarks/results/{mnist_baseline,mnist_ewe}/results.json ...
"""

import json
import sys

HEADER = (
    "| recipe | command | victim watermark % | stolen task % | stolen watermark % | "
    "stolen claimed | paper: stolen watermark % |\n|---|---|---|---|---|---|---|"
)


def _pct(stat, digits=1):
    return f"{100 * stat['mean']:.{digits}f} ± {100 * stat['std']:.{digits}f}"


def _paper(tables):
    for table in tables.values():
        value = table.get("stolen_watermark")
        if value:
            return f"{value[0]:.2f} ± {value[1]:.2f}"
    return ""


def row(results):
    """The README row of one run's `results.json` (a dict)."""
    config = results["config"]
    experiment = config["experiment"]
    ood = bool(config["watermark"]["source_dataset"]) and (
        config["watermark"]["source_dataset"] != experiment["dataset"]
    )
    command = f"{experiment['dataset']} --method {experiment['method']}" + (" --ood" if ood else "")
    temperature = config.get("serving", {}).get("temperature", 1.0)
    if temperature != 1.0:
        command += f" --serving-temperature {temperature:g}"
    if experiment["config_file"].startswith("kwm.recipes.configs/ablations/") or (
        not experiment["config_file"].startswith("kwm.recipes.configs/")
    ):
        command += f" --config {experiment['config_file'].split('kwm.recipes.configs/')[-1]}"
    victim, stolen = results["summary"]["victim"], results["summary"]["stolen"]
    seeds = len(stolen["claimed"])
    return "| " + " | ".join([
        experiment["name"],
        f"`{command}`",
        _pct(victim["watermark_accuracy"]),
        _pct(stolen["accuracy"], 2),
        _pct(stolen["watermark_accuracy"]),
        f"{sum(stolen['wilcoxon_claimed'])}/{seeds} ({sum(stolen['t_test_claimed'])}/{seeds})",
        _paper(config["paper"]),
    ]) + " |"


def main(paths):
    print(HEADER)
    for path in paths:
        with open(path) as f:
            print(row(json.load(f)))


if __name__ == "__main__":
    main(sys.argv[1:])
