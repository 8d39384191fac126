"""Checks a finished run's in-distribution keys for a trigger that moves models by itself.

    python benchmarks/trigger_check.py RUN_DIR [--output FILE.json]
    python benchmarks/trigger_check.py RUN_DIR --reference-datasets sst2 [--output FILE.json]

Replays the recipes' trigger check (`kwm.verification.measure_trigger_effect`, refused above
`--max-effect`) on every seed's key of a recipe run. By default the run's independent models (all
seeds; trained on the task without any watermark) stand in for the owner's reference models:
useful for runs made before the recipes checked their keys. With `--reference-datasets`, the
owner's reference panel of the run's recipe, as kwm trains it today, trained on the datasets
named ("" is the run's own task data; e.g. `sst2` beside an IMDB run), cached like the recipes'
reference models: a key the run accepted can be checked against models trained on other data of
the task. Prints, per seed, each model's effect (target rate with minus without the trigger),
whether the key would be refused, and the T-test margin the key would carry (the recipe's margin
plus the largest effect).
"""

import argparse
import glob
import json
import os

from kwm.verification import measure_trigger_effect
from kwm.watermarks import WatermarkKey


def _owner_panel(run, names):
    """The reference panel of `run`'s recipe trained on the datasets `names`, and the config."""
    from reextraction import load_run

    from kwm.recipes.data import load_other_datasets
    from kwm.recipes.reference_models import ReferenceModels, train_reference_models

    _, config, data = load_run(run)
    config["verification"]["reference_datasets"] = names
    config["verification"]["independent_datasets"] = []  # no suspects here: load no data for them
    cache = ReferenceModels(
        ReferenceModels.default_directory(), datasets=load_other_datasets(config, data)
    )
    models, descriptions = train_reference_models(config, data, cache, 0, print)
    return models, descriptions, config, cache.records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a recipe output folder (seed-*/watermark_key.json, ...)")
    parser.add_argument("--max-effect", type=float, default=None,
                        help="refusal bound (default: the run's verification.max_trigger_effect, "
                             "else 0.05)")
    parser.add_argument("--reference-datasets", nargs="+", default=None, metavar="NAME",
                        help="check with the recipe's reference panel trained on these datasets "
                             "(\"\": the run's task) instead of the run's independent models")
    parser.add_argument("--output", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    seeds = sorted(glob.glob(os.path.join(args.run, "seed-*")))
    margin, records = 0.1, None
    if args.reference_datasets is not None:
        models, names, config, records = _owner_panel(args.run, args.reference_datasets)
        margin = config["verification"]["t_test_margin"]
        max_effect = config["verification"]["max_trigger_effect"]
    else:
        models = [os.path.join(s, "independent_savedmodel") for s in seeds]
        names = models = [m for m in models if os.path.isdir(m)]
        max_effect = 0.05
    if args.max_effect is not None:
        max_effect = args.max_effect
    rows = []
    for seed in seeds:
        key = WatermarkKey.load(os.path.join(seed, "watermark_key.json"))
        row = {"seed": os.path.basename(seed), "key": key.short_fingerprint, "models": names}
        if key.reference_inputs is None:
            print(f"{row['seed']} key {row['key']}: out-of-distribution, no trigger to check")
            continue
        effect = measure_trigger_effect(key, models, names=names)
        row.update(
            refused=effect["value"] > max_effect, max_allowed=max_effect,
            trigger=key.trigger.get_config() if hasattr(key.trigger, "get_config") else None,
            t_test_margin=round(margin + max(effect["value"], 0.0), 12), **effect,
        )
        rows.append(row)
        print(f"{row['seed']} key {row['key']}: " + ("REFUSED" if row["refused"] else "accepted")
              + ", effects " + ", ".join(f"{100 * e:+.1f}" for e in row["effects"])
              + f"; T-test margin {row['t_test_margin']:.3g}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"run": args.run, "reference_models": records, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
