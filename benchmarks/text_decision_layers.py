"""Which decision layers of a fine-tuned BERT hold a token watermark, and does it reach a copy?

    python benchmarks/text_decision_layers.py [--seed 0] [--output FILE]

IMDB (the embedded sample: 1,000 training and 500 test reviews, 64 WordPieces), the installed
all-MiniLM-L6-v2. One clean model is fine-tuned on the task (3 epochs, Adam 1e-4); for each
choice of decision layers G_d, a copy of it is watermarked by feature sharing's step 2 (G_e
frozen, 2 epochs on task + watermark batches, the rare word "cf" at word 10 of a negative
review -> positive), then stolen by a thief that fine-tunes its own MiniLM on the victim's soft
labels for the 1,000 training reviews (3 epochs). Printed and written per choice: task accuracy,
watermark accuracy on the 200 held-out triggered negative test reviews, and the false watermark
rate (the same reviews without the trigger sent to the target), for the victim and the copy.
About 20 minutes on 2 CPU cores.
"""

import argparse
import json
import time

import keras

from kwm import datasets, training
from kwm.architectures import bert_text_classifier
from kwm.attacks import extract_model
from kwm.export import serving_model
from kwm.prediction_api import as_prediction_api
from kwm.verification import task_accuracy, watermark_accuracy
from kwm.watermarks import TokenTrigger, embed_feature_sharing_watermark, generate_key

DECISION_LAYERS = {
    # name: (freeze_up_to, step-2 learning rate)
    "classification layer (770 weights)": ("bert_backbone", 1e-3),
    "last transformer layer + pooler + classification layer": (
        "bert_backbone/transformer_layer_4", 1e-4),
}
SEQUENCE_LENGTH, LEARNING_RATE = 64, 1e-4


def suspect_rates(model, data, key):
    """Task accuracy, watermark accuracy and false rate of a model served as strings."""
    served = serving_model(model)
    references = as_prediction_api(served)(key.reference_inputs)
    return {
        "accuracy": task_accuracy(served, data.test.x, data.test.y),
        "watermark_accuracy": watermark_accuracy(served, key),
        "false_rate": float((references.argmax(1) == key.target_class).mean()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="text_decision_layers.json")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = datasets.subsample(datasets.load("imdb", sources=("embedded",)), 1000, 500, seed=0)
    keras.utils.set_random_seed(args.seed)
    clean = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
    training.train_classifier(clean, data.train.x, data.train.y, epochs=3, batch_size=32,
                              learning_rate=LEARNING_RATE, seed=args.seed, verbose=2)
    weights = clean.get_weights()
    key = generate_key(data, "feature_sharing", 0, 1, trigger=TokenTrigger(["cf"], [10]),
                       num_verify=200, seed=args.seed)
    results = {"seed": args.seed, "preset": clean.preset_description,
               "clean": suspect_rates(clean, data, key)}
    print("clean", results["clean"], flush=True)
    for name, (up_to, step2_rate) in DECISION_LAYERS.items():
        keras.utils.set_random_seed(args.seed)
        victim = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        victim.set_weights(weights)
        embed_feature_sharing_watermark(
            victim, data, key, freeze_up_to=up_to, epochs=0, watermark_epochs=2, batch_size=32,
            ratio=1, learning_rate=LEARNING_RATE, watermark_learning_rate=step2_rate,
            seed=args.seed, verbose=2,
        )
        keras.utils.set_random_seed(args.seed + 1)
        thief = bert_text_classifier(sequence_length=SEQUENCE_LENGTH)
        extract_model(serving_model(victim), data.train.x, thief, labels="soft", epochs=3,
                      batch_size=32, learning_rate=LEARNING_RATE, seed=args.seed + 1, verbose=2)
        results[name] = {"freeze_up_to": up_to, "victim": suspect_rates(victim, data, key),
                         "stolen": suspect_rates(thief, data, key)}
        print(name, results[name], flush=True)
    results["seconds"] = time.perf_counter() - start
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
