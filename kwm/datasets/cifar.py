"""CIFAR-10, CIFAR-100 and SVHN: class-folder images, the python pickle release, or tfds.

A local CIFAR-10 copy may be any of:
- image files in class folders, `train/<class>/*.jpg|png` and
  `test/<class>/*`, read with `keras.utils.image_dataset_from_directory`
  (folder names are the class names; labels follow CIFAR's official order,
  not the alphabet);
- a `.tar.gz` / `.tgz` / `.tar` archive holding that layout (extracted once
  into kwm's cache, `$KWM_CACHE_DIR` or `~/.cache/kwm`, keyed by the
  archive's SHA-256);
- the official python release (`cifar-10-batches-py/data_batch_1..5`,
  `test_batch`); for CIFAR-100, `cifar-100-python/train`, `test` (fine labels).

SVHN (the feature-sharing paper's out-of-distribution watermarks for
CIFAR): its cropped-digit release (`train_32x32.mat`, `test_32x32.mat`) or
tfds `svhn_cropped`.
"""

import glob
import os
import pickle
import shutil
import tarfile
import tempfile

import numpy as np

from kwm.datasets import resolver
from kwm.datasets.task_dataset import Split

CACHE_DIR_ENV = "KWM_CACHE_DIR"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard",
    "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
    "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear",
    "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit",
    "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower",
    "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor", "train",
    "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

CIFAR10_FORMAT = (
    "32x32 RGB images in class folders train/<class>/ and test/<class>/ (folder names: "
    f"{', '.join(CIFAR10_CLASSES)}), a .tar.gz of that layout, or the python release "
    "cifar-10-batches-py/"
)
CIFAR100_FORMAT = "the python release cifar-100-python/ (files train, test)"


def cache_dir():
    """kwm's cache folder: `$KWM_CACHE_DIR`, else `~/.cache/kwm`."""
    return os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "kwm")


def extract_archive(path):
    """Extracts a tar archive once into the cache and returns the folder.

    The folder is `<cache>/extracted/<first 16 hex digits of the archive's
    SHA-256>`; extraction goes to a temporary folder renamed into place, so
    an interrupted run never leaves a partial copy. Members that would land
    outside the folder (absolute paths, `..`, links) are refused.

    Args:
        path: str. A `.tar`, `.tar.gz` or `.tgz` file.

    Returns:
        The folder holding the archive's contents.

    Raises:
        ValueError: the archive is corrupt or has unsafe members.
    """
    digest = resolver.sha256_of(path)
    target = os.path.join(cache_dir(), "extracted", digest[:16])
    if os.path.isdir(target):
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".partial-", dir=os.path.dirname(target))
    try:
        try:
            with tarfile.open(path) as archive:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4, 3.12
                    archive.extractall(staging, filter="data")
                else:
                    _check_members(archive, staging)
                    archive.extractall(staging)
        except tarfile.TarError as e:
            raise ValueError(f"Cannot extract the archive safely: {e}. Received: {path}") from e
        try:
            os.rename(staging, target)
        except OSError:  # another process finished first
            if not os.path.isdir(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_members(archive, destination):
    """Refuses links and members that would land outside `destination` (older Pythons)."""
    root = os.path.realpath(destination)
    for member in archive.getmembers():
        target = os.path.realpath(os.path.join(destination, member.name))
        if member.issym() or member.islnk() or os.path.commonpath([root, target]) != root:
            raise tarfile.TarError(f"refusing to extract {member.name!r} outside {destination}")


def _class_folder_root(folder, class_names):
    """The folder holding `train/` and `test/` class folders at or just under `folder`."""
    candidates = [folder] + sorted(
        p for p in glob.glob(os.path.join(folder, "*")) if os.path.isdir(p)
    )
    for root in candidates:
        if all(
            os.path.isdir(os.path.join(root, split, name))
            for split in ("train", "test")
            for name in class_names
        ):
            return root
    return None


def read_class_folders(root, class_names, image_size=(32, 32), batch_size=2048):
    """Reads `root/train/<class>/*` and `root/test/<class>/*` image files.

    Args:
        root: str. Folder holding `train/` and `test/`.
        class_names: sequence of str. Folder names in label order (label `i`
            is `class_names[i]`, whatever the alphabetical order).
        image_size: tuple. Height and width every image must have.
        batch_size: int. Images decoded per step.

    Returns:
        `(train, test)`: two `Split`s of float32 RGB images in [0, 1].

    Raises:
        FileNotFoundError: a split has no images.
        ValueError: an image is not `image_size`.
    """
    import keras

    splits = []
    for split in ("train", "test"):
        folder = os.path.join(root, split)
        extra = sorted(
            d for d in os.listdir(folder)
            if os.path.isdir(os.path.join(folder, d)) and d not in class_names
        )
        if extra:
            raise ValueError(
                f"{folder} holds class folders that are not classes of this dataset "
                f"({list(class_names)}). Received: {extra}"
            )
        _check_sizes(folder, class_names, image_size)
        dataset = keras.utils.image_dataset_from_directory(
            folder,
            labels="inferred",
            label_mode="int",
            class_names=list(class_names),
            color_mode="rgb",
            image_size=image_size,
            batch_size=batch_size,
            shuffle=False,
            verbose=False,
        )
        xs, ys = [], []
        for x, y in dataset:
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
        if not xs:
            raise FileNotFoundError(f"no images in {folder}")
        x = np.concatenate(xs).astype("float32") / 255.0
        splits.append(Split(x, np.concatenate(ys).astype("int32")))
    return splits[0], splits[1]


def _check_sizes(folder, class_names, image_size, per_class=3):
    """Refuses image files of another size (image_dataset_from_directory would resize them)."""
    import keras

    for name in class_names:
        files = sorted(
            f for f in os.listdir(os.path.join(folder, name)) if f.lower().endswith(_IMAGE_SUFFIXES)
        )[:per_class]
        for f in files:
            path = os.path.join(folder, name, f)
            size = keras.utils.load_img(path).size[::-1]
            if tuple(size) != tuple(image_size):
                raise ValueError(
                    f"Expected {image_size[0]}x{image_size[1]} images in {folder}. "
                    f"Received: {path} of size {size[0]}x{size[1]}"
                )


def _unpickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _pickle_split(paths, label_key):
    xs, ys = [], []
    for path in paths:
        batch = _unpickle(path)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(
                f"Expected rows of 3072 bytes (32x32x3) in {path}. Received: shape={data.shape}"
            )
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[label_key]))
    return Split(resolver.images_to_float(np.concatenate(xs)), np.concatenate(ys).astype("int32"))


