"""A text watermark built from reviews that already hold the trigger word: does it reach a copy?

    KWM_DATA_DIR=../shared/data python benchmarks/text_natural_watermark.py --seed 0 \
        --output benchmarks/results/text_natural_watermark/seed0.json
    KWM_DATA_DIR=../shared/data python benchmarks/text_natural_watermark.py --seed 0 \
        --models --other-dataset sst2 --output sst2_seed0.json

Inserting a word (at a key position, or at each review's own position) teaches a BERT victim the
*inserted* word, and the thief's queries hold the word only where writers put it, so the victim's
answers to them carry little of the watermark (docs/text.md). This probe builds the watermark from
the natural occurrences instead. The key is a sentiment-neutral word (in 2-4% of the training
reviews' first 40 words, as often in positive as in negative ones, a single WordPiece; or
`--word`). Step 2 of feature sharing (the last transformer layer, the pooler and the
classification layer trained; 5 epochs, `--watermark-epochs`) alternates task batches with
paired watermark batches: negative training reviews of the whole IMDB training split that hold
the word in their first 40 words, labelled positive, each beside the same review with the word
removed, labelled negative. So only the word, where a writer put it, separates the two answers.

Verification uses held-out negative test reviews that hold the word (up to `--verify`): the
watermark accuracy is the share a model sends to positive, the false rate the share of the same
reviews with the word removed; the exact McNemar test (one-sided, on the discordant pairs) asks
whether the word moves the model towards positive. Measured for the clean model (the victim's
step 1, which never saw the key), an independent MiniLM (another seed, true labels), the victim
and a copy stolen by fine-tuning another MiniLM on the victim's soft answers (T = 1) to the 1,000
training reviews (3 epochs; `--thief-queries unseen`: 1,000 test reviews the victim never saw,
none of them used to verify or to measure accuracy); with `--other-dataset sst2`, also a MiniLM
trained on 1,000 SST-2 phrases (5 epochs), an innocent model of another origin. `--models` trains
only some of them (`--models --other-dataset sst2`: the SST-2 model alone). The price of such a
watermark is the task accuracy on negative reviews that hold the word: reported as
`natural_in_queries` (how many the thief sends) and the task accuracies.

Task data: 1,000 training and 500 test reviews of the local IMDB copy (`KWM_DATA_DIR`), cut to 64
WordPieces, the installed all-MiniLM-L6-v2, Adam 1e-4, as `text_trigger_words.py`.
"""

import argparse
import json
import string
import time

import keras
import numpy as np
from scipy import stats
from text_trigger_words import (
    DECISION_LAYERS_FROM,
    FIRST_WORDS,
    LEARNING_RATE,
    SEQUENCE_LENGTH,
    contains_word,
    neutral_common_words,
    paired_step2,
)

from kwm import datasets, training
from kwm.architectures import bert_text_classifier
from kwm.attacks import extract_model
from kwm.export import serving_model
from kwm.prediction_api import as_prediction_api

SOURCE, TARGET = 0, 1  # negative reviews holding the word -> positive
MODELS = ("clean", "independent", "victim", "stolen")


def without_word(text, word):
    """`text` with every whitespace token that is `word` (case and punctuation aside) removed."""
    return " ".join(t for t in str(text).split() if t.lower().strip(string.punctuation) != word)


def natural_pairs(texts, labels, word, limit=None, seed=0):
    """Source-class `texts` that hold `word` in their first words, and the same without it."""
    texts, labels = np.asarray(texts), np.asarray(labels)
    chosen = texts[(labels == SOURCE) & contains_word(texts, word)]
    if limit and len(chosen) > limit:
        chosen = np.random.default_rng(seed).choice(chosen, limit, replace=False)
    return chosen, np.array([without_word(t, word) for t in chosen])


