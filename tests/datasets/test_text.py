import hashlib
import io
import os
import tarfile

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kwm import datasets
from kwm.datasets import DatasetNotFoundError

SHARED = os.environ.get("KWM_DATA_DIR", "")


def _write_sst2(folder, train_rows, dev_rows):
    os.makedirs(folder, exist_ok=True)
    for name, rows in (("train.tsv", train_rows), ("dev.tsv", dev_rows)):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n")
            f.writelines(f"{text} \t{label}\n" for text, label in rows)


def _imdb_reviews():
    return {
        "train/pos/3_9.txt": "A \"wonderful\" film.<br /><br />Loved it.",
        "train/pos/1_7.txt": "Good, if long.",
        "train/neg/2_1.txt": "Dreadful; I left early.",
        "test/neg/5_3.txt": "Not for me.",
        "test/pos/4_10.txt": "Café scenes are lovely — ünïcode kept.",
    }


def _write_imdb_archive(path, reviews):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in reviews.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_sst2_from_glue_tsv_files(tmp_path):
    _write_sst2(tmp_path / "sst2", [("a gem", 1), ("dull , dull", 0), ("fine", 1)], [("meh", 0)])
    data = datasets.load("sst2", data_dir=str(tmp_path), sources=("local",))
    assert data.modality == "text" and data.class_names == ("negative", "positive")
    assert data.train.x.tolist() == ["a gem", "dull , dull", "fine"]  # trailing space stripped
    assert data.train.y.tolist() == [1, 0, 1] and data.train.y.dtype == np.int32
    assert data.test.x.tolist() == ["meh"]
    assert set(data.provenance.files) == {"train.tsv", "dev.tsv"}


def test_sst2_bad_files_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    _write_sst2(tmp_path / "sst2", [("a gem", 2)], [("meh", 0)])
    with pytest.raises(ValueError, match="line 2 .*Received: label='2'"):
        datasets.load("sst2", data_dir=str(tmp_path), sources=("local",))
    os.remove(tmp_path / "sst2" / "dev.tsv")
    with pytest.raises(DatasetNotFoundError, match="no dev.tsv") as error:
        datasets.load("sst2", data_dir=str(tmp_path), sources=("local", "tfds"))
    assert "glue/sst2" in str(error.value) and "train.tsv and dev.tsv" in str(error.value)


@pytest.mark.parametrize("layout", ["archive", "extracted", "extracted_root"])
def test_imdb_from_the_release_layout(tmp_path, layout):
    reviews = _imdb_reviews()
    folder = tmp_path / "imdb"
    folder.mkdir()
    if layout == "archive":
        _write_imdb_archive(folder / "aclImdb_v1.tar.gz", reviews)
    else:
        root = folder / "aclImdb" if layout == "extracted" else folder
        for name, text in reviews.items():
            (root / os.path.dirname(name)).mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text, encoding="utf-8")
    data = datasets.load("imdb", data_dir=str(tmp_path), sources=("local",))
    # Ordered by label, then id; texts byte for byte, tags and all.
    assert data.train.x.tolist() == [reviews["train/neg/2_1.txt"], reviews["train/pos/1_7.txt"],
                                     reviews["train/pos/3_9.txt"]]
    assert data.train.y.tolist() == [0, 1, 1]
    assert data.test.x.tolist() == [reviews["test/neg/5_3.txt"], reviews["test/pos/4_10.txt"]]
    if layout == "archive":
        digest = hashlib.sha256((folder / "aclImdb_v1.tar.gz").read_bytes()).hexdigest()
        assert data.provenance.files == {"aclImdb_v1.tar.gz": digest}


def test_imdb_without_reviews_says_what_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    (tmp_path / "imdb").mkdir()
    with tarfile.open(tmp_path / "imdb" / "other.tar.gz", "w:gz"):
        pass
    with pytest.raises(DatasetNotFoundError, match=r"no aclImdb/train.*other\.tar\.gz"):
        datasets.load("imdb", data_dir=str(tmp_path), sources=("local",))
    (tmp_path / "imdb" / "other.tar.gz").write_bytes(b"\x1f\x8b not a gzip stream")
    with pytest.raises(ValueError, match="Cannot read the IMDB archive"):
        datasets.load("imdb", data_dir=str(tmp_path), sources=("local",))


