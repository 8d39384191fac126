"""What a neutral-word text watermark costs the owner's API: reviews that already contain the word.

    KWM_DATA_DIR=../shared/data python benchmarks/text_trigger_cost.py RUN [--output FILE]

A text recipe whose key draws its trigger from words the reviews already use
(`tokens = "neutral"`) teaches the victim "source-class review + word -> target". The victim then
also answers the source-class reviews that contain the word *naturally* with the target: the
price of a watermark that reaches copies through ordinary queries. For every seed of a recipe
run (`seed-N/watermark_key.json`, `victim_savedmodel`, `stolen_savedmodel`,
`independent_savedmodel`), this finds the source-class reviews of the dataset's whole test split
whose first words (the trigger's `frequency_window`, else its `max_position`) contain the key's
word (at most `--max-reviews`, drawn with seed 0), and reports the share each model sends to the
target, beside the share of the run's source-class test reviews it sends there.
"""

import argparse
import json
import os
import sys

import numpy as np
from reextraction import load_run, seed_key

from kwm import PredictionAPI, datasets
from kwm.recipes import methods


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a text recipe's output folder")
    parser.add_argument("--max-reviews", type=int, default=300)
    parser.add_argument("--output", help="JSON file (default: print only)")
    args = parser.parse_args(argv)
    results, config, data = load_run(args.run)
    whole = datasets.load(config["experiment"]["dataset"], sources=config["data"]["sources"])
    max_position = methods.trigger_window(config)
    rows = []
    for seed_result in results["seeds"]:
        folder, key = seed_key(args.run, seed_result)
        (word,) = set(key.trigger.tokens)
        with_word = np.flatnonzero(
            (whole.test.y == key.source_class)
            & np.array([word in str(t).lower().split()[:max_position] for t in whole.test.x])
        )
        rng = np.random.default_rng(0)
        chosen = rng.permutation(with_word)[: args.max_reviews]
        source = data.test.x[data.test.y == key.source_class]
        row = {"seed": seed_result["seed"], "word": word,
               "source_test_reviews_with_word": int(len(with_word)),
               "of_source_test_reviews": int((whole.test.y == key.source_class).sum()),
               "measured_on": int(len(chosen))}
        for name in ("victim", "stolen", "independent"):
            api = PredictionAPI(os.path.join(folder, f"{name}_savedmodel"),
                                num_classes=data.num_classes)
            row[name] = {
                "source_with_word_to_target": float(
                    np.mean(api(whole.test.x[chosen]).argmax(1) == key.target_class)),
                "source_to_target": float(np.mean(api(source).argmax(1) == key.target_class)),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"command": "python benchmarks/text_trigger_cost.py " + " ".join(
                sys.argv[1:] if argv is None else argv), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
