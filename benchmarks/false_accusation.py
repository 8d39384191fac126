"""False-accusation calibration: a population of independent models against the owner's keys.

    python benchmarks/independent_population.py train --dataset mnist --models 105 --output POP
    python benchmarks/false_accusation.py --population POP --key NAME=KEY.json [--key ...] \
        --temperatures 1 4 --output benchmarks/results/false_accusation/mnist

For every key, temperature and test: how many models of the population the test rejects H0 on
(the decision test's rejections are false accusations), with a Clopper-Pearson 95% interval on
the rate; the distribution of p-values (a plot); and each test's type-I error by simulation under
its null hypothesis at the recipes' sample sizes (10,000 draws at its boundary). Writes
`.json`, `.md` and `_p_values.png`.
"""

import argparse
import json
import os
import sys

import numpy as np
import scipy.stats

from independent_population import verify_population
from kwm.verification import watermark_t_test, wilcoxon_alpha_test


def clopper_pearson(k, n, confidence=0.95):
    interval = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")
    return float(interval.low), float(interval.high)


def simulate_type_one(draws=10_000, n=200, significance=0.05, seed=0):
    """Rejection rates of each test when its null hypothesis holds at its boundary."""
    rng = np.random.default_rng(seed)
    rows = []
    for false_rate in (0.0, 0.05, 0.2):
        margin = 0.1
        rejected = 0
        for _ in range(draws):  # success rate exactly false rate + margin
            success = rng.random(n) < false_rate + margin
            reference = rng.random(n) < false_rate
            rejected += watermark_t_test(success, reference, margin=margin)[1] <= significance
        rows.append({"test": "t_test", "setting": f"paired, false rate {false_rate:g}, "
                     f"success rate {false_rate + margin:g}", "n": n, "draws": draws,
                     "type_one_error": rejected / draws})
        rejected = 0
        for _ in range(draws):  # one-sample (out-of-distribution keys)
            success = rng.random(n) < false_rate + margin
            rejected += watermark_t_test(success, chance=false_rate, margin=margin)[1] <= significance
        rows.append({"test": "t_test", "setting": f"unpaired, false rate {false_rate:g}, "
                     f"success rate {false_rate + margin:g}", "n": n, "draws": draws,
                     "type_one_error": rejected / draws})
    alpha = 0.3
    for spread in (0.02, 0.1):
        rejected = 0
        for _ in range(draws):  # p - q - alpha symmetric about 0: the boundary of H0
            q = rng.uniform(0.0, 0.5, n)
            p = np.clip(q + alpha + rng.normal(0.0, spread, n), 0.0, 1.0)
            rejected += wilcoxon_alpha_test(p, q, alpha=alpha)[1] <= significance
        rows.append({"test": "wilcoxon", "setting": f"p - q = 0.3 + N(0, {spread:g}²)", "n": n,
                     "draws": draws, "type_one_error": rejected / draws})
    return rows


def summarise(result):
    groups = {}
    for row in result["rows"]:
        groups.setdefault((row["key"], row["temperature"]), []).append(row)
    table = []
    for (key, temperature), rows in groups.items():
        for test in ("t_test", "wilcoxon"):
            k = sum(r["rejected"][test] for r in rows)
            low, high = clopper_pearson(k, len(rows))
            table.append({
                "key": key, "temperature": temperature, "test": test, "models": len(rows),
                "rejected": k, "ci95": [low, high],
                "smallest_p": min(r["p_values"][test] for r in rows),
            })
        claimed = sum(r["claimed"] for r in rows)
        table.append({"key": key, "temperature": temperature, "test": "decision rule",
                      "models": len(rows), "rejected": claimed,
                      "ci95": list(clopper_pearson(claimed, len(rows))), "smallest_p": None})
    return table


ROW_FIELDS = ("key (index in keys)", "temperature", "model (index in population.models)",
              "watermark_accuracy", "reference_rate", "t_test_p", "wilcoxon_p", "claimed")