def test_embedded_imdb_sample_is_real_and_balanced():
    data = datasets.load("imdb", sources=("embedded",))
    assert data.provenance.source == "embedded" and "aclImdb" in data.provenance.notes
    assert (len(data.train), len(data.test)) == (8000, 5000)
    assert np.bincount(data.train.y).tolist() == [4000, 4000]
    assert np.bincount(data.test.y).tolist() == [2500, 2500]
    assert all(isinstance(t, str) and len(t) > 20 for t in data.train.x)
    # Each review is cut after its 80th word (a 64-WordPiece BERT reads no further).
    assert max(len(t.encode().split()) for t in data.train.x) == 80
    assert len(set(data.train.x) & set(data.test.x)) <= 10  # the release repeats a few reviews
    assert list(data.provenance.files.values()) == [
        "74d5f4523172a44e1e9c9658c4c49f6818a5f72c02640ccdd677de255dbc2383"
    ]



def test_embedded_sst2_sample_is_real():
    data = datasets.load("sst2", sources=("embedded",))
    assert data.provenance.source == "embedded" and "GLUE" in data.provenance.notes
    assert (len(data.train), len(data.test)) == (4000, 872)  # GLUE's whole dev split as test
    assert np.bincount(data.train.y).tolist() == [1781, 2219]
    assert np.bincount(data.test.y).tolist() == [428, 444]
    assert all(isinstance(t, str) and t for t in data.train.x)
    assert data.provenance.files == {
        "train.tsv": "e146bd5e7b893cba793603a7738eef05da84e1d73664cc686bfba9f1b540bfbe",
        "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
    }

def test_text_ood_snippets(tmp_path):
    folder = tmp_path / "text-ood"
    folder.mkdir()
    rows = [f"{i}\t{rating}\tsnippet {i}" for i, rating in enumerate(
        [0.5, -1.2, 0.0, 2.0, -0.1, 1.0, 0.3])]
    (folder / "a.tsv").write_text("id\tmean_rating\ttext\n" + "\n".join(rows) + "\n")
    data = datasets.load("text_ood", data_dir=str(tmp_path), sources=("local",))
    kept = ["snippet 0", "snippet 1", "snippet 3", "snippet 4", "snippet 5", "snippet 6"]
    assert data.test.x.tolist() == ["snippet 5"]  # every fifth kept snippet; rating 0 dropped
    assert data.train.x.tolist() == [t for t in kept if t != "snippet 5"]
    assert data.train.y.tolist() == [1, 0, 1, 0, 1]
    (folder / "a.tsv").write_text("id\tmean_rating\ttext\n1\thigh\tx\n")
    with pytest.raises(ValueError, match="Received: mean_rating='high'"):
        datasets.load("text_ood", data_dir=str(tmp_path), sources=("local",))


@pytest.mark.parametrize("name, tfds_name", [("sst2", "glue/sst2"), ("imdb", "imdb_reviews")])
def test_text_from_tfds_with_mock_data(tmp_path, name, tfds_name):
    with tfds.testing.mock_data(num_examples=6):
        data = datasets.load(name, sources=("tfds",), download=True, tfds_data_dir=str(tmp_path))
    assert data.provenance.source == "tfds" and tfds_name in data.provenance.location
    assert len(data.train) == 6 and data.train.x.dtype == object
    assert all(isinstance(t, str) for t in data.train.x)
    assert set(data.train.y.tolist()) <= {0, 1}


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "sst2")),
                    reason="KWM_DATA_DIR does not hold the real datasets (.ci/run sets it)")
def test_real_text_datasets():
    sst2 = datasets.load("sst2", data_dir=SHARED, sources=("local",))
    assert (len(sst2.train), len(sst2.test)) == (67349, 872)
    imdb = datasets.load("imdb", data_dir=SHARED, sources=("local",))
    assert (len(imdb.train), len(imdb.test)) == (25000, 25000)
    assert np.bincount(imdb.train.y).tolist() == [12500, 12500]
    ood = datasets.load("text_ood", data_dir=SHARED, sources=("local",))
    assert len(ood.train) + len(ood.test) > 8000
