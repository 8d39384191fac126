"""Re-extraction attacks on the served victims of finished recipe runs.

    KWM_DATA_DIR=../shared/data python benchmarks/reextraction.py \
        benchmarks/results/attacks/mnist_ewe benchmarks/results/attacks/mnist_feature_sharing ... \
        --labels soft hard quantized:2 quantized:10 tempered:4 --adaptive 0.0625,100 1,0.3 --thief-seeds 0 1 \
        --output benchmarks/results/attacks/reextraction.json

A recipe run keeps each seed's served victim (`seed-N/victim_savedmodel`) and its key beside the
report. This extracts fresh copies from those victims, through the SavedModel, with the recipe's
thief (architecture, queries, budget, epochs) and other answers: `--labels` are label kinds of
`kwm.attacks.label_transform` (soft is the recipe's own extraction, repeated as the control);
`--adaptive W,T` runs the adaptive extraction of EWE section 4.4 (the thief minimises the SNNL
between the API's classes on the recipe's `attacks.snnl_layers` with weight W and temperature T).
Each copy is scored like a recipe's suspect: task accuracy on the test set, watermark accuracy
on the key's held-out watermarks, every verification test. The victims are the recipe's, so
rows compare directly with the run's own stolen copies; nothing is retrained but the copies.
`--serving-temperature T [T ...]` lets the victims of a run answer at T instead of the run's own
temperature (the recipes' `--serving-temperature`, exactly but for float64 arithmetic) and
verifies at T: the same victims and keys, served softer. With a temperature, each seed's
independent model (the run's `independent_savedmodel`) is verified at T too, as `python -m
kwm.verify --temperature T` does: a row "independent model, verified at T" whose claims must be
none. `--thief-seeds` repeats every setting with other thieves (initialisation and batch order; seed 0
is the recipe's own thief, whose soft-label copy repeats the run's stolen copy), separating the
thief's luck from the victim's.
A run recorded before a setting existed gets that setting's default (`extraction.num_queries`:
every query). Prints a Markdown table (mean ± std over victims and thieves, claims by the decision
test, its query cost: the fewest queries that claim on 95% of random draws, as in the recipes'
reports); `--output` writes the rows as JSON after every copy, and a .md and .png beside it;
`--from-json A.json B.json --output C.json` redoes the table and plot of several outputs joined.
"""

import argparse
import copy
import itertools
import json
import os
import time

import numpy as np

from kwm import attacks
from kwm.export.serving_temperature import temper_probabilities
from kwm.prediction_api import PredictionAPI
from kwm.recipes import config as recipe_config
from kwm.recipes import pipeline
from kwm.recipes.data import load_data, load_queries, thief_queries
from kwm.recipes.models import thief_model, total_epochs
from kwm.reports.plots import pyplot
from kwm.reports.report import query_cost_range
from kwm.watermarks import WatermarkKey


def _settings(args):
    rows = [(kind, None) for kind in args.labels]
    for text in args.adaptive:
        try:
            weight, temperature = (float(v) for v in text.split(","))
        except ValueError:
            raise SystemExit(f"--adaptive takes W,T (e.g. 1,0.3). Received: {text!r}")
        rows.append(("adaptive", (weight, temperature)))
    return rows


def _name(kind, adaptive):
    return kind if adaptive is None else f"adaptive w={adaptive[0]:g}, T={adaptive[1]:g}"


def _with_defaults(defaults, recorded):
    """A run's recorded configuration over today's defaults: settings added since it ran take
    their default (e.g. `extraction.num_queries`, 0 = every query), settings since removed are
    dropped."""
    config = copy.deepcopy(defaults)
    for key, value in recorded.items():
        if isinstance(config.get(key), dict) and config[key] and isinstance(value, dict):
            config[key] = _with_defaults(config[key], value)
        elif key in config:
            config[key] = copy.deepcopy(value)
    return config


