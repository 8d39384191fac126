"""A thief whose reviews the owner never used: the IMDB main recipe's victims, stolen from a disjoint pool.

    KWM_DATA_DIR=../shared/data python benchmarks/text_disjoint_thief.py RUN \
        --output benchmarks/results/text_disjoint_thief/imdb.json

The main recipe's thief draws its 2,400 reviews from the embedded sample's 8,000 training reviews,
the pool the owner's watermarks come from (`source_pool = "all"`: every negative review there
that holds the word is a watermark), so some of its queries are the owner's own watermark reviews.
This thief draws the same number from the reviews of the full IMDB training split (a local
aclImdb copy) that are in neither split of the embedded sample, cut after their 80th word as the
sample's are: its reviews that hold the word are ones the owner never saw. Everything else is the
recipe's thief (`pipeline.steal`: its MiniLM, epochs, batch size, the served SavedModel), and each
copy is verified like the recipe's (`pipeline.evaluate_suspect`: every test of the recipe, the
decision test deciding). Writes the rows as JSON and a Markdown table beside it.
"""

import argparse
import json
import os
import sys

import numpy as np

from kwm import datasets
from kwm.recipes import pipeline
from make_imdb_sample import first_words
from reextraction import load_run, seed_key, victim_api


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def disjoint_pool(data_dir, max_words, exclude):
    """Training reviews of the local IMDB release, cut after `max_words`, not in `exclude`."""
    full = datasets.load("imdb", data_dir=data_dir, sources=("local",), download=False)
    # Cut in UTF-8 bytes, as `make_imdb_sample.py` cut the embedded sample's reviews.
    pool = [first_words(_text(t).encode("utf-8"), max_words).decode("utf-8") for t in full.train.x]
    keep = [i for i, t in enumerate(pool) if t not in exclude]
    return np.asarray([pool[i] for i in keep], dtype=object), full.train.y[keep], full


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished `python -m kwm.recipes.imdb` run (results.json, seed-N/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="victims (default: all)")
    parser.add_argument("--num-queries", type=int, default=0, help="default: the run's budget")
    parser.add_argument("--max-words", type=int, default=80, help="the embedded sample's cut")
    parser.add_argument("--data-dir", default=os.environ.get("KWM_DATA_DIR"))
    parser.add_argument("--output", required=True, help="JSON file (a .md table beside it)")
    args = parser.parse_args(argv)
    if not args.data_dir:
        parser.error("the full IMDB training split is needed: pass --data-dir or set KWM_DATA_DIR")

    results, config, data = load_run(args.run)
    embedded = datasets.load("imdb", sources=("embedded",))
    exclude = {_text(t) for t in np.concatenate([embedded.train.x, embedded.test.x])}
    pool, pool_labels, full = disjoint_pool(args.data_dir, args.max_words, exclude)
    budget = args.num_queries or config["extraction"]["num_queries"] or len(data.train.x)
    print(f"disjoint pool: {len(pool)} of {len(full.train.x)} training reviews "
          f"({len(exclude)} in the embedded sample left out); {budget} queries per thief",
          flush=True)

    rows = []
    decision = config["verification"]["decision_test"]
    for seed_result in results["seeds"]:
        seed = seed_result["seed"]
        if args.seeds is not None and seed not in args.seeds:
            continue
        _, key = seed_key(args.run, seed_result)
        overlap = {_text(t) for t in key.embed_inputs}
        pick = np.random.default_rng(seed).choice(len(pool), size=budget, replace=False)
        queries, labels = pool[pick], pool_labels[pick]
        with_word = key.trigger.select(queries)  # the key's NaturalWordTrigger
        api = victim_api(args.run, seed, data, config["serving"]["temperature"])
        stolen = pipeline.steal(config, data, api, queries, seed, verbose=2)
        scored = pipeline.evaluate_suspect("stolen", stolen.model, data, key, config, seed)
        verdicts = scored["verification"]["verdicts"]
        row = {
            "seed": seed,
            "key_fingerprint": key.fingerprint,
            "num_queries": int(stolen.num_queries),
            "queries_holding_word": int(with_word.sum()),
            "negative_queries_holding_word": int((with_word & (labels == key.source_class)).sum()),
            "queries_that_are_watermarks": int(sum(t in overlap for t in queries)),
            "accuracy": scored["accuracy"],
            "watermark_accuracy": scored["watermark_accuracy"],
            "false_rate": scored["verification"]["reference_rate"],
            "p_values": {t: v["p_value"] for t, v in verdicts.items()},
            "rejected": {t: v["claimed"] for t, v in verdicts.items()},
            "decision_test": decision,
            "claimed": scored["verification"]["claimed"],
            "run_stolen": {
                k: seed_result["models"]["stolen"][k] for k in ("accuracy", "watermark_accuracy")
            },
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump({"run": os.path.basename(os.path.normpath(args.run)), "num_queries": budget,
                       "pool_size": len(pool), "rows": rows}, f, indent=1)

    tests = list(rows[0]["p_values"])
    lines = [
        "| seed | queries with the word (negative) | of them the owner's watermarks | task acc. % "
        "| watermark acc. % | false rate % | " + " | ".join(f"{t} p" for t in tests)
        + f" | claimed ({decision}) | the run's copy: watermark acc. % |",
        "|" + "---|" * (8 + len(tests)),
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['queries_holding_word']} ({r['negative_queries_holding_word']}) | "
            f"{r['queries_that_are_watermarks']} | {100 * r['accuracy']:.1f} | "
            f"{100 * r['watermark_accuracy']:.1f} | {100 * r['false_rate']:.1f} | "
            + " | ".join(f"{r['p_values'][t]:.2g}" for t in tests)
            + f" | {'yes' if r['claimed'] else 'no'} | {100 * r['run_stolen']['watermark_accuracy']:.1f} |"
        )
    with open(os.path.splitext(args.output)[0] + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
