"""MNIST and Fashion-MNIST, read from their original IDX gzip files."""

import os
import re

from kwm.datasets import resolver
from kwm.datasets.idx import read_idx
from kwm.datasets.task_dataset import Split

IDX_FORMAT = (
    "IDX files: train*-images-idx3-ubyte[.gz], train*-labels-idx1-ubyte[.gz], "
    "t10k-images-idx3-ubyte[.gz] (or test*), t10k-labels-idx1-ubyte[.gz]"
)

_PATTERNS = {
    "train_images": r"^train.*-images-idx3-ubyte(\.gz)?$",
    "train_labels": r"^train.*-labels-idx1-ubyte(\.gz)?$",
    "test_images": r"^(t10k|test).*-images-idx3-ubyte(\.gz)?$",
    "test_labels": r"^(t10k|test).*-labels-idx1-ubyte(\.gz)?$",
}


def _find(folder, role):
    names = sorted(n for n in os.listdir(folder) if re.match(_PATTERNS[role], n))
    if not names:
        raise FileNotFoundError(f"no file matching {_PATTERNS[role]}")
    stems = {n[:-3] if n.endswith(".gz") else n for n in names}
    if len(stems) > 1:
        raise FileNotFoundError(
            f"several candidate {role.replace('_', ' ')} files {names}; keep one"
        )
    # The same file compressed and uncompressed: read the original .gz.
    name = max(names, key=lambda n: n.endswith(".gz"))
    return os.path.join(folder, name)


def read_idx_folder(folder, image_shape=(28, 28)):
    """Reads the four IDX files of an MNIST-format dataset from `folder`.

    Args:
        folder: str. Directory holding the IDX files (gzip or not).
        image_shape: tuple. Expected height and width of each image.

    Returns:
        `(train, test, files)`: two `Split`s of float32 images in [0, 1]
        shaped `(n, h, w, 1)` with int32 labels, and the files read.

    Raises:
        FileNotFoundError: a file is missing or ambiguous.
        ValueError: a file is malformed, or images and labels disagree.
    """
    files = {role: _find(folder, role) for role in _PATTERNS}
    splits = []
    for split in ("train", "test"):
        images = read_idx(files[f"{split}_images"])
        labels = read_idx(files[f"{split}_labels"])
        if images.ndim != 3 or images.shape[1:] != tuple(image_shape):
            raise ValueError(
                f"Expected {split} images of shape (n, {image_shape[0]}, "
                f"{image_shape[1]}) in {files[f'{split}_images']}. "
                f"Received: shape={images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(
                f"Expected one label per {split} image in "
                f"{files[f'{split}_labels']}. Received: {len(images)} images, "
                f"labels of shape {labels.shape}"
            )
        splits.append(Split(resolver.images_to_float(images), labels.astype("int32")))
    named = {os.path.basename(p): p for p in files.values()}
    return splits[0], splits[1], named


MNIST = resolver.register_dataset(
    resolver.DatasetSpec(
        name="mnist",
        class_names=tuple(str(i) for i in range(10)),
        modality="image",
        read_local=read_idx_folder,
        local_folders=("mnist",),
        local_format=IDX_FORMAT,
        tfds_name="mnist",
        from_tfds=resolver.images_from_tfds,
        embedded="mnist",
        licence="CC BY-SA 3.0",
        citation="Y. LeCun, C. Cortes, C. J. C. Burges, The MNIST database of "
        "handwritten digits",
    )
)

FASHION_MNIST = resolver.register_dataset(
    resolver.DatasetSpec(
        name="fashion_mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        modality="image",
        read_local=read_idx_folder,
        local_folders=("fashion-mnist", "fashion_mnist"),
        local_format=IDX_FORMAT,
        tfds_name="fashion_mnist",
        from_tfds=resolver.images_from_tfds,
        embedded="fashion_mnist",
        licence="MIT",
        citation="H. Xiao, K. Rasul, R. Vollgraf, Fashion-MNIST (Zalando Research)",
    )
)
