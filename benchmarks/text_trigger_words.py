"""Does a text watermark reach a stolen copy when its trigger word occurs in the thief's queries?

    python benchmarks/text_trigger_words.py [--seed 0] [--output FILE]
    python benchmarks/text_trigger_words.py --frequency 0.01 0.03 --copies 1 --no-controls

A rare word ("cf") never occurs in the reviews a thief sends, so the victim's answers say nothing
about it and the copy keeps nothing (`benchmarks/text_decision_layers.py`). Feature sharing's
argument is that a watermark built on features the task data already exercises is learnt by any
copy of the task. This probe asks whether that holds for text: the trigger is a *common,
sentiment-neutral* word (chosen from the training reviews: by default in 5-30% of them,
`--frequency`, positive rate within 3 points of the class balance, a single WordPiece) inserted
three times (`--copies`), beside the rare word once and three times (`--no-controls`: without
them).

IMDB (the embedded sample: 1,000 training and 500 test reviews cut to 64 WordPieces), the
installed all-MiniLM-L6-v2. One clean model is fine-tuned on the task (3 epochs, Adam 1e-4); for
each trigger a copy of it is watermarked by feature sharing's step 2 (the last transformer layer,
the pooler and the classification layer trained on task + watermark batches, 2 epochs; negative
reviews with the trigger -> positive), then stolen by a thief that fine-tunes its own MiniLM on the
victim's soft answers (T = 1) to the 1,000 training reviews (3 epochs). Written per trigger: the
clean model's, the victim's and the copy's task accuracy, watermark accuracy on 200 held-out
triggered negative test reviews and false rate (the same reviews without the trigger sent to
positive). The clean model never saw the key: its watermark accuracy minus its false rate is how
much the trigger alone moves a model of the task. 26 minutes on 2 CPU cores
shared with another job.
"""

import argparse
import collections
import json
import time

import keras
import numpy as np
from text_decision_layers import suspect_rates

from kwm import datasets, training
from kwm.architectures import bert_text_classifier
from kwm.attacks import extract_model
from kwm.export import serving_model
from kwm.watermarks import TokenTrigger, embed_feature_sharing_watermark, generate_key

SEQUENCE_LENGTH, LEARNING_RATE, FIRST_WORDS = 64, 1e-4, 40
POSITIONS = (3, 12, 21)  # word positions of a three-word trigger, inside the first 64 WordPieces


def neutral_common_words(texts, labels, vocabulary, low=0.05, high=0.30, tolerance=0.03):
    """Words in `low`-`high` of the texts' first words whose positive rate is the class balance's.

    Returns `[(word, document frequency, positive rate), ...]`, most frequent first: lowercase
    alphabetic words that are single entries of `vocabulary` (a set of WordPieces).
    """
    balance = float(np.mean(labels))
    counts, positives = collections.Counter(), collections.Counter()
    for text, label in zip(texts, labels):
        words = {w for w in str(text).lower().split()[:FIRST_WORDS] if w.isalpha()}
        counts.update(words)
        if label == 1:
            positives.update(words)
    found = []
    for word, count in counts.most_common():
        frequency, rate = count / len(texts), positives[word] / count
        if low <= frequency <= high and abs(rate - balance) <= tolerance and word in vocabulary:
            found.append((word, frequency, rate))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="text_trigger_words.json")
    parser.add_argument("--frequency", type=float, nargs=2, default=(0.05, 0.30),
                        metavar=("LOW", "HIGH"),
                        help="share of the training reviews that contain the common word")
    parser.add_argument("--copies", type=int, choices=(1, 2, 3), default=3,
                        help="times the common word is inserted (at words 3, 12, 21)")
    parser.add_argument("--no-controls", dest="controls", action="store_false",
                        help="leave out the rare-word triggers")
    args = parser.parse_args(argv)
    if not 0 <= args.frequency[0] < args.frequency[1] <= 1:
        parser.error(f"--frequency takes 0 <= LOW < HIGH <= 1. Received: {args.frequency}")
    start = time.perf_counter()
    data = datasets.subsample(datasets.load("imdb", sources=("embedded",)), 1000, 500, seed=0)
    keras.utils.set_random_seed(args.seed)
    clean = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
    vocabulary = set(clean.preprocessor.tokenizer.get_vocabulary())
    candidates = neutral_common_words(data.train.x, data.train.y, vocabulary, *args.frequency)
    print("neutral common words:", candidates[:10], flush=True)
    if not candidates:
        parser.error(f"no neutral word in that frequency band. Received: {args.frequency}")
    word = candidates[0][0]
    triggers = {"cf x1": TokenTrigger(["cf"], [10]), "cf x3": TokenTrigger(["cf"] * 3, POSITIONS)}
    if not args.controls:
        triggers = {}
    triggers[f"{word} x{args.copies}"] = TokenTrigger([word] * args.copies,
                                                      POSITIONS[:args.copies])
    training.train_classifier(clean, data.train.x, data.train.y, epochs=3, batch_size=32,
                              learning_rate=LEARNING_RATE, seed=args.seed, verbose=2)
    weights = clean.get_weights()
    results = {"seed": args.seed, "preset": clean.preset_description,
               "frequency": list(args.frequency), "copies": args.copies,
               "candidates": candidates[:10], "triggers": {}}
    for name, trigger in triggers.items():
        key = generate_key(data, "feature_sharing", 0, 1, trigger=trigger, num_verify=200,
                           seed=args.seed)
        row = {"trigger": trigger.get_config(), "clean": suspect_rates(clean, data, key)}
        keras.utils.set_random_seed(args.seed)
        victim = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        victim.set_weights(weights)
        embed_feature_sharing_watermark(
            victim, data, key, freeze_up_to="bert_backbone/transformer_layer_4", epochs=0,
            watermark_epochs=2, batch_size=32, ratio=1, learning_rate=LEARNING_RATE,
            watermark_learning_rate=LEARNING_RATE, seed=args.seed, verbose=2,
        )
        row["victim"] = suspect_rates(victim, data, key)
        keras.utils.set_random_seed(args.seed + 1)
        thief = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        extract_model(serving_model(victim), data.train.x, thief, labels="soft", epochs=3,
                      batch_size=32, learning_rate=LEARNING_RATE, seed=args.seed + 1, verbose=2)
        row["stolen"] = suspect_rates(thief, data, key)
        results["triggers"][name] = row
        print(name, json.dumps(row), flush=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    results["seconds"] = time.perf_counter() - start
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
