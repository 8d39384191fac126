"""Writes kwm's embedded IMDB sample from the aclImdb release (`kwm/datasets/embedded/imdb/`).

    python benchmarks/make_imdb_sample.py ../shared/data/imdb/aclImdb_labeled.tar.gz

Draws, with a fixed seed, `--train` reviews of each polarity from the release's train split and
`--test` from its test split, keeps the first `--max-words` words of each (the text up to the end
of that word, byte for byte; 0 keeps whole reviews), and writes them in the release's own layout
(`aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`, plus its README) as a reproducible tar.gz
(sorted members, zero timestamps), which `kwm.datasets.load("imdb")` reads like the full release.
"""

import argparse
import gzip
import io
import os
import re
import tarfile

import numpy as np

MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def first_words(data, count):
    """The bytes of a review up to the end of its `count`-th whitespace-separated word (0: all)."""
    if count:
        words = list(re.finditer(rb"\S+", data))
        if len(words) > count:
            return data[: words[count - 1].end()]
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", help="the aclImdb release (.tar.gz)")
    parser.add_argument("--train", type=int, default=4000, help="train reviews per polarity")
    parser.add_argument("--test", type=int, default=2500, help="test reviews per polarity")
    parser.add_argument("--max-words", type=int, default=80,
                        help="keep the first N words of each review (0: whole reviews)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="kwm/datasets/embedded/imdb/aclImdb_sample.tar.gz")
    args = parser.parse_args(argv)

    reviews, readme = {}, None
    with tarfile.open(args.archive) as archive:
        for member in archive:
            if member.name.endswith("aclImdb/README"):
                readme = archive.extractfile(member).read()
            match = MEMBER.search(member.name)
            if match and member.isfile():
                key = (match[1], match[2])
                reviews.setdefault(key, []).append((member.name, archive.extractfile(member).read()))
    rng = np.random.default_rng(args.seed)
    chosen = []
    for split, count in (("train", args.train), ("test", args.test)):
        for polarity in ("neg", "pos"):
            pool = sorted(reviews[(split, polarity)])
            picks = rng.choice(len(pool), size=count, replace=False)
            chosen += [
                (pool[i][0], first_words(pool[i][1], args.max_words)) for i in sorted(picks)
            ]
    files = [("aclImdb/README", readme)] if readme else []
    files += [(name[name.index("aclImdb/"):], data) for name, data in chosen]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=9, filename="") as gz:
            gz.write(buffer.getvalue())
    print(f"{args.output}: {len(chosen)} reviews, {os.path.getsize(args.output):,} bytes")


if __name__ == "__main__":
    main()
