"""Text classification datasets (SST-2, IMDB, out-of-distribution text) in their original formats.

A text split's inputs are a 1-D object array of Python strings, exactly as
the files hold them (IMDB keeps its `<br />` tags, as tfds' `imdb_reviews`
does); tokenisation belongs to the model's preprocessor.

Layouts read under a data root:
- `sst2/` (or `SST-2/`): GLUE's `train.tsv` and `dev.tsv` (`sentence<TAB>label`
  with a header). GLUE's test split has no labels, so kwm's test split is
  `dev.tsv`, the split papers report.
- `imdb/` (or `aclImdb/`): the Large Movie Review Dataset's
  `aclImdb/{train,test}/{pos,neg}/{id}_{rating}.txt`, extracted or as its
  `.tar.gz` (read in place, not extracted).
- `text-ood/`: TSV files `id<TAB>mean_rating<TAB>text` (the VADER
  resources' Amazon review and NYT editorial snippets): out-of-distribution
  English for text watermarks.
"""

import csv
import glob
import os
import re
import tarfile

import numpy as np

from kwm.datasets import resolver
from kwm.datasets.task_dataset import Split

SENTIMENT_CLASSES = ("negative", "positive")

SST2_FORMAT = "GLUE TSV files train.tsv and dev.tsv (sentence<TAB>label, with a header)"
IMDB_FORMAT = (
    "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, extracted or as the release's .tar.gz"
)
TEXT_OOD_FORMAT = "TSV files id<TAB>mean_rating<TAB>text, with a header"

_IMDB_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_ARCHIVES = (".tar.gz", ".tgz", ".tar")


def text_split(texts, labels):
    """A `Split` of strings (an object array) and int32 labels."""
    x = np.empty(len(texts), dtype=object)
    x[:] = list(texts)
    return Split(x, np.asarray(labels, dtype="int32"))


def _read_tsv(path, columns):
    """Rows of a TSV file with a header, as dicts of the named `columns`."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} has no column {missing}; its header is {reader.fieldnames}. "
                f"Received: a file without the columns {list(columns)}"
            )
        return [{c: row[c] for c in columns} for row in reader]


def _sst2_split(path):
    texts, labels = [], []
    for line, row in enumerate(_read_tsv(path, ("sentence", "label")), start=2):
        if row["label"] not in ("0", "1"):
            raise ValueError(
                f"SST-2 labels are 0 or 1; line {line} of {path} has another. "
                f"Received: label={row['label']!r}"
            )
        texts.append(row["sentence"].strip())
        labels.append(int(row["label"]))
    return text_split(texts, labels)


def read_sst2_folder(folder):
    """Reads SST-2 from GLUE's `train.tsv` and `dev.tsv` in `folder`.

    Args:
        folder: str. A folder holding `train.tsv` and `dev.tsv`.

    Returns:
        `(train, test, files)`: the train split, the dev split as test (GLUE's
        test labels are hidden), and the files read.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file lacks the `sentence` or `label` column, or has a
            label other than 0 or 1.
    """
    files = {}
    for name in ("train.tsv", "dev.tsv"):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no {name}")
        files[name] = path
    return _sst2_split(files["train.tsv"]), _sst2_split(files["dev.tsv"]), files


def _imdb_splits(reviews):
    """Train and test splits from `(split, polarity, id, text)` tuples, in a fixed order."""
    splits = {}
    for split in ("train", "test"):
        chosen = sorted((r for r in reviews if r[0] == split), key=lambda r: (r[1], r[2]))
        if not chosen:
            raise FileNotFoundError(f"no {split}/pos or {split}/neg reviews")
        splits[split] = text_split(
            [r[3] for r in chosen], [SENTIMENT_CLASSES.index(
                "positive" if r[1] == "pos" else "negative") for r in chosen]
        )
    return splits["train"], splits["test"]


def _imdb_from_archive(path):
    reviews = []
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                match = _IMDB_MEMBER.search(member.name)
                if match and member.isfile():
                    text = archive.extractfile(member).read().decode("utf-8")
                    reviews.append((match[1], match[2], int(match[3]), text))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"Cannot read the IMDB archive: {e}. Received: {path}") from e
    return reviews


def _imdb_from_folder(root):
    reviews = []
    for split in ("train", "test"):
        for polarity in ("pos", "neg"):
            for path in glob.glob(os.path.join(root, split, polarity, "*.txt")):
                match = _IMDB_MEMBER.search(path.replace(os.sep, "/"))
                if match:
                    with open(path, encoding="utf-8") as f:
                        reviews.append((split, polarity, int(match[3]), f.read()))
    return reviews


def read_imdb_folder(folder):
    """Reads the labelled IMDB reviews (aclImdb) from `folder`.

    `folder` may be the `aclImdb/` folder itself, hold it, or hold the
    release's archive (`aclImdb_v1.tar.gz` or any `.tar.gz` with that
    layout), which is read in place. Labels: 0 negative (rating <= 4),
    1 positive (rating >= 7), as tfds' `imdb_reviews`; reviews are ordered
    by label, then id.

    Args:
        folder: str. Where to look.

    Returns:
        `(train, test, files)`: two `Split`s of review strings with int32
        labels, and the archive read (none for an extracted folder).

    Raises:
        FileNotFoundError: no reviews in the aclImdb layout.
        ValueError: a corrupt archive.
    """
    for root in (folder, os.path.join(folder, "aclImdb")):
        if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "test")):
            return (*_imdb_splits(_imdb_from_folder(root)), {})
    archives = sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(_ARCHIVES)
    )
    for archive in archives:
        reviews = _imdb_from_archive(archive)
        if reviews:
            return (*_imdb_splits(reviews), {os.path.basename(archive): archive})
    raise FileNotFoundError(
        f"no aclImdb/train and aclImdb/test folders, and no archive holding "
        f"{{train,test}}/{{pos,neg}}/<id>_<rating>.txt (looked at "
        f"{[os.path.basename(a) for a in archives]})"
    )


def read_text_ood_folder(folder, test_every=5):
    """Reads out-of-distribution English snippets (`id, mean_rating, text` TSV files).

    Every TSV file in `folder` is read in name order; a snippet's label is
    its rating's sign (1 positive, 0 negative; rating 0 is dropped). Every
    `test_every`-th snippet of each file goes to the test split, so both
    splits hold every source.

    Args:
        folder: str. A folder of TSV files.
        test_every: int. One snippet in this many is a test snippet.

    Returns:
        `(train, test, files)`.

    Raises:
        FileNotFoundError: no TSV file.
        ValueError: a file without the columns, or a rating that is not a
            number.
    """
    paths = sorted(glob.glob(os.path.join(folder, "*.tsv")))
    if not paths:
        raise FileNotFoundError("no .tsv file")
    parts = {"train": ([], []), "test": ([], [])}
    for path in paths:
        kept = 0
        for row in _read_tsv(path, ("id", "mean_rating", "text")):
            try:
                rating = float(row["mean_rating"])
            except ValueError:
                raise ValueError(
                    f"Ratings in {path} must be numbers. Received: "
                    f"mean_rating={row['mean_rating']!r} (id {row['id']!r})"
                ) from None
            if rating == 0 or not row["text"].strip():
                continue
            split = "test" if kept % test_every == test_every - 1 else "train"
            parts[split][0].append(row["text"].strip())
            parts[split][1].append(int(rating > 0))
            kept += 1
    train, test = (text_split(*parts[s]) for s in ("train", "test"))
    return train, test, {os.path.basename(p): p for p in paths}


def texts_from_tfds(x, y):
    """A tfds text split (UTF-8 bytes, integer labels) in kwm's format (`DatasetSpec.from_tfds`)."""
    return text_split([t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in x], y)


