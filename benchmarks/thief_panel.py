"""The thief panel: copies made by thieves kwm did not write, from the recipes' served victims.

    KWM_DATA_DIR=../shared/data python benchmarks/thief_panel.py RUN [RUN ...] \
        --temperatures 1 4 --output benchmarks/results/thief_panel/NAME.json

A recipe run keeps each seed's served victim (`seed-N/victim_savedmodel`) and key. For every
victim and every API temperature T (the run's answers re-tempered to T, exactly as
`benchmarks/reextraction.py` does), the thief's queries (the recipe's) are answered once and every
thief of `kwm.attacks.THIEVES` (or `--thieves NAME ...`) trains its own copy on those answers:
other architectures, dropout, label smoothing, other optimisers, schedules and batch sizes, a KL
loss, a hand-written training loop, top-1 labels. Each copy is verified like a recipe's suspect,
the owner verifying at T; each seed's independent model is verified at every T too (a claim
there would be a false accusation). Writes the rows as JSON (after every copy), and a Markdown
table beside it: per run, temperature and thief, the copies claimed by the decision test and
by each test, their watermark accuracy, and their watermark accuracy minus their false rate
(on the trigger-free references for in-distribution keys; for out-of-distribution keys the
rate the key records on the owner's reference models).

`--suspects copy innocent_twin` also trains, for every thief, its innocent twin: the same
architecture, training code, seed and queries, on the queries' true labels instead of the API's
answers, verified as an innocent suspect (a claim there would be a false accusation against a model
of the thief's making). `--suspects innocent_twin` trains the twins alone.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from kwm import attacks
from kwm.recipes import pipeline
from kwm.recipes.data import load_queries, thief_queries
from kwm.recipes.models import total_epochs
from reextraction import load_run, seed_key, victim_api


def false_rate(verification, key):
    """The rate a suspect's watermark accuracy is compared with."""
    if verification["reference_rate"] is not None:
        return verification["reference_rate"]
    return key.false_rate["value"] if key.false_rate else 1.0 / key.num_classes


def _row(run, config, seed, key, temperature, suspect, scored, extra):
    verification = scored["verification"]
    verdicts = verification["verdicts"]
    rate = false_rate(verification, key)
    return {
        "run": os.path.basename(os.path.normpath(run)),
        "method": config["experiment"]["method"],
        "seed": seed,
        "key_fingerprint": key.fingerprint,
        "temperature": temperature,
        "suspect": suspect,
        "accuracy": scored["accuracy"],
        "watermark_accuracy": scored["watermark_accuracy"],
        "false_rate": rate,
        "watermark_minus_false_rate": scored["watermark_accuracy"] - rate,
        "p_values": {t: v["p_value"] for t, v in verdicts.items()},
        "rejected": {t: v["claimed"] for t, v in verdicts.items()},
        "decision_test": verification["decision_test"],
        "claimed": verification["claimed"],
        **extra,
    }


SUSPECTS = ("copy", "innocent_twin")


