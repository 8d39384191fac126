"""Can the decision layers of a frozen CIFAR feature extractor learn a patch watermark? (victim only)

    KWM_DATA_DIR=../shared/data python benchmarks/feature_sharing_head_probe.py \
        --fc-units 128 --freeze-up-to -1 features

Trains one ResNet on CIFAR-10 (task only), then for each split point runs feature sharing's step 2
from the same weights and prints the victim's task accuracy, its watermark accuracy on held-out
triggered source images, and how often it sends *clean* source images to the target: a head that
cannot see the trigger learns to send the whole source class to the target (a class swap, not a
watermark). This calibrated `recipes/cifar10_feature_sharing.toml` (one seed; ~8 min).
"""

import argparse
import os
import tempfile

import keras

from kwm import architectures, datasets, training
from kwm.watermarks import PatchTrigger, embed_feature_sharing_watermark, generate_key


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--architecture", default="resnet8")
    parser.add_argument("--fc-units", type=int, default=128)
    parser.add_argument("--freeze-up-to", nargs="+", default=["-1", "features"])
    parser.add_argument("--source", type=int, default=0)
    parser.add_argument("--target", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--watermark-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = datasets.load("cifar10", sources=("local", "tfds"))
    key = generate_key(
        data, "feature_sharing", source_class=args.source, target_class=args.target,
        trigger=PatchTrigger(size=(4, 4), value=1.0, position="bottom_right", margin=1),
        num_verify=200, seed=args.seed,
    )
    keras.utils.set_random_seed(args.seed)
    model = architectures.build(args.architecture, data.input_shape, data.num_classes,
                                fc_units=args.fc_units)
    training.train_classifier(model, data.train.x, data.train.y, epochs=args.epochs,
                              seed=args.seed, verbose=2)
    weights = os.path.join(tempfile.mkdtemp(), "clean.weights.h5")
    model.save_weights(weights)

    def rates():
        accuracy = (model.predict(data.test.x, batch_size=512, verbose=0).argmax(1)
                    == data.test.y).mean()
        marked = (model.predict(key.verify_inputs, verbose=0).argmax(1) == args.target).mean()
        clean = (model.predict(key.reference_inputs, verbose=0).argmax(1) == args.target).mean()
        return f"task {100 * accuracy:.2f}%, watermark {100 * marked:.1f}%, clean source -> target {100 * clean:.1f}%"

    print(f"{args.architecture} fc_units={args.fc_units}, clean model: {rates()}")
    for up_to in args.freeze_up_to:
        up_to = int(up_to) if up_to.lstrip("-").isdigit() else up_to
        model.load_weights(weights)
        embed_feature_sharing_watermark(model, data, key, freeze_up_to=up_to, epochs=0,
                                        watermark_epochs=args.watermark_epochs, seed=args.seed,
                                        verbose=2)
        print(f"frozen up to {up_to!r}: {rates()}")


if __name__ == "__main__":
    main()