SST2 = resolver.register_dataset(
    resolver.DatasetSpec(
        name="sst2",
        class_names=SENTIMENT_CLASSES,
        modality="text",
        read_local=read_sst2_folder,
        local_folders=("sst2", "SST-2"),
        local_format=SST2_FORMAT,
        tfds_name="glue/sst2",
        tfds_splits=("train", "validation"),
        tfds_keys=("sentence", "label"),
        from_tfds=texts_from_tfds,
        embedded="sst2",
        licence="no licence stated by the treebank's authors; cite Socher et al. 2013 and GLUE",
        citation="R. Socher et al., Recursive Deep Models for Semantic Compositionality Over a "
        "Sentiment Treebank (EMNLP 2013); GLUE (Wang et al. 2018)",
    )
)

IMDB = resolver.register_dataset(
    resolver.DatasetSpec(
        name="imdb",
        class_names=SENTIMENT_CLASSES,
        modality="text",
        read_local=read_imdb_folder,
        local_folders=("imdb", "aclImdb"),
        local_format=IMDB_FORMAT,
        tfds_name="imdb_reviews",
        from_tfds=texts_from_tfds,
        embedded="imdb",
        licence="no licence stated by its authors; cite Maas et al. 2011",
        citation="A. L. Maas et al., Learning Word Vectors for Sentiment Analysis (ACL 2011)",
    )
)

TEXT_OOD = resolver.register_dataset(
    resolver.DatasetSpec(
        name="text_ood",
        class_names=SENTIMENT_CLASSES,
        modality="text",
        read_local=read_text_ood_folder,
        local_folders=("text-ood", "text_ood"),
        local_format=TEXT_OOD_FORMAT,
        tfds_name="yelp_polarity_reviews",
        from_tfds=texts_from_tfds,
        licence="MIT (VADER resources); Yelp: the Yelp Dataset terms",
        citation="C. J. Hutto, E. Gilbert, VADER (ICWSM 2014); online: Yelp polarity reviews "
        "(Zhang et al. 2015)",
    )
)
