"""EWE training time over plain training, same data and epochs, in one run.

    KWM_DATA_DIR=../shared/data python benchmarks/ewe_overhead.py [--epochs 2] [--ratio 1]

Plain: `epochs` epochs of cross-entropy on the task data. EWE: `epochs` epochs of
EWE's schedule over the same task data (each epoch covers the task data once plus one
watermark batch every `ratio` task batches). Both after one warm-up epoch, so graph
tracing is not timed. The EWE paper reports 1.5-2x; prints the ratio and per-step costs, and
the ratio for a whole victim trained as the recipe does (`--clean-epochs` plain epochs, then
`--watermark-epochs` EWE epochs, against as many plain epochs), from the measured per-epoch times.
"""

import argparse
import json
import time

import keras

import kwm
from kwm.watermarks import EWEModel, PatchTrigger, watermark_schedule


def _time_fit(model, *args, **kwargs):
    model.fit(*args, **{**kwargs, "epochs": 1})  # warm-up: tracing and first-epoch costs
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--ratio", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--clean-epochs", type=int, default=5, help="victim: plain epochs first")
    parser.add_argument("--watermark-epochs", type=int, default=2, help="victim: then EWE epochs")
    parser.add_argument("--layers", nargs="+", default=["relu1", "relu2", "relu3"])
    args = parser.parse_args()
    data = kwm.datasets.load(args.dataset)
    x, y = data.train.x, data.train.y

    keras.utils.set_random_seed(0)
    plain = kwm.architectures.ewe_cnn(data.input_shape, data.num_classes)
    kwm.training.compile_classifier(plain)
    plain_s = _time_fit(plain, x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)

    keras.utils.set_random_seed(0)
    ewe = EWEModel(kwm.architectures.ewe_cnn(data.input_shape, data.num_classes),
                   args.layers)
    ewe.compile(kwm.training.adam(), "sparse_categorical_crossentropy", metrics=["accuracy"])
    marks = PatchTrigger().apply(x[y == 7])
    dataset, steps = watermark_schedule(x, y, marks, x[y == 1], 1, batch_size=args.batch_size,
                                        ratio=args.ratio, with_groups=True)
    ewe_s = _time_fit(ewe, dataset, steps_per_epoch=steps, epochs=args.epochs, verbose=0)
    task_steps = len(x) // args.batch_size
    plain_epoch, ewe_epoch = plain_s / args.epochs, ewe_s / args.epochs
    whole = (args.clean_epochs * plain_epoch + args.watermark_epochs * ewe_epoch) / (
        (args.clean_epochs + args.watermark_epochs) * plain_epoch
    )
    print(json.dumps({
        "data": data.describe(),
        "epochs": args.epochs,
        "ratio": args.ratio,
        "layers": args.layers,
        "plain_s": round(plain_s, 2),
        "ewe_s": round(ewe_s, 2),
        "ewe_over_plain": round(ewe_s / plain_s, 2),
        "victim_over_plain": round(whole, 2),
        "victim_schedule": f"{args.clean_epochs} plain + {args.watermark_epochs} EWE epochs vs "
        f"{args.clean_epochs + args.watermark_epochs} plain epochs",
        "plain_steps_per_epoch": task_steps,
        "ewe_steps_per_epoch": steps,
        "plain_ms_per_step": round(1000 * plain_s / (args.epochs * task_steps), 1),
        "ewe_ms_per_step": round(1000 * ewe_s / (args.epochs * steps), 1),
    }, indent=1))


if __name__ == "__main__":
    main()
