"""CIFAR-10, CIFAR-100 and SVHN loaders on small copies the tests write in each format."""

import os
import pickle
import tarfile

import numpy as np
import pytest
import scipy.io
import tensorflow_datasets as tfds

from kwm import datasets
from kwm.datasets import DatasetNotFoundError
from kwm.datasets.cifar import CIFAR100_CLASSES

from conftest import class_value, write_class_folders


def check_labels_follow_pixels(split):
    decoded = np.round(split.x[:, 5, 5, 0] * 255).astype(int)
    np.testing.assert_array_equal(decoded, class_value(split.y))


def test_class_folders_use_cifars_label_order_not_the_alphabet(tmp_path):
    write_class_folders(tmp_path / "cifar10")
    data = datasets.load("cifar10", data_dir=tmp_path, sources=("local",))
    assert (len(data.train), len(data.test)) == (30, 20)
    assert data.train.x.shape[1:] == (32, 32, 3) and data.train.x.dtype == np.float32
    assert data.train.y.dtype == np.int32 and sorted(set(data.train.y)) == list(range(10))
    check_labels_follow_pixels(data.train)
    check_labels_follow_pixels(data.test)
    # "automobile" sorts before "bird" and after "airplane" alike; "truck" is 9, not 9 by accident.
    assert data.class_names[1] == "automobile" and data.class_names[9] == "truck"
    assert data.provenance.files == {}  # loose files: no archive to fingerprint


def test_an_archive_is_extracted_once_into_the_cache(tmp_path, monkeypatch):
    tree = write_class_folders(tmp_path / "tree", per_class=(2, 1))
    folder = tmp_path / "data" / "cifar10-jpeg"
    folder.mkdir(parents=True)
    archive = folder / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(os.path.join(tree, "train"), arcname="train")
        tar.add(os.path.join(tree, "test"), arcname="test")
    cache = tmp_path / "cache"
    monkeypatch.setenv("KWM_CACHE_DIR", str(cache))
    data = datasets.load("cifar10", data_dir=tmp_path / "data", sources=("local",))
    check_labels_follow_pixels(data.train)
    assert list(data.provenance.files) == ["cifar10-jpeg.tar.gz"]
    extracted = os.listdir(cache / "extracted")
    assert len(extracted) == 1 and data.provenance.files["cifar10-jpeg.tar.gz"].startswith(extracted[0])
    assert not [n for n in os.listdir(cache / "extracted") if n.startswith(".partial")]
    again = datasets.load("cifar10", data_dir=tmp_path / "data", sources=("local",))
    np.testing.assert_array_equal(again.train.x, data.train.x)
    assert os.listdir(cache / "extracted") == extracted


def test_an_archive_escaping_its_folder_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    with tarfile.open(folder / "bad.tar.gz", "w:gz") as tar:
        tar.add(evil, arcname="../escaped.txt")
    monkeypatch.setenv("KWM_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="Cannot extract the archive safely"):
        datasets.load("cifar10", data_dir=tmp_path, sources=("local",))
    assert not (tmp_path / "cache" / "escaped.txt").exists()


def test_images_of_another_size_are_refused(tmp_path):
    write_class_folders(tmp_path / "cifar10", per_class=(1, 1), size=28)
    with pytest.raises(ValueError, match="Expected 32x32 images"):
        datasets.load("cifar10", data_dir=tmp_path, sources=("local",))


def _pickle(path, rows, labels, label_key):
    with open(path, "wb") as f:
        pickle.dump({b"data": rows, label_key: list(labels)}, f)


def _rows(labels):
    images = np.stack([np.full((32, 32, 3), class_value(y), np.uint8) for y in labels])
    return images.transpose(0, 3, 1, 2).reshape(len(labels), 3072)  # CIFAR's channel-major rows


def test_python_release_of_cifar10(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        labels = np.arange(10)[::-1] if i == 1 else np.arange(4)
        _pickle(folder / f"data_batch_{i}", _rows(labels), labels, b"labels")
    _pickle(folder / "test_batch", _rows(np.arange(10)), np.arange(10), b"labels")
    data = datasets.load("cifar10", data_dir=tmp_path, sources=("local",))
    assert (len(data.train), len(data.test)) == (26, 10)
    check_labels_follow_pixels(data.train)
    assert set(data.provenance.files) == {f"data_batch_{i}" for i in range(1, 6)} | {"test_batch"}


def test_python_release_of_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    labels = np.array([0, 95, 99, 7])
    for name in ("train", "test"):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": _rows(labels % 25), b"fine_labels": list(labels),
                         b"coarse_labels": [0, 1, 2, 3]}, f)
    data = datasets.load("cifar100", data_dir=tmp_path, sources=("local",))
    assert data.num_classes == 100 and data.test.y.tolist() == [0, 95, 99, 7]
    assert data.class_names[95] == "whale" and len(set(CIFAR100_CLASSES)) == 100


def test_svhn_release_maps_label_ten_to_zero(tmp_path):
    folder = tmp_path / "svhn"
    folder.mkdir()
    for name, labels in (("train", [10, 1, 2]), ("test", [3, 10])):
        x = np.zeros((32, 32, 3, len(labels)), np.uint8)
        scipy.io.savemat(folder / f"{name}_32x32.mat", {"X": x, "y": np.array(labels)[:, None]})
    data = datasets.load("svhn", data_dir=tmp_path, sources=("local",))
    assert data.train.y.tolist() == [0, 1, 2] and data.test.y.tolist() == [3, 0]


@pytest.mark.parametrize(
    "name, num_classes", [("cifar10", 10), ("cifar100", 100), ("svhn", 10)]
)
def test_tfds_source_with_mock_data(tmp_path, name, num_classes):
    with tfds.testing.mock_data(num_examples=9):
        data = datasets.load(name, sources=("tfds",), download=True, tfds_data_dir=str(tmp_path))
    assert data.provenance.source == "tfds" and data.num_classes == num_classes
    assert data.train.x.shape == (9, 32, 32, 3) and data.train.x.max() <= 1.0


@pytest.mark.parametrize("name, how", [("cifar100", "cifar-100-python"), ("svhn", "train_32x32.mat")])
def test_datasets_not_available_offline_fail_clearly(tmp_path, monkeypatch, name, how):
    monkeypatch.setenv("KWM_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as error:
        datasets.load(name, tfds_data_dir=str(tmp_path / "tfds"))
    message = str(error.value)
    assert f"Dataset {name!r} was not found" in message
    assert how in message and "tfds build" in message and "no network" in message


def test_smaller_grey_images_are_padded_to_the_tasks_shape(toy_data):
    padded = datasets.match_input_shape(toy_data, (20, 20, 3))
    assert padded.train.x.shape == (600, 20, 20, 3)
    np.testing.assert_array_equal(padded.train.x[:, 2:18, 2:18, 1], toy_data.train.x[..., 0])
    assert padded.train.x[:, :2].max() == 0 and padded.train.x[:, :, 18:].max() == 0
    np.testing.assert_array_equal(padded.train.y, toy_data.train.y)
    assert "padded from (16, 16, 1) to (20, 20, 3)" in padded.provenance.notes
    assert datasets.match_input_shape(toy_data, (16, 16, 1)) is toy_data
    with pytest.raises(ValueError, match="not cropped or resized"):
        datasets.match_input_shape(toy_data, (8, 8, 1))
    with pytest.raises(ValueError, match="Only grey images can gain channels"):
        datasets.pad_images(np.zeros((1, 4, 4, 3)), (8, 8, 1))
