"""The real datasets beside the project (`KWM_DATA_DIR`, e.g. ../shared/data in CI)."""

import os

import numpy as np
import pytest

from kwm import datasets

DATA_DIR = os.environ.get("KWM_DATA_DIR", "")
needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(DATA_DIR, "mnist")),
    reason="KWM_DATA_DIR does not hold the real datasets (.ci/run sets it)",
)

# Published SHA-256 of the shared copies (shared/data/README.md).
MNIST_TEST_IMAGES = "893c89736f094c134ee8b22757c4417297db16fba5654d64dfd11a2d2b498023"
FASHION_TRAIN_LABELS = "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"


@needs_data
def test_real_mnist():
    data = datasets.load("mnist", sources=("local",))
    assert (len(data.train), len(data.test)) == (10_000, 10_000)
    assert data.provenance.files["t10k-images-idx3-ubyte.gz"] == MNIST_TEST_IMAGES
    assert np.bincount(data.test.y).tolist()[:3] == [980, 1135, 1032]  # the official test set


@needs_data
def test_real_fashion_mnist():
    data = datasets.load("fashion_mnist", sources=("local",))
    assert (len(data.train), len(data.test)) == (60_000, 10_000)
    assert data.provenance.files["train-labels-idx1-ubyte.gz"] == FASHION_TRAIN_LABELS
    assert (np.bincount(data.train.y) == 6000).all()


@needs_data
def test_embedded_sample_is_a_subset_of_the_real_training_digits():
    real = datasets.load("mnist", sources=("local",)).train.x
    sample = datasets.load("mnist", sources=("embedded",)).test.x
    real_rows = {row.tobytes() for row in real}
    assert all(row.tobytes() in real_rows for row in sample[:200])
