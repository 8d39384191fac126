"""What a natural-word run's thief sent that the owner's key holds.

    python benchmarks/text_thief_overlap.py RUN

A thief's ordinary queries hold the key's word as writers put it; that is how the rule reaches the
copy. This counts, for each seed of a finished natural-word run, the thief's queries (drawn again
as the run drew them, `recipes.data.thief_queries`), those that hold the word where the key looks
for it, those that are watermarks of the key, and the key's verification texts the thief sent or
sent part of (a query with the word that is, holds or is held by a verification text): a
verification text the thief asked about is not held out from the copy, so the stolen copy (its
SavedModel) is also scored on the verification texts the thief did not touch and on those it did:
the share it answers with the target, with the word and without it. Prints one JSON line a seed.
"""

import argparse
import json

import os

import numpy as np

from kwm import PredictionAPI
from kwm.recipes.data import load_queries, thief_queries
from reextraction import load_run, seed_key


def overlap(queries, key):
    """Counts of `queries` (texts) against a natural-word `key`."""
    queries = [str(t) for t in queries]
    with_word = [t for t, s in zip(queries, key.trigger.select(np.array(queries, dtype=object))) if s]
    watermarks = {str(t) for t in key.embed_inputs}
    verify = [str(t) for t in key.verify_inputs]
    sent = set(queries)
    touched = np.array([any(v in t or t in v for t in with_word) for v in verify])
    return touched, {
        "queries": len(queries),
        "with_word": len(with_word),
        "watermarks_sent": sum(t in watermarks for t in queries),
        "verification_texts": len(verify),
        "verification_sent": sum(v in sent for v in verify),
        "verification_overlapped": int(touched.sum()),
    }


def copy_rates(api, key, touched):
    """The share of the verification texts, with the word and without it, that the served copy
    answers with the target, on those the thief did not touch and on those it did (%)."""
    with_word = np.asarray(api(key.verify_inputs)).argmax(-1) == key.target_class
    without = np.asarray(api(key.reference_inputs)).argmax(-1) == key.target_class
    return {
        f"copy_{part}": {
            "texts": int(mask.sum()),
            "watermark": 100 * float(with_word[mask].mean()) if mask.any() else None,
            "false_rate": 100 * float(without[mask].mean()) if mask.any() else None,
        }
        for part, mask in (("untouched", ~touched), ("touched", touched))
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished natural-word recipe run (results.json, keys)")
    args = parser.parse_args(argv)
    results, config, data = load_run(args.run)
    queries = load_queries(config, data)
    for seed_result in results["seeds"]:
        folder, key = seed_key(args.run, seed_result)
        sent = thief_queries(config, data, queries, seed_result["seed"])
        touched, counts = overlap(sent, key)
        api = PredictionAPI(os.path.join(folder, "stolen_savedmodel"), num_classes=data.num_classes)
        row = {"seed": seed_result["seed"], **counts, **copy_rates(api, key, touched)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
