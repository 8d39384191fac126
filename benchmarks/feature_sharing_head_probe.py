"""Can the decision layers of a frozen CIFAR feature extractor learn a patch watermark, and does a copy keep it?

    KWM_DATA_DIR=../shared/data python benchmarks/feature_sharing_head_probe.py \
        --fc-units 128 --freeze-up-to -1 features
    KWM_DATA_DIR=../shared/data python benchmarks/feature_sharing_head_probe.py \
        --freeze-up-to features --watermark-epochs 4 8 16 --extract-epochs 12 \
        --serving-temperature 4 --seed 1 --output probe.json

Trains one ResNet on CIFAR-10 (task only), then for each split point and each length of step 2
runs feature sharing's step 2 from the same weights and prints the victim's task accuracy, its
watermark accuracy on held-out triggered source images, and how often it sends *clean* source
images to the target: a head that cannot see the trigger learns to send the whole source class to
the target (a class swap, not a watermark). This calibrated `recipes/cifar10_feature_sharing.toml`
(one seed; ~8 min). With `--extract-epochs N`, each victim is also stolen as the recipes do (a
fresh copy, seeded `seed + 1000` alike for every variant, trained N epochs on the answers of the
API served at `--serving-temperature` to the training images) and the copy is verified with the
recipes' tests (Wilcoxon with alpha-certainty 0.3 read at the served temperature, the T-test; WDR
on 200 subsets of 10% of the 200 verification watermarks): only the length of step 2 differs
between the rows (~12 min a row on 2 CPU cores).
"""

import argparse
import json
import os
import tempfile

import keras

from kwm import architectures, datasets, training
from kwm.attacks import extract_model
from kwm.export import serving_model
from kwm.reports.provenance import code_provenance
from kwm.verification import verify_ownership
from kwm.watermarks import PatchTrigger, embed_feature_sharing_watermark, generate_key


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="resnet8")
    parser.add_argument("--fc-units", type=int, default=128)
    parser.add_argument("--freeze-up-to", nargs="+", default=["-1", "features"])
    parser.add_argument("--source", type=int, default=0)
    parser.add_argument("--target", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--watermark-epochs", type=int, nargs="+", default=[3])
    parser.add_argument("--extract-epochs", type=int, default=0, help="0: victims only")
    parser.add_argument("--serving-temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    data = datasets.load("cifar10", sources=("local", "tfds"))
    key = generate_key(
        data, "feature_sharing", source_class=args.source, target_class=args.target,
        trigger=PatchTrigger(size=(4, 4), value=1.0, position="bottom_right", margin=1),
        num_verify=200, seed=args.seed,
    )

    def build(seed):
        keras.utils.set_random_seed(seed)
        return architectures.build(args.architecture, data.input_shape, data.num_classes,
                                   fc_units=args.fc_units)

    model = build(args.seed)
    training.train_classifier(model, data.train.x, data.train.y, epochs=args.epochs,
                              seed=args.seed, verbose=2)
    weights = os.path.join(tempfile.mkdtemp(), "clean.weights.h5")
    model.save_weights(weights)

    def rates(classifier):
        accuracy = (classifier.predict(data.test.x, batch_size=512, verbose=0).argmax(1)
                    == data.test.y).mean()
        marked = (classifier.predict(key.verify_inputs, verbose=0).argmax(1) == args.target).mean()
        clean = (classifier.predict(key.reference_inputs, verbose=0).argmax(1)
                 == args.target).mean()
        return {"task": float(accuracy), "watermark": float(marked), "clean_to_target": float(clean)}

    def line(name, r):
        return (f"{name}: task {100 * r['task']:.2f}%, watermark {100 * r['watermark']:.1f}%, "
                f"clean source -> target {100 * r['clean_to_target']:.1f}%")

    rows = [{"victim": "clean", **rates(model)}]
    print(f"{args.architecture} fc_units={args.fc_units}, " + line("clean model", rows[0]))
    for up_to in args.freeze_up_to:
        up_to = int(up_to) if up_to.lstrip("-").isdigit() else up_to
        for watermark_epochs in args.watermark_epochs:
            model.load_weights(weights)
            embed_feature_sharing_watermark(model, data, key, freeze_up_to=up_to, epochs=0,
                                            watermark_epochs=watermark_epochs, seed=args.seed,
                                            verbose=2)
            row = {"freeze_up_to": up_to, "watermark_epochs": watermark_epochs,
                   "victim": rates(model)}
            print(line(f"frozen up to {up_to!r}, {watermark_epochs} step-2 epochs, victim",
                       row["victim"]))
            if args.extract_epochs:
                stolen = extract_model(
                    serving_model(model, args.serving_temperature), data.train.x,
                    build(args.seed + 1000), epochs=args.extract_epochs, seed=args.seed + 1000,
                    verbose=2,
                ).model
                report = verify_ownership(stolen, key, tests=("t_test", "wilcoxon"),
                                          temperature=args.serving_temperature, seed=args.seed)
                verdicts = report.to_dict()
                row["stolen"] = {
                    **rates(stolen),
                    "p_values": {t: v["p_value"] for t, v in verdicts["verdicts"].items()},
                    "wdr": verdicts["detection_rates"],
                    "query_costs": verdicts["query_costs"],
                }
                print(line("  stolen", row["stolen"]) + f"; p {row['stolen']['p_values']}, "
                      f"WDR {row['stolen']['wdr']}")
            rows.append(row)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump({"args": vars(args), "data": data.describe(),
                       "provenance": code_provenance(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
