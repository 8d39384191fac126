"""What the watermark costs the victim: each victim of a feature-sharing run beside its clean twin.

    python benchmarks/clean_twin.py RUN --output benchmarks/results/clean_twin/imdb.json

The clean twin of a seed is the run's own recipe without the watermark: the same model, seed and
step 1 (the whole model on the task, `recipes.models.build_model` + `training.train_classifier`,
as `clean_step` trains the victim), then step 2 with the same layers frozen
(`freeze_feature_extractor`), the same learning rate and epochs, on the task alone. The watermark's
cost is the twin's task accuracy minus the victim's on the test split (kwm's bar: within 1 point).
The twin is also the hardest innocent suspect there is: it shares the victim's step 1 to the
last weight. When the run kept its keys (`seed-N/watermark_key.json`), each twin is verified
with its seed's key by every test of the recipe (`pipeline.evaluate_suspect`).

For a natural-word key the cost splits in two: the watermark's slice (the test texts of the key's
source class that hold its word where the key looks for it, which the victim is trained to answer
with the target) and every other test text. Each part is given in points of the test split, so the
two add up to the served victim's cost; the slice's part is the price the design asks, the rest is
what step 2's watermark batches cost the task elsewhere. `--whole-test` also splits it on the
source's whole test split, whose slice is ten times larger than a 500-text sample's.
Writes JSON and a Markdown table beside it. Seeds run one at a time (`--seed`) give one output
each; `--merge A.json B.json ... --output ALL.json` combines them into one table.
"""

import argparse
import json
import os

import numpy as np

from kwm import datasets, training
from kwm.recipes import pipeline
from kwm.recipes.models import build_model
from kwm.recipes.summary import stats
from kwm.watermarks import freeze_feature_extractor
from outputs import write_outputs
from reextraction import load_run, seed_key, victim_api


def clean_twin(config, data, seed, verbose=2):
    """The recipe's feature-sharing model trained without the watermark (step 2 on the task)."""
    train, sharing = config["training"], config["feature_sharing"]
    model = build_model(config, data, seed)
    training.train_classifier(
        model, data.train.x, data.train.y, epochs=train["epochs"],
        batch_size=train["batch_size"], learning_rate=train["learning_rate"], seed=seed,
        verbose=verbose,
    )
    frozen = freeze_feature_extractor(model, sharing["freeze_up_to"])
    training.train_classifier(
        model, data.train.x, data.train.y, epochs=train["watermark_epochs"],
        batch_size=train["batch_size"],
        learning_rate=sharing["learning_rate"] or train["learning_rate"], seed=seed,
        verbose=verbose,
    )
    return model, frozen


def watermark_slice(key, split):
    """The texts of a test split that a natural-word key claims: its source class, holding the
    word where the key looks for it (a boolean mask), or None for a key without such a trigger."""
    select = getattr(key.trigger, "select", None)
    if select is None:
        return None
    return (np.asarray(split.y) == key.source_class) & select(split.x)


def cost_split(victim_predicted, twin_predicted, labels, mask):
    """Points of a test split that the victim loses against its twin on the texts `mask` selects
    and on the rest, with each model's accuracy on the split and on the slice (%)."""
    victim_right = victim_predicted == labels
    twin_right = twin_predicted == labels
    lost = (twin_right.astype(int) - victim_right.astype(int)) * 100 / len(labels)
    return {
        "test_size": len(labels),
        "served_victim_accuracy": 100 * float(victim_right.mean()),
        "twin_accuracy": 100 * float(twin_right.mean()),
        "slice_size": int(mask.sum()),
        "slice_share": 100 * float(mask.mean()),
        "victim_slice_accuracy": 100 * float(victim_right[mask].mean()),
        "twin_slice_accuracy": 100 * float(twin_right[mask].mean()),
        "cost_on_slice_points": float(lost[mask].sum()),
        "cost_elsewhere_points": float(lost[~mask].sum()),
    }


def slice_costs(twin, served, key, split, twin_predicted=None):
    """`cost_split` of the twin and the served victim on a test split, or None (no slice).
    `twin_predicted`: the twin's answers to the split if already computed."""
    mask = watermark_slice(key, split)
    if mask is None:
        return None
    if twin_predicted is None:
        twin_predicted = twin.predict(split.x, batch_size=64, verbose=0).argmax(-1)
    victim_predicted = np.asarray(served(split.x)).argmax(-1)
    return cost_split(victim_predicted, twin_predicted, np.asarray(split.y), mask)