def panel_run(run, thieves, temperatures, thief_seeds=(0,), log=print, on_row=None,
              victim_seeds=None, suspects=("copy",)):
    """Every thief on every victim of one recipe output folder, at each API temperature.

    `victim_seeds` keeps the victims of those recipe seeds only (None: every seed of the run).
    `suspects`: `"copy"`, each thief's copy trained on the API's answers; `"innocent_twin"`,
    a model trained exactly the thief's way (architecture, code, seed, queries) on the queries'
    true labels instead: an innocent suspect of the thief's architecture and training code.
    """
    results, config, data = load_run(run)
    if victim_seeds is not None:
        missing = sorted(set(victim_seeds) - {r["seed"] for r in results["seeds"]})
        if missing:
            raise ValueError(f"The run {run} has no seed {missing}. Received: {victim_seeds}")
    served_at = config["serving"]["temperature"]
    if thieves is None:
        thieves = attacks.available_thieves(data.modality)
    wrong = [n for n in thieves if not attacks.get_thief(n).applies_to(data.modality)]
    if wrong:
        raise ValueError(
            f"The run {run} is a {data.modality} task; these thieves steal other models "
            f"(known for {data.modality}: {attacks.available_thieves(data.modality)}). "
            f"Received: {wrong}"
        )
    queries_data = load_queries(config, data)
    # A thief that does not name its own uses the recipe's thief's epochs, rate and batch size.
    recipe_thief = {
        "epochs": config["extraction"]["epochs"] or total_epochs(config),
        "learning_rate": config["training"]["learning_rate"],
        "batch_size": config["training"]["batch_size"],
    }
    victim_options = {"dropout": config["model"]["dropout"], **config["model"]["options"]}
    rows = []

    def add(row):
        rows.append(row)
        if on_row:
            on_row(row)

    for seed_result in results["seeds"]:
        seed = seed_result["seed"]
        if victim_seeds is not None and seed not in victim_seeds:
            continue
        folder, key = seed_key(run, seed_result)
        queries, truth = thief_queries(config, data, queries_data, seed=seed, labels=True)
        true_answers = np.eye(data.num_classes, dtype="float32")[np.asarray(truth, "int64")]
        twins = {}

        def train(thief, thief_seed, answers):  # the thief's copy, on whichever labels it is given
            return attacks.steal(
                thief, api, queries, data.input_shape, data.num_classes,
                config["model"]["architecture"], victim_options, **recipe_thief,
                seed=seed + pipeline.STOLEN_SEED_OFFSET + thief_seed, answers=answers,
            )

        for temperature in temperatures:
            # The owner verifies at the API's temperature (`evaluate_suspect` reads it here).
            config_at = {**config, "serving": {**config["serving"], "temperature": float(temperature)}}
            api = victim_api(run, seed, data, served_at,
                             None if temperature == served_at else temperature)
            answers = api(queries)
            scored = pipeline.evaluate_suspect(
                "independent", os.path.join(folder, "independent_savedmodel"), data, key,
                config_at, seed,
            )
            add(_row(run, config_at, seed, key, temperature, "independent", scored,
                     {"thief": None, "soft_labels": None, "thief_seed": None}))
            for thief_seed in thief_seeds:
                for name in thieves:
                    thief = attacks.get_thief(name)
                    if "innocent_twin" in suspects:
                        start = time.perf_counter()
                        if (thief_seed, name) not in twins:  # the same at every temperature
                            twins[thief_seed, name] = train(thief, thief_seed, true_answers).model
                        scored = pipeline.evaluate_suspect(
                            f"innocent twin of {name}", twins[thief_seed, name], data, key,
                            config_at, seed,
                        )
                        row = _row(run, config_at, seed, key, temperature, "innocent_twin",
                                   scored, {"thief": name, "soft_labels": None,
                                            "thief_seed": thief_seed, "num_queries": 0,
                                            "seconds": round(time.perf_counter() - start, 1)})
                        add(row)
                        log(_line(row, seed, temperature, f"{name} (true labels, innocent)"))
                    if "copy" not in suspects:
                        continue
                    start = time.perf_counter()
                    copy = train(thief, thief_seed, answers)
                    scored = pipeline.evaluate_suspect(
                        f"copy by {name}", copy.model, data, key, config_at, seed
                    )
                    row = _row(run, config_at, seed, key, temperature, "copy", scored, {
                        "thief": name, "soft_labels": thief.soft_labels,
                        "thief_seed": thief_seed, "num_queries": copy.num_queries,
                        "seconds": round(time.perf_counter() - start, 1),
                    })
                    add(row)
                    log(_line(row, seed, temperature, name))
    return rows


def _line(row, seed, temperature, label):
    return (
        f"{row['run']} seed {seed} T={temperature:g} {label}: task "
        f"{100 * row['accuracy']:.2f}%, watermark {100 * row['watermark_accuracy']:.1f}% "
        f"(false rate {100 * row['false_rate']:.1f}%), claimed {row['claimed']} "
        f"({row['seconds']} s)"
    )


def _mean_std(values, scale=100):
    values = scale * np.asarray(values, "float64")
    std = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.1f} ± {std:.1f}"


def _table_row(run, temperature, label, cells, tests, bold=False):
    mark = "**" if bold else ""
    return (
        f"| {run} | {temperature:g} | {mark}{label}{mark} | {len(cells)} | "
        f"{mark}{sum(r['claimed'] for r in cells)}/{len(cells)}{mark} | "
        + " | ".join(f"{sum(r['rejected'][t] for r in cells)}/{len(cells)}" for t in tests)
        + f" | {_mean_std([r['accuracy'] for r in cells])} | "
        f"{_mean_std([r['watermark_accuracy'] for r in cells])} | "
        f"{_mean_std([r['watermark_minus_false_rate'] for r in cells])} |"
    )


def _label(row):
    if row["suspect"] == "independent":
        return "independent model"
    if row["suspect"] == "innocent_twin":
        return f"{row['thief']}, true labels (innocent twin)"
    return row["thief"]


