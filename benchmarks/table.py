"""Prints the README's results table from recipe reports.

    python benchmarks/table.py benchmarks/results/*/results.json
"""

import json
import sys


def _pct(stat):
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def _paper(tables, model, metric):
    for table in tables.values():
        value = table.get(f"{model}_{metric}")
        if value:
            return f"{value[0]:.2f} ± {value[1]:.2f}"
    return ""


def main(paths):
    print(
        "| recipe | data | model | task acc. % | watermark acc. % | H0 rejected: T-test (evidence), "
        "Wilcoxon (decision: claimed) "
        "| Wilcoxon WDR % | paper task acc. % | paper watermark acc. % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        with open(path) as f:
            results = json.load(f)
        config = results["config"]
        data = results["data"]["provenance"]
        described = f"{data['dataset']} ({data['source']}: {data['splits']['train']:,} train / {data['splits']['test']:,} test)"
        tables = config["paper"]
        name = config["experiment"]["name"]
        temperature = config.get("serving", {}).get("temperature", 1.0)
        if temperature != 1.0:
            name += f", API at T = {temperature:g}"
        for i, (model, entry) in enumerate(results["summary"].items()):
            seeds = len(entry["claimed"])
            print(
                "| "
                + " | ".join(
                    [
                        name if i == 0 else "",
                        described if i == 0 else "",
                        model,
                        _pct(entry["accuracy"]),
                        _pct(entry["watermark_accuracy"]),
                        f"{sum(entry['t_test_claimed'])}/{seeds}, {sum(entry['wilcoxon_claimed'])}/{seeds}",
                        _pct(entry["wilcoxon_wdr"]),
                        _paper(tables, model, "accuracy"),
                        _paper(tables, model, "watermark"),
                    ]
                )
                + " |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