def load_run(run):
    """`(results, config, data)` of a finished recipe run: its results.json, its recorded
    configuration over today's defaults and its task data (from the source the run used)."""
    with open(os.path.join(run, "results.json")) as f:
        results = json.load(f)
    config = recipe_config.fill_layer_roles(
        _with_defaults(recipe_config.DEFAULTS, results["config"])
    )
    # The data the run used, not the first source that answers here (a run on the embedded
    # sample must not be re-scored on a local full copy, nor wait for an offline tfds).
    source = results.get("data", {}).get("provenance", {}).get("source")
    if source:
        config["data"]["sources"] = [source]
    data, _ = load_data(config)
    return results, config, data


def seed_key(run, seed_result):
    """`(folder, key)` of one seed of a finished run, the key checked against its recorded
    fingerprint."""
    folder = os.path.join(run, f"seed-{seed_result['seed']}")
    key = WatermarkKey.load(
        os.path.join(folder, seed_result["key_file"]),
        expected_fingerprint=seed_result["key_fingerprint"],
    )
    return folder, key


def victim_api(run, seed, data, served_at, temperature=None):
    """The served victim of one seed (its SavedModel), answering at `temperature` if given:
    `softmax(log p / (T / T0))` of its answers p at the run's own temperature T0, which is
    `softmax(z / T)` of its logits z."""
    api = PredictionAPI(
        os.path.join(run, f"seed-{seed}", "victim_savedmodel"), num_classes=data.num_classes
    )
    if temperature is None:
        return api
    if not temperature > 0:
        raise ValueError(f"A serving temperature must be positive. Received: temperature={temperature}")
    return PredictionAPI(
        lambda x: temper_probabilities(api(x), temperature / served_at),
        num_classes=data.num_classes, name=f"victim API at T = {temperature:g}",
    )


def _scored_row(run, seed_result, key, config, scored):
    """The fields of a result row that describe a scored suspect (`pipeline.evaluate_suspect`)."""
    verdicts = scored["verification"]["verdicts"]
    return {
        "run": os.path.basename(os.path.normpath(run)),
        "method": config["experiment"]["method"],
        "seed": seed_result["seed"],
        "key_fingerprint": key.fingerprint,
        "accuracy": scored["accuracy"],
        "watermark_accuracy": scored["watermark_accuracy"],
        # The suspect's rate on the trigger-free references: what the tests compare with.
        "false_watermark_rate": scored["verification"]["reference_rate"],
        "p_values": {t: v["p_value"] for t, v in verdicts.items()},
        "claimed": {t: v["claimed"] for t, v in verdicts.items()},
        "detection_rates": scored["verification"]["detection_rates"],
        # Fewest queries that claim on >= 95% of random draws (None: not even all of them).
        "query_costs": {t: v["queries"] for t, v in scored["verification"]["query_costs"].items()},
        "decision_test": config["verification"]["decision_test"],
        "serving_temperature": config["serving"]["temperature"],
        "stolen_in_run": seed_result["models"]["stolen"]["watermark_accuracy"],
    }


def _independent_row(run, folder, seed_result, key, data, config):
    """The run's independent model of one seed (its SavedModel) verified at the config's
    temperature, as `python -m kwm.verify --temperature T` does: a row whose claims must be none."""
    start = time.perf_counter()
    scored = pipeline.evaluate_suspect(
        "independent", os.path.join(folder, "independent_savedmodel"), data, key, config,
        seed_result["seed"],
    )
    return {
        **_scored_row(run, seed_result, key, config, scored),
        "suspect": "independent",
        "thief_seed": None,
        "setting": f"independent model, verified at T = {config['serving']['temperature']:g}",
        "num_queries": 0,
        "seconds": round(time.perf_counter() - start, 1),
    }


