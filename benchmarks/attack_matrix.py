"""The attack matrix: every watermarking method against every attack, from recipe runs.

    python -m kwm.recipes.mnist --method baseline --attacks all --seeds 3 --output R/mnist_baseline ...
    python benchmarks/attack_matrix.py R/*/results.json [--output FILE.md]

Rows are attacks (and their setting: pruning ratio, quantisation levels, ...), columns the runs
(one per watermarking method), cells the attacked stolen model's task accuracy / watermark
accuracy (mean ± std over seeds), how many seeds the decision test still claimed and its median
p-value. Runs of one dataset belong in one matrix; the script groups them by dataset.
"""

import argparse
import collections
import json
import os

import numpy as np


def _cell(row, decision):
    claimed = row[f"{decision}_claimed"]
    watermark = row["watermark_accuracy"]
    text = (
        f"{100 * row['accuracy']['mean']:.1f} / {100 * watermark['mean']:.1f} ± "
        f"{100 * watermark['std']:.1f} ({sum(claimed)}/{len(claimed)}, "
        f"p {np.median(row[f'{decision}_p_value']['values']):.1g})"
    )
    if "anomaly_index" in row:
        text += f", NC {row['anomaly_index']['mean']:.1f}"
    return text


def matrix(paths):
    """`{dataset: (run names, {(attack, setting): {run: cell}})}` from results.json files."""
    grouped = collections.defaultdict(lambda: ([], collections.defaultdict(dict)))
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        if not results.get("attack_summary"):
            continue
        config = results["config"]
        run = os.path.basename(os.path.dirname(os.path.abspath(path)))
        decision = config["verification"]["decision_test"]
        names, cells = grouped[config["experiment"]["dataset"]]
        names.append(run)
        stolen = results["summary"]["stolen"]
        cells[("none (stolen)", "")][run] = _cell(stolen, decision)
        for attack, rows in results["attack_summary"].items():
            for row in rows:
                cells[(attack, str(row["setting"]))][run] = _cell(row, decision)
    return grouped


def markdown(grouped):
    lines = []
    for dataset, (names, cells) in sorted(grouped.items()):
        lines += [
            f"### {dataset}",
            "",
            "Cells: task accuracy % (mean) / watermark accuracy % (mean ± std over seeds) of the "
            "attacked stolen model (seeds on which the decision test still claimed ownership, "
            "median p-value of the decision test); NC: Neural Cleanse anomaly index (flagged "
            "above 2).",
            "",
            "| attack | setting | " + " | ".join(names) + " |",
            "|---|---|" + "---|" * len(names),
        ]
        for (attack, setting), row in cells.items():
            lines.append(
                f"| {attack.replace('_', ' ')} | {setting} | "
                + " | ".join(row.get(n, "–") for n in names) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="recipe results.json files run with --attacks")
    parser.add_argument("--output", help="also write the Markdown here")
    args = parser.parse_args(argv)
    text = markdown(matrix(args.results))
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
