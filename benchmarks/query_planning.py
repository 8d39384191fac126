"""Planned against measured query costs of the T-test, on committed recipe runs.

For each seed's stolen copy in the given `results.json` files: the T-test's
measured query cost (the fewest queries that claim on 95% of random draws of
the copy's actual answers, from the run) beside `kwm.verification.
queries_needed` planned from the copy's two rates and the key's margin.

    python benchmarks/query_planning.py benchmarks/results/*/results.json \
        --output benchmarks/results/query_planning.md
"""

import argparse
import json

from kwm.verification import queries_needed


def rows(path):
    results = json.load(open(path))
    for seed in results["seeds"]:
        verification = seed["models"]["stolen"]["verification"]
        details = verification["verdicts"]["t_test"]["details"]
        paired = details["num_reference"] > 0
        planned = queries_needed(
            details["success_rate"], details["reference_rate"], margin=details["margin"],
            paired=paired,
        )
        temperature = results["config"].get("serving", {}).get("temperature", 1.0)
        yield {
            "run": results["config"]["experiment"]["name"]
            + (f" (T = {temperature:g})" if temperature != 1 else ""),
            "seed": seed["seed"],
            "watermark_accuracy": details["success_rate"],
            "false_rate": details["reference_rate"],
            "margin": details["margin"],
            "measured": verification["query_costs"]["t_test"]["queries"],
            "planned": planned,
        }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+")
    parser.add_argument("--output", required=True, help="a .md file (and .json beside it)")
    args = parser.parse_args(argv)
    table = [row for path in args.results for row in rows(path)]
    lines = [
        "# T-test query cost: planned (`queries_needed`) against measured",
        "",
        "Stolen copies of committed runs; measured = fewest queries that claim on 95% of 200 "
        "random draws of the copy's own answers; planned = from its two rates alone, answers "
        "modelled as independent draws. `python benchmarks/query_planning.py "
        + " ".join(args.results) + f" --output {args.output}`",
        "",
        "| run | seed | watermark % | false % | margin | measured | planned |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['run']} | {r['seed']} | {100 * r['watermark_accuracy']:.1f} | "
            f"{100 * r['false_rate']:.1f} | {r['margin']:.3g} | {r['measured'] or 'not reached'} | "
            f"{r['planned'] or 'never'} |"
        )
    with open(args.output, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(args.output[:-3] + ".json", "w") as f:
        json.dump(table, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