def attack_run(
    run, settings, epochs=None, thief_seeds=(0,), log=print, on_row=None, serving_temperature=None
):
    """Scores every setting on every seed (victim) and thief seed of one recipe output folder.

    `serving_temperature` T: each victim's API answers `softmax(log p / (T / T0))` of its
    answers p at the run's own temperature T0 (`kwm.export.serving_temperature.temper_probabilities`, the
    arithmetic of the recipes' `--serving-temperature`, in float64 instead of the SavedModel's
    float32), which is `softmax(z / T)` of its logits z, and the owner verifies at T, so the
    run's victims stand in for the same victims served at T.
    """
    results, config, data = load_run(run)
    served_at = config["serving"]["temperature"]
    if serving_temperature is not None:
        config["serving"]["temperature"] = float(serving_temperature)
    temperature = config["serving"]["temperature"]
    queries_data = load_queries(config, data)
    train = config["training"]
    epochs = epochs or config["extraction"]["epochs"] or total_epochs(config)
    rows = []
    for seed_result in results["seeds"]:
        seed = seed_result["seed"]
        folder, key = seed_key(run, seed_result)
        api = victim_api(run, seed, data, served_at, serving_temperature)
        if serving_temperature is not None:  # the control: the run's independent model, verified at T
            row = _independent_row(run, folder, seed_result, key, data, config)
            rows.append(row)
            if on_row:
                on_row(row)
            log(
                f"{row['run']} seed {seed} {row['setting']}: watermark "
                f"{100 * row['watermark_accuracy']:.2f}%, claimed by "
                f"{[t for t, c in row['claimed'].items() if c] or 'no test'}"
            )
        queries = thief_queries(config, data, queries_data, seed=seed)
        for thief_seed, (kind, adaptive) in itertools.product(thief_seeds, settings):
            start = time.perf_counter()
            student = thief_model(
                config, data, seed + pipeline.STOLEN_SEED_OFFSET + thief_seed
            )
            fit = dict(
                epochs=epochs, batch_size=train["batch_size"], learning_rate=train["learning_rate"],
                seed=seed + pipeline.STOLEN_SEED_OFFSET + thief_seed, verbose=0,
            )
            if adaptive is None:
                extracted = attacks.extract_model(api, queries, student, labels=attacks.label_transform(kind), **fit)
            else:
                extracted = attacks.adaptive_extract_model(
                    api, queries, student, config["attacks"]["snnl_layers"],
                    snnl_weight=adaptive[0], temperature=adaptive[1], **fit,
                )
            scored = pipeline.evaluate_suspect("re-extracted", extracted.model, data, key, config, seed)
            row = {
                **_scored_row(run, seed_result, key, config, scored),
                "thief_seed": thief_seed,
                "setting": _name(kind, adaptive)
                + ("" if serving_temperature is None else f", API at T = {temperature:g}"),
                "num_queries": extracted.num_queries,
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            if on_row:
                on_row(row)
            log(
                f"{row['run']} seed {seed} thief {thief_seed} {row['setting']}: accuracy {100 * row['accuracy']:.2f}%, "
                f"watermark {100 * row['watermark_accuracy']:.2f}% (run's stolen copy "
                f"{100 * row['stolen_in_run']:.2f}%), {row['decision_test']} p = "
                f"{row['p_values'][row['decision_test']]:.3g} ({row['seconds']} s)"
            )
    return rows


def _mean_std(values):
    values = 100 * np.asarray(values, "float64")
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.1f} ± {std:.1f}"


def _thief_spread(cells):
    """Mean over victims of the std (over thief seeds) of the copies' watermark accuracy."""
    by_victim = {}
    for r in cells:
        by_victim.setdefault(r["seed"], []).append(100 * r["watermark_accuracy"])
    spreads = [np.std(v, ddof=1) for v in by_victim.values() if len(v) > 1]
    return f"{np.mean(spreads):.1f}" if spreads else "–"


def _query_cost(cells):
    """Range of the decision test's query cost over copies ("–" for rows recorded before it was)."""
    if any("query_costs" not in r for r in cells):
        return "–"
    return query_cost_range([r["query_costs"][r["decision_test"]] for r in cells])