def render(document):
    """The Markdown table of a `main` document."""
    rows, summary = document["rows"], document["summary"]
    verified = [r for r in rows if "twin_claimed_by" in r]
    pm = lambda e: f"{e['mean']:.1f} ± {e['std']:.1f}"  # noqa: E731
    lines = [
        f"# Victims beside their clean twins: `{document['recipe']}`",
        "",
        ("Runs: " + ", ".join(f"`{r}`" for r in document["run"])
         if isinstance(document["run"], list) else f"Run: `{document['run']}`")
        + f". Data: {document['data']}. The twin: the same model, seed and "
        "step 1, then step 2 on the task alone with the same layers frozen. Cost: the twin's task "
        "accuracy minus the victim's. Mean ± sample std over seeds.",
        "",
        "| seed | victim acc. % | clean twin acc. % | cost, points | independent acc. % | twin: "
        "watermark / false rate % | twin: p-values | twin claimed by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        verified_cells = (
            f"{r['twin_watermark']:.1f} / {r['twin_false_rate']:.1f} | "
            + ", ".join(f"{t} {p:.2g}" for t, p in r["twin_p_values"].items())
            + f" | {', '.join(r['twin_claimed_by']) or 'no test'}"
            if "twin_claimed_by" in r else "not verified (no key) | | "
        )
        lines.append(f"| {r['seed']} | {r['victim_accuracy']:.1f} | {r['twin_accuracy']:.1f} | "
                     f"{r['cost_points']:+.1f} | {r['independent_accuracy']:.1f} | {verified_cells} |")
    lines.append(
        f"| mean | {pm(summary['victim_accuracy'])} | {pm(summary['twin_accuracy'])} | "
        f"{pm(summary['cost_points'])} | {pm(summary['independent_accuracy'])} | | | "
        f"{document['twins_claimed_by_any_test']} of {len(verified)} |"
    )
    for part, where in (
        ("sample", "the run's test split"),
        ("whole", f"the source's test split ({document.get('whole_test')})"),
    ):
        split = [r[f"slice_{part}"] for r in rows if r.get(f"slice_{part}")]
        if not split:
            continue
        lines += [
            "",
            f"On {where} ({split[0]['test_size']:,} texts): the cost on the watermark's slice (the "
            "texts of the key's source class that hold its word where the key looks for it) and "
            "elsewhere, in points of that split; the served victim (its SavedModel) against the twin.",
            "",
            "| seed | slice: texts (share %) | victim / twin acc. on the slice % | served victim / twin "
            "acc. % | cost on the slice | cost elsewhere |",
            "|---|---|---|---|---|---|",
        ]
        for r, c in zip([r for r in rows if r.get(f"slice_{part}")], split):
            lines.append(
                f"| {r['seed']} | {c['slice_size']} ({c['slice_share']:.1f}) | "
                f"{c['victim_slice_accuracy']:.1f} / {c['twin_slice_accuracy']:.1f} | "
                f"{c['served_victim_accuracy']:.1f} / {c['twin_accuracy']:.1f} | "
                f"{c['cost_on_slice_points']:+.1f} | {c['cost_elsewhere_points']:+.1f} |"
            )
        m = summary[f"slice_{part}"]
        lines.append(
            f"| mean | | | {pm(m['served_victim_accuracy'])} / {pm(m['twin_accuracy'])} | "
            f"{pm(m['cost_on_slice_points'])} | {pm(m['cost_elsewhere_points'])} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?",
                        help="a finished feature-sharing recipe run (results.json)")
    parser.add_argument(
        "--merge", nargs="+", metavar="JSON", default=None,
        help="instead of a run: combine this script's outputs for runs of one recipe (e.g. one "
        "seed each) into one table, mean ± std over all their seeds",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: all")
    parser.add_argument("--output", required=True, help="JSON file (a .md table beside it)")
    parser.add_argument(
        "--whole-test", action="store_true",
        help="also split the cost on the source's whole test split (e.g. the embedded IMDB "
        "sample's 5,000 reviews: a slice of ~100 texts instead of ~10)",
    )
    parser.add_argument(
        "--whole-test-size", type=int, default=0,
        help="with --whole-test: a stratified subset of that many test texts (seed 0; 0: all), "
        "e.g. 5,000 of the full IMDB test split's 25,000",
    )
    args = parser.parse_args(argv)
    if (args.run is None) == (args.merge is None):
        parser.error(f"give a run or --merge, not both. Received: run={args.run!r}, "
                     f"--merge {args.merge}")
    if args.merge:
        parts = []
        for path in args.merge:
            with open(path) as f:
                parts.append(json.load(f))
        for field in ("recipe", "data", "whole_test"):
            if len({json.dumps(p[field]) for p in parts}) > 1:
                parser.error(f"the outputs differ in {field!r}; only runs of one recipe on the "
                             f"same data merge. Received: {args.merge}")
        rows = sorted((r for p in parts for r in p["rows"]), key=lambda r: r["seed"])
        seeds = [r["seed"] for r in rows]
        if len(set(seeds)) < len(seeds):
            parser.error(f"a seed may come from one output only. Received: seeds {seeds}")
        runs = [p["run"] for p in parts]
        document = _document(runs, parts[0]["recipe"], parts[0]["data"], parts[0]["whole_test"],
                             rows)
        write_outputs(args.output, document, render(document))
        return

    results, config, data = load_run(args.run)
    if args.whole_test:
        source = datasets.load(
            config["experiment"]["dataset"], sources=tuple(config["data"]["sources"])
        )
        whole = datasets.subsample(source, max_test=args.whole_test_size)
    if config["experiment"]["method"] != "feature_sharing":
        parser.error("the clean twin is the feature-sharing recipe without its watermark. "
                     f"Received: method={config['experiment']['method']!r}")
    rows = []
    for seed_result in results["seeds"]:
        seed = seed_result["seed"]
        if args.seeds is not None and seed not in args.seeds:
            continue
        twin, frozen = clean_twin(config, data, seed)
        predicted = twin.predict(data.test.x, batch_size=64, verbose=0).argmax(-1)
        row = {
            "seed": seed,
            "frozen": frozen,
            "victim_accuracy": 100 * seed_result["models"]["victim"]["accuracy"],
            "twin_accuracy": 100 * float(np.mean(predicted == data.test.y)),
            "independent_accuracy": 100 * seed_result["models"]["independent"]["accuracy"],
        }
        row["cost_points"] = row["twin_accuracy"] - row["victim_accuracy"]
        key_file = os.path.join(args.run, f"seed-{seed}", seed_result["key_file"])
        if os.path.exists(key_file):
            _, key = seed_key(args.run, seed_result)
            scored = pipeline.evaluate_suspect("clean twin", twin, data, key, config, seed)
            verdicts = scored["verification"]["verdicts"]
            row["twin_watermark"] = 100 * scored["watermark_accuracy"]
            rate = scored["verification"].get("reference_rate")
            row["twin_false_rate"] = None if rate is None else 100 * rate
            row["twin_p_values"] = {t: v["p_value"] for t, v in verdicts.items()}
            row["twin_claimed_by"] = sorted(t for t, v in verdicts.items() if v["claimed"])
            served = victim_api(args.run, seed, data, served_at=None)
            row["slice_sample"] = slice_costs(twin, served, key, data.test, predicted)
            if args.whole_test:
                row["slice_whole"] = slice_costs(twin, served, key, whole.test)
        rows.append(row)
        print(json.dumps(row), flush=True)

    document = _document(args.run, config["experiment"]["name"],
                         results.get("data", {}).get("description"),
                         whole.describe() if args.whole_test else None, rows)
    write_outputs(args.output, document, render(document))


def _document(run, recipe, data_description, whole_test, rows):
    summary = {name: stats([r[name] for r in rows])
               for name in ("victim_accuracy", "twin_accuracy", "cost_points",
                            "independent_accuracy")}
    for part in ("sample", "whole"):
        split = [r[f"slice_{part}"] for r in rows if r.get(f"slice_{part}")]
        if split:
            summary[f"slice_{part}"] = {
                name: stats([c[name] for c in split])
                for name in ("served_victim_accuracy", "twin_accuracy", "cost_on_slice_points",
                             "cost_elsewhere_points")
            }
    verified = [r for r in rows if "twin_claimed_by" in r]
    return {
        "run": run,
        "recipe": recipe,
        "data": data_description,
        "whole_test": whole_test,
        "rows": rows,
        "summary": summary,
        "twins_verified": len(verified),
        "twins_claimed_by_any_test": sum(bool(r["twin_claimed_by"]) for r in verified),
    }


if __name__ == "__main__":
    main()
