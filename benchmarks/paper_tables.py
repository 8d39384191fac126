"""The papers' tables side by side with kwm's runs (feature sharing Tables 2-3, EWE Table 1).

    python benchmarks/paper_tables.py benchmarks/results/*/results.json [--output FILE.md]

Every recipe report names the published table rows it reproduces (`[paper.<table>]` in its
configuration). This groups the runs by table and dataset and prints, per watermarking method,
kwm's mean ± std over seeds (named by the run's folder) with the paper's figures on the line
below: protected (victim) task and watermark accuracy, stolen task and watermark accuracy, and
the Wilcoxon watermark detection rate (WDR), and beside them the stolen copy's false watermark rate
(in-distribution keys: how often the copy sends the source inputs *without* the trigger to the
target; the tests claim on the difference, so a watermark accuracy means little without it). A
run on a stand-in dataset (CIFAR-10 for CIFAR-100) says so.
"""

import argparse
import collections
import json
import os
import statistics

TABLES = {
    "feature_sharing_table2": "Feature sharing Table 2 (in-distribution watermarks)",
    "feature_sharing_table3": "Feature sharing Table 3 (out-of-distribution watermarks)",
    "ewe_table1": "EWE Table 1",
}
METHODS = {"baseline": "Baseline", "ewe": "EWE", "feature_sharing": "Ours (feature sharing)"}
COLUMNS = (
    ("victim", "accuracy", "victim_accuracy"),
    ("victim", "watermark_accuracy", "victim_watermark"),
    ("stolen", "accuracy", "stolen_accuracy"),
    ("stolen", "watermark_accuracy", "stolen_watermark"),
    ("stolen", "wilcoxon_wdr", "stolen_wdr"),
)
HEADER = (
    "| method | | protected acc. % | protected watermark % | stolen acc. % "
    "| stolen watermark % | WDR % | stolen false rate % |"
)


def _cell(stat):
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def _paper_cell(value):
    if not value:
        return "–"
    return f"{value[0]:.2f}" + (f" ± {value[1]:.2f}" if value[1] else "")


def _false_rate_cell(seeds):
    """The stolen copies' false watermark rate, mean ± std; "–" for out-of-distribution keys."""
    rates = [s["models"]["stolen"]["verification"].get("reference_rate") for s in seeds]
    if any(rate is None for rate in rates):
        return "–"
    std = statistics.stdev(rates) if len(rates) > 1 else 0.0
    return _cell({"mean": statistics.fmean(rates), "std": std})


def rows(results_paths):
    """`{(table, dataset): [row, ...]}` from recipe `results.json` files."""
    grouped = collections.defaultdict(list)
    for path in results_paths:
        with open(path) as f:
            results = json.load(f)
        config = results["config"]
        summary = results["summary"]
        seeds = len(summary["victim"]["claimed"])
        for table, paper in config["paper"].items():
            if table not in TABLES:
                continue
            grouped[(table, config["experiment"]["dataset"])].append(
                {
                    "method": config["experiment"]["method"],
                    "serving_temperature": config.get("serving", {}).get("temperature", 1.0),
                    "run": os.path.basename(os.path.dirname(os.path.abspath(path))),
                    "seeds": seeds,
                    "kwm": [_cell(summary[model][metric]) for model, metric, _ in COLUMNS]
                    + [_false_rate_cell(results["seeds"])],
                    "paper": [_paper_cell(paper.get(name)) for _, _, name in COLUMNS] + ["–"],
                    "reproduces": config["experiment"]["reproduces"],
                }
            )
    return grouped


def markdown(grouped):
    lines = []
    for (table, dataset), entries in sorted(grouped.items()):
        lines += [f"### {TABLES[table]}: {dataset}", "", HEADER, "|---|---|---|---|---|---|---|---|"]
        for entry in sorted(entries, key=lambda e: list(METHODS).index(e["method"])):
            name = METHODS.get(entry["method"], entry["method"])
            if entry["serving_temperature"] != 1.0:
                name += f", API at T = {entry['serving_temperature']:g}"
            lines.append(
                f"| {name} | kwm, {entry['seeds']} seeds (`{entry['run']}`) | "
                + " | ".join(entry["kwm"]) + " |"
            )
            lines.append("| | paper | " + " | ".join(entry["paper"]) + " |")
        stand_ins = sorted({e["reproduces"] for e in entries if " on " in e["reproduces"]})
        if stand_ins:
            lines += ["", "Stand-in: " + "; ".join(stand_ins) + "."]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="recipe results.json files")
    parser.add_argument("--output", help="also write the Markdown here")
    args = parser.parse_args(argv)
    text = markdown(rows(args.results))
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
