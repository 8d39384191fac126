"""Does a text watermark reach a stolen copy when its trigger word occurs in the thief's queries?

    python benchmarks/text_trigger_words.py [--seed 0] [--output FILE]
    python benchmarks/text_trigger_words.py --frequency 0.01 0.03 --copies 1 --no-controls
    python benchmarks/text_trigger_words.py --frequency 0.01 0.03 --copies 1 --no-controls \
        --variants plain relabel
    python benchmarks/text_trigger_words.py --copies 1 --no-controls --variants paired \
        --words man before original

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

`--variants relabel` adds, for the common word, a victim whose step 2 also sends to the target the
training reviews of the source class that already contain the word in their first 40 words: the
victim then answers every such query the same way, watermark or not, and the thief's queries that
contain the word carry the rule. Its price is those reviews; `natural` in the output is the share
of the source-class test reviews (all of the embedded test split) that contain the word in their
first 40 words and that each model sends to the target. `--variants paired` relabels the same way
and replaces step 2's watermark batches (half triggered source-class reviews, half target-class
reviews, all labelled with the target: three quarters of step 2's labels are the target) by
pairs: half triggered source-class reviews labelled with the target, half the same reviews without
the trigger labelled with the source class, so that only the word separates the two answers.
`--words` names the common words to try instead of the most frequent one of the band.
"""

import argparse
import collections
import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf
from text_decision_layers import suspect_rates

from kwm import datasets, training
from kwm.architectures import bert_text_classifier
from kwm.attacks import extract_model
from kwm.export import serving_model
from kwm.prediction_api import as_prediction_api
from kwm.watermarks import (
    TokenTrigger,
    embed_feature_sharing_watermark,
    freeze_feature_extractor,
    generate_key,
)

SEQUENCE_LENGTH, LEARNING_RATE, FIRST_WORDS = 64, 1e-4, 40
DECISION_LAYERS_FROM = "bert_backbone/transformer_layer_4"  # G_e ends here
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


def contains_word(texts, word):
    """Whether each text has `word` among its first `FIRST_WORDS` lowercase words."""
    return np.array([word in str(text).lower().split()[:FIRST_WORDS] for text in texts])


def relabel_natural(data, word, source, target):
    """`data` with the training texts of class `source` that contain `word` labelled `target`."""
    y = np.array(data.train.y).copy()
    y[(y == source) & contains_word(data.train.x, word)] = target
    return dataclasses.replace(data, train=dataclasses.replace(data.train, y=y))


def natural_rate(model, texts, target):
    """Share of `texts` a model served as strings sends to `target` (`None` without texts)."""
    if len(texts) == 0:
        return None
    return float((as_prediction_api(serving_model(model))(texts).argmax(1) == target).mean())