def markdown(rows):
    tests = sorted({t for r in rows for t in r["rejected"]})
    lines = [
        "| run | T | thief | models | claimed (decision test) | "
        + " | ".join(f"{t} H0 rejected" for t in tests)
        + " | task acc. % | watermark acc. % | watermark − false rate, points |",
        "|---|---|---|---|---|" + "---|" * len(tests) + "---|---|---|",
    ]
    groups = {}
    for r in rows:
        groups.setdefault((r["run"], r["temperature"]), []).append(r)
    for (run, temperature), mine in groups.items():
        labels = list(dict.fromkeys(_label(r) for r in mine))
        for label in labels:
            cells = [r for r in mine if _label(r) == label]
            lines.append(_table_row(run, temperature, label, cells, tests))
        copies = [r for r in mine if r["suspect"] == "copy"]
        soft = [r for r in copies if r["soft_labels"]]
        hard = [r for r in copies if r["soft_labels"] is False]
        twins = [r for r in mine if r["suspect"] == "innocent_twin"]
        for label, cells in (("all soft-label copies", soft), ("all top-1-label copies", hard),
                             ("all innocent twins (true labels)", twins)):
            if cells:
                lines.append(_table_row(run, temperature, label, cells, tests, bold=True))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="recipe output folders (results.json, seed-N/)")
    parser.add_argument(
        "--thieves", nargs="+", default=["all"],
        help="thieves of kwm.attacks.THIEVES (default all those of each run's modality: "
             f"{', '.join(attacks.available_thieves())})",
    )
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0],
                        help="API temperatures; the owner verifies at each")
    parser.add_argument("--thief-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--victim-seeds", type=int, nargs="+", default=None,
                        help="the recipe seeds whose victims are stolen (default: every seed)")
    parser.add_argument(
        "--suspects", nargs="+", choices=SUSPECTS, default=["copy"],
        help="copy: each thief's copy; innocent_twin: a model trained the thief's way on the "
        "queries' true labels (an innocent of the thief's architecture and code)",
    )
    parser.add_argument("--output", required=True, help="JSON file (a .md table beside it)")
    args = parser.parse_args(argv)
    thieves = None if args.thieves == ["all"] else args.thieves
    for name in thieves or ():
        if name not in attacks.THIEVES:
            parser.error(f"unknown thief; known: {attacks.available_thieves()}. Received: {name!r}")
    if any(not t > 0 for t in args.temperatures):
        parser.error(f"temperatures must be positive. Received: {args.temperatures}")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    command = "python benchmarks/thief_panel.py " + " ".join(sys.argv[1:] if argv is None else argv)
    rows = []

    def used():
        return list(dict.fromkeys(r["thief"] for r in rows if r["thief"]))

    def save(row):
        rows.append(row)
        with open(args.output, "w") as f:
            json.dump({"command": command, "thieves": {n: attacks.get_thief(n).to_dict()
                                                       for n in used()}, "rows": rows}, f,
                      separators=(",", ":"))

    for run in args.runs:  # every run checked before the first copy is trained
        with open(os.path.join(run, "results.json")) as f:
            seeds = {r["seed"] for r in json.load(f)["seeds"]}
        if args.victim_seeds and not set(args.victim_seeds) <= seeds:
            parser.error(f"the run {run} has seeds {sorted(seeds)}. "
                         f"Received: --victim-seeds {args.victim_seeds}")
    for run in args.runs:
        panel_run(run, thieves, args.temperatures, args.thief_seeds, on_row=save,
                  victim_seeds=args.victim_seeds, suspects=args.suspects)
    table = markdown(rows)
    with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
        f.write(
            "# Thief panel\n\nEvery thief of the panel (`kwm.attacks.THIEVES` for the run's "
            "modality, or those named) steals each served victim "
            "from the same answers; the owner verifies each copy with the victim's key at the "
            "API's temperature. Claimed: kwm's decision rule; H0 rejected: each test's own "
            "verdict (evidence)."
            + (" Innocent twins: each thief's architecture, code, seed and queries trained on "
               "the queries' true labels instead of the API's answers (innocent suspects)."
               if "innocent_twin" in args.suspects else "")
            + f"\n\n`{command}`\n\n" + table + "\n\n| thief | what it changes |\n"
            "|---|---|\n" + "\n".join(f"| {n} | {attacks.get_thief(n).description} |"
                                     for n in used()) + "\n"
        )
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