def compact_rows(rows):
    """Every verdict as one short list (`row_fields` names the columns)."""
    keys = list(dict.fromkeys(r["key"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    return {
        "keys": [{"name": k, "fingerprint": next(r["key_fingerprint"] for r in rows
                                                 if r["key"] == k)} for k in keys],
        "row_fields": list(ROW_FIELDS),
        "rows": [
            [keys.index(r["key"]), r["temperature"], models.index(r["model"]),
             round(r["watermark_accuracy"], 4),
             None if r["reference_rate"] is None else round(r["reference_rate"], 4),
             float(f"{r['p_values']['t_test']:.4g}"), float(f"{r['p_values']['wilcoxon']:.4g}"),
             r["claimed"]]
            for r in rows
        ],
    }


def compact_population(manifest):
    """The population manifest with each distinct training recipe written once."""
    recipes, models = [], []
    for model in manifest["models"]:
        if model["training"] not in recipes:
            recipes.append(model["training"])
        entry = {k: v for k, v in model.items() if k != "training"}
        entry.update(recipe=recipes.index(model["training"]),
                     test_accuracy=round(model["test_accuracy"], 4))
        models.append(entry)
    return {**{k: v for k, v in manifest.items() if k != "models"}, "training_recipes": recipes,
            "models": models}


def plot_p_values(result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for axis, test in zip(axes, ("t_test", "wilcoxon")):
        values = np.array([r["p_values"][test] for r in result["rows"]])
        axis.hist(np.log10(np.clip(values, 1e-300, 1.0)), bins=40, color="tab:blue")
        axis.axvline(np.log10(0.05), color="tab:red", linestyle="--", label="p = 0.05")
        axis.set_title(f"{test}: {len(values)} verdicts on independent models")
        axis.set_xlabel("log10 p-value")
        axis.legend()
    axes[0].set_ylabel("verdicts")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", required=True)
    parser.add_argument("--key", action="append", required=True, help="NAME=PATH of a key file")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0])
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--output", required=True, help="path prefix of .json, .md, .png")
    args = parser.parse_args(argv)
    keys = [tuple(item.split("=", 1)) for item in args.key]
    result = verify_population(args.population, keys, args.temperatures)
    table = summarise(result)
    type_one = simulate_type_one(args.draws)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".json", "w") as f:
        json.dump({"command": "python benchmarks/false_accusation.py " + " ".join(
            sys.argv[1:] if argv is None else argv), "summary": table,
            "type_one_error": type_one, "population": compact_population(result["population"]),
            **compact_rows(result["rows"])}, f, separators=(",", ":"))
    plot_p_values(result, args.output + "_p_values.png")
    models = result["population"]["models"]
    architectures = sorted({m["architecture"] for m in models})
    lines = [
        f"# False accusations: {len(models)} independent {result['population']['dataset']} models",
        "",
        f"{len(models)} models of {len(architectures)} architectures ({', '.join(architectures)}), "
        f"test accuracy {100 * min(m['test_accuracy'] for m in models):.1f}–"
        f"{100 * max(m['test_accuracy'] for m in models):.1f}%, trained by "
        "`benchmarks/independent_population.py` (code of its own, never a key), each verified "
        "with every key at each temperature. H0 rejected at 0.05; Clopper–Pearson 95% interval "
        "of the rate.",
        "",
        "| key | T | test | models | H0 rejected | 95% interval | smallest p |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        smallest = "" if r["smallest_p"] is None else f"{r['smallest_p']:.3g}"
        lines.append(
            f"| {r['key']} | {r['temperature']:g} | {r['test']} | {r['models']} | {r['rejected']} | "
            f"[{100 * r['ci95'][0]:.1f}%, {100 * r['ci95'][1]:.1f}%] | {smallest} |"
        )
    lines += ["", f"Type-I error by simulation under each test's null ({args.draws:,} draws, "
              "n = 200 per sample, significance 0.05):", "",
              "| test | setting | type-I error |", "|---|---|---|"]
    lines += [f"| {r['test']} | {r['setting']} | {100 * r['type_one_error']:.2f}% |"
              for r in type_one]
    with open(args.output + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
