"""Planned against measured query costs of the T-test, on committed recipe runs.

For each seed's stolen copy in the given `results.json` files: the T-test's
measured query cost (the fewest queries that claim on 95% of random draws of
the copy's actual answers, from the run) beside `kwm.verification.
queries_needed` planned from the copy's two rates and the key's margin.

    python benchmarks/query_planning.py benchmarks/results/*/results.json \
        --output benchmarks/results/query_planning.md

It also draws the planned curve the way EWE's Fig. 7 does (queries against
the watermark success rate at a 10% false watermark rate), beside kwm's own
setting (paired references, EWE's 10% margin plus the key's trigger effect),
with each copy's measured cost as a point (`<output>.png`).
"""

import argparse
import json
import os

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


def plot(table, path):
    """EWE Fig. 7's curve and kwm's, with the measured costs of the stolen copies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [r / 100 for r in range(12, 101)]
    curves = [
        # An out-of-distribution key with a 0% false rate and kwm's 0.1 margin tests the same
        # threshold, so it draws the same curve.
        ("EWE Fig. 7: false rate 10% (= kwm, OOD key, false rate 0% + margin 0.1)",
         0.1, 0.0, False, "-"),
        ("kwm, in-distribution key: false rate 2%, margin 0.1, paired", 0.02, 0.1, True, "--"),
    ]
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for label, false_rate, margin, paired, style in curves:
        points = [(w, queries_needed(w, false_rate, margin=margin, paired=paired)) for w in rates]
        points = [(100 * w, q) for w, q in points if q is not None]
        axis.plot(*zip(*points), style, color="black", label=label)
    for run in dict.fromkeys(r["run"] for r in table):
        measured = [(100 * r["watermark_accuracy"], r["measured"]) for r in table
                    if r["run"] == run and r["measured"]]
        if measured:
            axis.scatter(*zip(*measured), s=18, label=f"measured: {run} stolen copies")
    axis.set_yscale("log")
    axis.set_xlabel("watermark success rate of the stolen copy (%)")
    axis.set_ylabel("queries for a claim with 95% confidence")
    axis.set_title("T-test query cost (planned by queries_needed; points measured)")
    axis.legend(fontsize=7)
    axis.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


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
        f"![planned and measured query costs]({os.path.basename(args.output[:-3])}.png)",
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
    plot(table, args.output[:-3] + ".png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
