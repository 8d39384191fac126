"""Checks a finished run's in-distribution keys for a trigger that moves models by itself.

    python benchmarks/trigger_check.py RUN_DIR [--output FILE.json]

Replays the recipes' trigger check (`kwm.verification.measure_trigger_effect`, refused above
`--max-effect`) on every seed's key of a recipe run, with the run's independent models (all
seeds; trained on the task without any watermark) standing in for the owner's reference models. Useful for runs made before the recipes checked their keys.
Prints, per seed, the target rate of each model with and without the trigger and whether the
key would be refused.
"""

import argparse
import glob
import json
import os

from kwm.verification import measure_trigger_effect
from kwm.watermarks import WatermarkKey


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a recipe output folder (seed-*/watermark_key.json, ...)")
    parser.add_argument("--max-effect", type=float, default=0.05)
    parser.add_argument("--output", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    seeds = sorted(glob.glob(os.path.join(args.run, "seed-*")))
    models = [os.path.join(s, "independent_savedmodel") for s in seeds]
    models = [m for m in models if os.path.isdir(m)]
    rows = []
    for seed in seeds:
        key = WatermarkKey.load(os.path.join(seed, "watermark_key.json"))
        row = {"seed": os.path.basename(seed), "key": key.short_fingerprint, "models": models}
        if key.reference_inputs is None:
            print(f"{row['seed']} key {row['key']}: out-of-distribution, no trigger to check")
            continue
        effect = measure_trigger_effect(key, models, names=models)
        row.update(refused=effect["value"] > args.max_effect, max_allowed=args.max_effect, **effect)
        rows.append(row)
        print(f"{row['seed']} key {row['key']}: " + ("REFUSED" if row["refused"] else "accepted")
              + ", effects " + ", ".join(f"{100 * e:+.1f}" for e in row["effects"]))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