def markdown(rows):
    lines = [
        "| run | setting | task acc. % | watermark acc. % | claimed (decision test) | median p "
        "| query cost (decision test) | std between thieves of one victim |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs = list(dict.fromkeys(r["run"] for r in rows))
    for run in runs:
        mine = [r for r in rows if r["run"] == run]
        stolen = {r["seed"]: r["stolen_in_run"] for r in mine}
        lines.append(f"| {run} | the run's stolen copy | | {_mean_std(list(stolen.values()))} | | | | |")
        for setting in dict.fromkeys(r["setting"] for r in mine):
            cells = [r for r in mine if r["setting"] == setting]
            claimed = [r["claimed"][r["decision_test"]] for r in cells]
            p = np.median([r["p_values"][r["decision_test"]] for r in cells])
            lines.append(
                f"| {run} | {setting} | {_mean_std([r['accuracy'] for r in cells])} | "
                f"{_mean_std([r['watermark_accuracy'] for r in cells])} | "
                f"{sum(claimed)}/{len(claimed)} | {p:.2g} | {_query_cost(cells)} | {_thief_spread(cells)} |"
            )
    return "\n".join(lines)


def plot(rows, path):
    """Watermark accuracy of every copy (dots) and the mean (bar) per setting, one colour per run."""
    plt = pyplot()
    runs = list(dict.fromkeys(r["run"] for r in rows))
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(1.3 * len(settings) + 2, 3.4))
    for i, run in enumerate(runs):
        for j, setting in enumerate(settings):
            values = [100 * r["watermark_accuracy"] for r in rows if (r["run"], r["setting"]) == (run, setting)]
            if not values:
                continue
            x = j + (i - (len(runs) - 1) / 2) * width
            ax.bar(x, np.mean(values), width * 0.9, color=f"C{i}", alpha=0.35, label=run if j == 0 else None)
            ax.scatter(np.full(len(values), x), values, s=9, color=f"C{i}", zorder=3)
    ax.set_xticks(range(len(settings)), settings, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel("watermark accuracy of the copy %", fontsize=8)
    ax.set_ylim(-3, 103)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("re-extraction from the recipes' victims (dots: victim x thief seed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="recipe output folders (with results.json, seed-N/)")
    parser.add_argument(
        "--from-json", nargs="+", help="redo the table and plot of earlier --output files (rows joined)"
    )
    parser.add_argument("--labels", nargs="*", default=["soft"], help="label kinds (soft, hard, quantized:K, tempered:T)")
    parser.add_argument("--adaptive", nargs="*", default=[], help="adaptive extraction settings W,T")
    parser.add_argument(
        "--thief-seeds", type=int, nargs="*", default=[0],
        help="thief seeds per victim (0 is the recipe's own thief: soft labels repeat its stolen copy)",
    )
    parser.add_argument("--epochs", type=int, help="extraction epochs (default: the recipe's thief)")
    parser.add_argument(
        "--serving-temperature", type=float, nargs="+",
        help="the victims' APIs answer at this temperature and the owner verifies at it, as in a "
        "recipe run with --serving-temperature (the run's answers re-tempered from its own "
        "temperature); several values: every setting at each",
    )
    parser.add_argument("--output", help="JSON file for the rows (a .md table and a .png beside it)")
    args = parser.parse_args(argv)
    if args.from_json:
        rows = []
        for path in args.from_json:
            with open(path) as f:
                rows += json.load(f)["rows"]
        if args.output and args.output not in args.from_json:
            with open(args.output, "w") as f:
                json.dump({"joined": args.from_json, "rows": rows}, f, indent=1)
        args.output = args.output or args.from_json[0]
    elif args.runs:
        rows = []

        def save(row):  # after every copy: an interrupted run keeps what it measured
            rows.append(row)
            if args.output:
                with open(args.output, "w") as f:
                    json.dump({"settings": vars(args), "rows": rows}, f, indent=1)

        for run, temperature in itertools.product(args.runs, args.serving_temperature or [None]):
            attack_run(
                run, _settings(args), epochs=args.epochs, thief_seeds=args.thief_seeds, on_row=save,
                serving_temperature=temperature,
            )
    else:
        parser.error("give recipe output folders, or --from-json")
    table = markdown(rows)
    print(table)
    if args.output:
        with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
            f.write(table + "\n")
        plot(rows, os.path.splitext(args.output)[0] + ".png")


if __name__ == "__main__":
    main()
