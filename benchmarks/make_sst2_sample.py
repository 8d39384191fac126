"""Writes kwm's embedded SST-2 sample from GLUE's SST-2 files (`kwm/datasets/embedded/sst2/`).

    python benchmarks/make_sst2_sample.py ../shared/data/sst2

Draws, with a fixed seed, `--train` rows of GLUE's `train.tsv` (phrases of the Stanford Sentiment
Treebank with their binary labels) and keeps all of `dev.tsv` (872 sentences, the split papers
report), writing both in GLUE's own format (`sentence<TAB>label` with its header, rows
byte-for-byte, the drawn rows in their original order), which `kwm.datasets.load("sst2")` reads
like the full files.
"""

import argparse
import os

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder holding GLUE's SST-2 train.tsv and dev.tsv")
    parser.add_argument("--train", type=int, default=4000, help="train rows drawn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="kwm/datasets/embedded/sst2")
    args = parser.parse_args(argv)

    with open(os.path.join(args.folder, "train.tsv"), "rb") as f:
        header, *rows = f.read().splitlines(keepends=True)
    picks = np.random.default_rng(args.seed).choice(len(rows), size=args.train, replace=False)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "train.tsv"), "wb") as f:
        f.write(header + b"".join(rows[i] for i in sorted(picks)))
    with open(os.path.join(args.folder, "dev.tsv"), "rb") as f:
        dev = f.read()
    with open(os.path.join(args.output, "dev.tsv"), "wb") as f:
        f.write(dev)
    for name in ("train.tsv", "dev.tsv"):
        path = os.path.join(args.output, name)
        print(f"{path}: {os.path.getsize(path):,} bytes")


if __name__ == "__main__":
    main()