def _read_python_release(folder, subfolder, train_files, test_files, label_key):
    root = folder
    if os.path.isdir(os.path.join(folder, subfolder)):
        root = os.path.join(folder, subfolder)
    paths = {name: os.path.join(root, name) for name in (*train_files, *test_files)}
    missing = [name for name, p in paths.items() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"no python release in {root} (missing {missing})")
    train = _pickle_split([paths[n] for n in train_files], label_key)
    test = _pickle_split([paths[n] for n in test_files], label_key)
    return train, test, paths


def read_cifar10_folder(folder):
    """Reads CIFAR-10 from `folder` in any of the layouts of the module docstring.

    Returns:
        `(train, test, files)`: two `Split`s of float32 32x32x3 images in
        [0, 1] with int32 labels in CIFAR-10's official order, and the files
        whose SHA-256 the provenance records (the archive or the pickles;
        none for loose image folders).

    Raises:
        FileNotFoundError: no CIFAR-10 copy in `folder`.
    """
    root = _class_folder_root(folder, CIFAR10_CLASSES)
    if root is not None:
        return (*read_class_folders(root, CIFAR10_CLASSES), {})
    archives = sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(_ARCHIVE_SUFFIXES)
    )
    for archive in archives:
        root = _class_folder_root(extract_archive(archive), CIFAR10_CLASSES)
        if root is not None:
            files = {os.path.basename(archive): archive}
            return (*read_class_folders(root, CIFAR10_CLASSES), files)
    try:
        train, test, paths = _read_python_release(
            folder,
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            ["test_batch"],
            b"labels",
        )
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"no train/<class>/ and test/<class>/ folders, no archive holding them "
            f"(looked at {[os.path.basename(a) for a in archives]}), and {e}"
        )
    return train, test, paths


def read_cifar100_folder(folder):
    """Reads the python release of CIFAR-100 (fine labels) from `folder`."""
    return _read_python_release(folder, "cifar-100-python", ["train"], ["test"], b"fine_labels")


def read_svhn_folder(folder):
    """Reads SVHN's cropped-digit release (`train_32x32.mat`, `test_32x32.mat`) from `folder`.

    The files store images as `X` of shape `(32, 32, 3, n)` and labels as
    `y` of shape `(n, 1)` with 10 for the digit 0; kwm returns label 0.
    """
    import scipy.io

    paths = {name: os.path.join(folder, name) for name in ("train_32x32.mat", "test_32x32.mat")}
    missing = [name for name, p in paths.items() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"missing {missing}")
    splits = []
    for path in paths.values():
        mat = scipy.io.loadmat(path)
        x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
        if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != len(y):
            raise ValueError(
                f"Expected X of shape (32, 32, 3, n) and n labels in {path}. "
                f"Received: X.shape={x.shape}, {len(y)} labels"
            )
        y = np.where(y == 10, 0, y).astype("int32")
        splits.append(Split(resolver.images_to_float(x.transpose(3, 0, 1, 2)), y))
    return splits[0], splits[1], paths


CIFAR10 = resolver.register_dataset(
    resolver.DatasetSpec(
        name="cifar10",
        class_names=CIFAR10_CLASSES,
        modality="image",
        read_local=read_cifar10_folder,
        local_folders=("cifar10-jpeg", "cifar10", "cifar-10"),
        local_format=CIFAR10_FORMAT,
        tfds_name="cifar10",
        from_tfds=resolver.images_from_tfds,
        licence="no licence stated by its authors",
        citation="A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009",
    )
)

CIFAR100 = resolver.register_dataset(
    resolver.DatasetSpec(
        name="cifar100",
        class_names=CIFAR100_CLASSES,
        modality="image",
        read_local=read_cifar100_folder,
        local_folders=("cifar100", "cifar-100"),
        local_format=CIFAR100_FORMAT,
        tfds_name="cifar100",
        from_tfds=resolver.images_from_tfds,
        licence="no licence stated by its authors",
        citation="A. Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009",
    )
)

SVHN = resolver.register_dataset(
    resolver.DatasetSpec(
        name="svhn",
        class_names=tuple(str(i) for i in range(10)),
        modality="image",
        read_local=read_svhn_folder,
        local_folders=("svhn",),
        local_format="the cropped-digit release train_32x32.mat, test_32x32.mat",
        tfds_name="svhn_cropped",
        from_tfds=resolver.images_from_tfds,
        licence="non-commercial use",
        citation="Y. Netzer et al., Reading Digits in Natural Images with Unsupervised "
        "Feature Learning, 2011",
    )
)