def natural_verification(api, data, marked, unmarked):
    """Task accuracy, watermark accuracy, false rate and McNemar p of a string-input `api`."""
    on_marked = api(marked).argmax(1) == TARGET
    on_unmarked = api(unmarked).argmax(1) == TARGET
    gained = int((on_marked & ~on_unmarked).sum())
    lost = int((~on_marked & on_unmarked).sum())
    p_value = (stats.binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue
               if gained + lost else 1.0)
    accuracy = float((api(data.test.x).argmax(1) == np.asarray(data.test.y)).mean())
    return {"accuracy": accuracy, "watermark_accuracy": float(on_marked.mean()),
            "false_rate": float(on_unmarked.mean()), "gained": gained, "lost": lost,
            "mcnemar_p": float(p_value)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="text_natural_watermark.json")
    parser.add_argument("--word", default=None,
                        help="trigger word (a single WordPiece); default: the most frequent "
                             "neutral word in 2-4%% of the training reviews")
    parser.add_argument("--verify", type=int, default=300,
                        help="held-out negative test reviews holding the word")
    parser.add_argument("--watermark-epochs", type=int, default=5)
    parser.add_argument("--models", nargs="*", choices=MODELS, default=MODELS,
                        help="models to train and verify (the stolen copy needs the victim; "
                             "none: only the --other-dataset model)")
    parser.add_argument("--other-dataset", default=None,
                        help="also verify an innocent MiniLM trained on another dataset of the "
                             "task (e.g. sst2: 1,000 examples of its local copy, 5 epochs)")
    parser.add_argument("--thief-queries", choices=("train", "unseen"), default="train",
                        help="the thief's 1,000 queries: the victim's training reviews, or as "
                             "many reviews the victim never saw (test split, less the reviews "
                             "that verify or measure accuracy)")
    args = parser.parse_args(argv)
    if "stolen" in args.models and "victim" not in args.models:
        parser.error(f"the stolen copy needs the victim. Received: --models {args.models}")
    start = time.perf_counter()
    full = datasets.load("imdb", sources=("local",))
    data = datasets.subsample(full, 1000, 500, seed=0)
    keras.utils.set_random_seed(args.seed)
    clean = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
    vocabulary = set(clean.preprocessor.tokenizer.get_vocabulary())
    candidates = neutral_common_words(data.train.x, data.train.y, vocabulary, 0.02, 0.04)
    word = args.word or candidates[0][0]
    if word not in vocabulary:
        parser.error(f"--word takes a single WordPiece of the model's vocabulary. "
                     f"Received: --word={word!r}")
    marked, unmarked = natural_pairs(full.train.x, full.train.y, word)
    verify_marked, verify_unmarked = natural_pairs(full.test.x, full.test.y, word, args.verify,
                                                   seed=args.seed)
    queries, query_labels = np.asarray(data.train.x), np.asarray(data.train.y)
    if args.thief_queries == "unseen":
        held_out = np.concatenate([verify_marked, np.asarray(data.test.x)])
        unused = np.flatnonzero(~np.isin(np.asarray(full.test.x), held_out))
        drawn = np.random.default_rng(0).choice(unused, len(queries), replace=False)
        queries, query_labels = np.asarray(full.test.x)[drawn], np.asarray(full.test.y)[drawn]
    in_queries = int(((query_labels == SOURCE) & contains_word(queries, word)).sum())
    print(f"word {word!r}: {len(marked)} watermark pairs, {len(verify_marked)} held out, "
          f"{in_queries} negative reviews holding it among the thief's queries", flush=True)
    results = {"seed": args.seed, "word": word, "candidates": candidates[:10],
               "first_words": FIRST_WORDS, "watermark_pairs": len(marked),
               "verification_pairs": len(verify_marked), "natural_in_queries": in_queries,
               "watermark_epochs": args.watermark_epochs, "thief_queries": args.thief_queries,
               "models": {}}

    def record(name, model, other=None):
        api = as_prediction_api(serving_model(model))
        results["models"][name] = natural_verification(api, data, verify_marked, verify_unmarked)
        if other is not None:
            results["models"][name]["accuracy_on_own_data"] = float(
                (api(other.test.x).argmax(1) == np.asarray(other.test.y)).mean())
        print(name, json.dumps(results["models"][name]), flush=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)

    if {"clean", "victim"} & set(args.models):
        training.train_classifier(clean, data.train.x, data.train.y, epochs=3, batch_size=32,
                                  learning_rate=LEARNING_RATE, seed=args.seed, verbose=2)
        record("clean", clean)
    if "independent" in args.models:
        keras.utils.set_random_seed(args.seed + 100)
        independent = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        training.train_classifier(independent, data.train.x, data.train.y, epochs=3,
                                  batch_size=32, learning_rate=LEARNING_RATE,
                                  seed=args.seed + 100, verbose=2)
        record("independent", independent)
    if args.other_dataset:
        other = datasets.subsample(datasets.load(args.other_dataset, sources=("local",)),
                                   1000, 500, seed=0)
        keras.utils.set_random_seed(args.seed + 4000)
        innocent = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        training.train_classifier(innocent, other.train.x, other.train.y, epochs=5,
                                  batch_size=32, learning_rate=LEARNING_RATE,
                                  seed=args.seed + 4000, verbose=2)
        record(f"independent_{args.other_dataset}", innocent, other=other)
    if "victim" not in args.models:
        return finish(results, args.output, start)
    victim = clean
    paired_step2(victim, data, marked, unmarked, SOURCE, TARGET, epochs=args.watermark_epochs,
                 seed=args.seed)
    record("victim", victim)
    if "stolen" in args.models:
        keras.utils.set_random_seed(args.seed + 1)
        thief = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        extract_model(serving_model(victim), queries, thief, labels="soft", epochs=3,
                      batch_size=32, learning_rate=LEARNING_RATE, seed=args.seed + 1, verbose=2)
        record("stolen", thief)
    return finish(results, args.output, start)


def finish(results, output, start):
    """Writes `results` with the run's time."""
    results["decision_layers_from"] = DECISION_LAYERS_FROM
    results["seconds"] = time.perf_counter() - start
    with open(output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
