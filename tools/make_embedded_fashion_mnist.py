"""Builds kwm's embedded Fashion-MNIST sample from the official IDX files.

Fashion-MNIST (Zalando Research, MIT licence, github.com/zalandoresearch/
fashion-mnist) ships 60,000 training and 10,000 test images as IDX gzip
files. This script keeps the first 200 images of each class of each split,
in file order (2,000 training and 2,000 test images), shuffles each split
with seed 0, and writes them as IDX gzip files into
`kwm/datasets/embedded/fashion_mnist/`. It prints the SHA-256 of the files
read and written, for `PROVENANCE.md`.

Run from the repository root:

    python tools/make_embedded_fashion_mnist.py ../shared/data/fashion-mnist
"""

import hashlib
import os
import sys

import numpy as np

from kwm.datasets.idx import read_idx, write_idx

OUT = os.path.join("kwm", "datasets", "embedded", "fashion_mnist")
PER_CLASS = 200


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(folder):
    rng = np.random.default_rng(0)
    os.makedirs(OUT, exist_ok=True)
    for source, name in (("train", "train-2k"), ("t10k", "test-2k")):
        paths = [os.path.join(folder, f"{source}-{kind}-ubyte.gz")
                 for kind in ("images-idx3", "labels-idx1")]
        images, labels = (read_idx(p) for p in paths)
        for p in paths:
            print(f"read  {os.path.basename(p)} {_sha256(p)}")
        kept = np.concatenate([np.flatnonzero(labels == c)[:PER_CLASS] for c in range(10)])
        kept = kept[rng.permutation(len(kept))]
        for kind, array in (("images-idx3", images[kept]), ("labels-idx1", labels[kept])):
            path = os.path.join(OUT, f"{name}-{kind}-ubyte.gz")
            write_idx(path, array)
            print(f"wrote {os.path.basename(path)} {_sha256(path)} {array.shape}")


if __name__ == "__main__":
    main(sys.argv[1])