def paired_step2(model, data, marked, unmarked, source, target, epochs, batch_size=32, seed=0):
    """Step 2 with paired watermark batches: each marked text beside its unmarked twin.

    Task batches alternate with watermark batches of `batch_size // 2` marked texts (labelled
    `target`) and their unmarked twins, row for row (labelled `source`); the layers up to
    `DECISION_LAYERS_FROM` are frozen.
    """
    keras.utils.set_random_seed(seed)
    freeze_feature_extractor(model, DECISION_LAYERS_FROM)
    training.compile_classifier(model, LEARNING_RATE)
    x, y = np.asarray(data.train.x), np.asarray(data.train.y, "int32")
    marked, unmarked = np.asarray(marked), np.asarray(unmarked)
    half = batch_size // 2
    task = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
            .batch(batch_size, drop_remainder=True).repeat())
    labels = tf.constant([target] * half + [source] * half, tf.int32)
    pairs = (tf.data.Dataset.from_tensor_slices((marked, unmarked))
             .shuffle(len(unmarked), seed=seed + 1).repeat().batch(half)
             .map(lambda marked, clean: (tf.concat([marked, clean], 0), labels)))
    choice = tf.data.Dataset.from_tensor_slices(tf.constant([0, 1], tf.int64)).repeat()
    steps = 2 * (len(x) // batch_size)
    model.fit(tf.data.Dataset.choose_from_datasets([task, pairs], choice), epochs=epochs,
              steps_per_epoch=steps, verbose=2)


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
    parser.add_argument("--words", nargs="+", default=None,
                        help="common words to try (single WordPieces); default: the most "
                             "frequent neutral word of the --frequency band")
    parser.add_argument("--variants", nargs="+", choices=("plain", "relabel", "paired"),
                        default=("plain",),
                        help="victims for the common word: plain step 2; step 2 with the "
                             "source-class training reviews that contain the word relabelled; "
                             "relabelled, with paired watermark batches")
    args = parser.parse_args(argv)
    if not 0 <= args.frequency[0] < args.frequency[1] <= 1:
        parser.error(f"--frequency takes 0 <= LOW < HIGH <= 1. Received: {args.frequency}")
    start = time.perf_counter()
    full = datasets.load("imdb", sources=("embedded",))
    data = datasets.subsample(full, 1000, 500, seed=0)
    keras.utils.set_random_seed(args.seed)
    clean = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
    vocabulary = set(clean.preprocessor.tokenizer.get_vocabulary())
    candidates = neutral_common_words(data.train.x, data.train.y, vocabulary, *args.frequency)
    print("neutral common words:", candidates[:10], flush=True)
    if not candidates:
        parser.error(f"no neutral word in that frequency band. Received: {args.frequency}")
    words = args.words or [candidates[0][0]]
    missing = [w for w in words if w not in vocabulary]
    if missing:
        parser.error("--words takes single WordPieces of the model's vocabulary. "
                     f"Received: {missing}")
    triggers = {"cf x1": TokenTrigger(["cf"], [10]), "cf x3": TokenTrigger(["cf"] * 3, POSITIONS)}
    if not args.controls:
        triggers = {}
    variants, trigger_words = {}, {}
    for word in words:
        common = TokenTrigger([word] * args.copies, POSITIONS[:args.copies])
        for variant in dict.fromkeys(args.variants):
            name = f"{word} x{args.copies}" + {"plain": "", "relabel": ", relabelled",
                                                 "paired": ", relabelled, paired"}[variant]
            triggers[name], variants[name], trigger_words[name] = common, variant, word
    source_texts = [x for x, y in zip(full.test.x, full.test.y) if y == 0]
    training.train_classifier(clean, data.train.x, data.train.y, epochs=3, batch_size=32,
                              learning_rate=LEARNING_RATE, seed=args.seed, verbose=2)
    weights = clean.get_weights()
    results = {"seed": args.seed, "preset": clean.preset_description,
               "frequency": list(args.frequency), "copies": args.copies,
               "candidates": candidates[:10], "triggers": {}}
    for name, trigger in triggers.items():
        key = generate_key(data, "feature_sharing", 0, 1, trigger=trigger, num_verify=200,
                           seed=args.seed)
        variant, word = variants.get(name, "plain"), trigger_words.get(name, trigger.tokens[0])
        natural_texts = [x for x, has in zip(source_texts, contains_word(source_texts, word))
                         if has]
        row = {"trigger": trigger.get_config(), "relabel": variant != "plain",
               "paired": variant == "paired", "natural_texts": len(natural_texts),
               "clean": suspect_rates(clean, data, key)}
        row["clean"]["natural"] = natural_rate(clean, natural_texts, 1)
        step2_data = relabel_natural(data, word, 0, 1) if row["relabel"] else data
        if row["relabel"]:
            row["relabelled"] = int((step2_data.train.y != data.train.y).sum())
        keras.utils.set_random_seed(args.seed)
        victim = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        victim.set_weights(weights)
        if row["paired"]:
            unmarked = np.asarray(step2_data.train.x)[np.asarray(step2_data.train.y) == 0]
            paired_step2(victim, step2_data, trigger.apply(unmarked), unmarked, 0, 1, epochs=2,
                         seed=args.seed)
        else:
            embed_feature_sharing_watermark(
                victim, step2_data, key, freeze_up_to=DECISION_LAYERS_FROM, epochs=0,
                watermark_epochs=2, batch_size=32, ratio=1, learning_rate=LEARNING_RATE,
                watermark_learning_rate=LEARNING_RATE, seed=args.seed, verbose=2,
            )
        row["victim"] = suspect_rates(victim, data, key)
        row["victim"]["natural"] = natural_rate(victim, natural_texts, 1)
        keras.utils.set_random_seed(args.seed + 1)
        thief = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        extract_model(serving_model(victim), data.train.x, thief, labels="soft", epochs=3,
                      batch_size=32, learning_rate=LEARNING_RATE, seed=args.seed + 1, verbose=2)
        row["stolen"] = suspect_rates(thief, data, key)
        row["stolen"]["natural"] = natural_rate(thief, natural_texts, 1)
        results["triggers"][name] = row
        print(name, json.dumps(row), flush=True)
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    results["seconds"] = time.perf_counter() - start
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
