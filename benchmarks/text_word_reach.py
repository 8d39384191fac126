"""Where a natural-word watermark reaches: a run's served models on groups of test texts.

    python benchmarks/text_word_reach.py RUN --output benchmarks/results/text_word_reach/imdb.json

A natural-word key claims the source-class texts that hold its word among their first `max_words`
words (its slice). A model that learnt the watermark may answer more texts with the target than
those: texts that hold the word only after the window, and texts that hold a related form of it
(another word with the same first five letters: "watch", "watched" for "watching"). For each seed
of a finished natural-word run, every served model (victim, stolen copy, independent models) answers
the source-class texts of the source's whole test split in four groups (the slice; the word only
after the window; a related form in the window and not the word; 500 of the rest, drawn with seed 0)
and 500 target-class texts; the table gives the share answered with the target. What the victim
does beyond its slice is part of the watermark's price (`benchmarks/clean_twin.py`).
Writes JSON and a Markdown table beside it.
"""

import argparse
import json
import os

import numpy as np

from kwm import PredictionAPI, datasets
from kwm.recipes.summary import stats
from kwm.watermarks import NaturalWordTrigger
from outputs import write_outputs
from reextraction import load_run, seed_key

GROUPS = ("slice", "after_window", "related_form", "other_source", "target_class")
LABELS = {
    "slice": "the word in the window (the slice)",
    "after_window": "the word only after the window",
    "related_form": "a related form in the window, not the word",
    "other_source": "other source-class texts (500 drawn)",
    "target_class": "target-class texts (500 drawn): answered right",
}


def _words(text):
    return [w.strip(".,;:!?\"'()[]{}<>-*/").lower() for w in str(text).split()]


def text_groups(split, trigger, source_class, target_class, sample=500, seed=0):
    """Indices of `split` in each of `GROUPS` for a natural-word trigger."""
    y = np.asarray(split.y)
    source = np.flatnonzero(y == source_class)
    prefix = trigger.word[:5]
    words = [_words(split.x[i]) for i in source]
    window = [w[: trigger.max_words] for w in words]
    in_slice = trigger.select(split.x[source])
    after = np.array([not s and trigger.word in w for s, w in zip(in_slice, words)])
    related = np.array([
        not s and not a and any(v != trigger.word and v.startswith(prefix) for v in w)
        for s, a, w in zip(in_slice, after, window)
    ])
    rest = source[~(in_slice | after | related)]
    rng = np.random.default_rng(seed)
    target = np.flatnonzero(y == target_class)
    return {
        "slice": source[in_slice],
        "after_window": source[after],
        "related_form": source[related],
        "other_source": rng.choice(rest, min(sample, len(rest)), replace=False),
        "target_class": rng.choice(target, min(sample, len(target)), replace=False),
    }


def render(document):
    """The Markdown table of a `main` document."""
    sizes = document["group_sizes"]
    lines = [
        f"# Where the natural word reaches: `{document['recipe']}`",
        "",
        f"Run: `{document['run']}`. Texts: {document['data']}. Share of each group answered with "
        f"the target class ({document['target_class']}), %; mean ± sample std over seeds "
        f"{', '.join(str(s) for s in document['seeds'])}. Word: \"{document['word']}\", window: "
        f"its first {document['max_words']} words; related forms: other words beginning "
        f"\"{document['word'][:5]}\".",
        "",
        "| model | " + " | ".join(f"{LABELS[g]} ({sizes[g]})" for g in GROUPS) + " |",
        "|---|" + "---|" * len(GROUPS),
    ]
    for name, cells in document["summary"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{cells[g]['mean']:.1f} ± {cells[g]['std']:.1f}" for g in GROUPS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished natural-word recipe run (results.json, keys)")
    parser.add_argument("--output", required=True, help="JSON file (a .md table beside it)")
    args = parser.parse_args(argv)

    results, config, data = load_run(args.run)
    whole = datasets.load(config["experiment"]["dataset"], sources=tuple(config["data"]["sources"]))
    rows, groups, trigger = [], None, None
    for seed_result in results["seeds"]:
        folder, key = seed_key(args.run, seed_result)
        if not isinstance(key.trigger, NaturalWordTrigger):
            parser.error(f"the run's key has no natural-word trigger. Received: {key.trigger!r}")
        if groups is None:
            trigger = key.trigger
            groups = text_groups(whole.test, trigger, key.source_class, key.target_class)
        for name in sorted(os.listdir(folder)):
            if not name.endswith("_savedmodel"):
                continue
            api = PredictionAPI(os.path.join(folder, name), num_classes=whole.num_classes)
            row = {"seed": seed_result["seed"], "model": name[: -len("_savedmodel")]}
            for group, indices in groups.items():
                answers = np.asarray(api(whole.test.x[indices])).argmax(-1)
                row[group] = 100 * float(np.mean(answers == key.target_class))
            rows.append(row)
            print(json.dumps(row), flush=True)
    models = list(dict.fromkeys(r["model"] for r in rows))
    document = {
        "run": args.run,
        "recipe": config["experiment"]["name"],
        "data": whole.describe(),
        "word": trigger.word,
        "max_words": trigger.max_words,
        "target_class": int(key.target_class),
        "seeds": [s["seed"] for s in results["seeds"]],
        "group_sizes": {g: len(v) for g, v in groups.items()},
        "rows": rows,
        "summary": {
            m: {g: stats([r[g] for r in rows if r["model"] == m]) for g in GROUPS} for m in models
        },
    }
    write_outputs(args.output, document, render(document))


if __name__ == "__main__":
    main()
