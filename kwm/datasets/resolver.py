"""Finds a dataset: a local copy, then tfds, then a sample embedded in kwm.

Every dataset kwm knows is described by a `DatasetSpec`. `load()` walks the
sources in order and returns the first that has the data, recording what it
tried in the dataset's provenance; when none has it, `DatasetNotFoundError`
says where it looked and how to provide a copy.

Offline, `tfds.load(..., download=True)` retries for minutes before it
fails. kwm therefore only lets tfds download when the download host
resolves and accepts a connection within a couple of seconds, or when the
caller asks for it explicitly (`download=True`).
"""

import dataclasses
import hashlib
import importlib.resources
import os
import socket
from typing import Callable, Optional

import numpy as np

from kwm.datasets.task_dataset import DataProvenance, Split, TaskDataset

DATA_DIR_ENV = "KWM_DATA_DIR"
OFFLINE_ENV = "KWM_OFFLINE"
SOURCES = ("local", "tfds", "embedded")
_TFDS_HOST = ("storage.googleapis.com", 443)


class DatasetNotFoundError(FileNotFoundError):
    """No source could provide the dataset; the message says where kwm looked."""


class _SourceUnavailable(Exception):
    """A source does not have the dataset; the message says why."""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How to find one dataset in each source.

    Args:
        name: str. kwm's name for the dataset (`kwm.datasets.load(name)`).
        class_names: tuple of str. One per class, in label order.
        modality: str. `"image"`, `"text"` or `"audio"`.
        read_local: callable. `read_local(folder) -> (train, test, files)`
            with two `Split`s and a dict of file name to path; raises
            `FileNotFoundError` when the folder lacks the files.
        local_folders: tuple of str. Folder names tried under a data root.
        local_format: str. The original file format a local copy must have.
        tfds_name: str or None. Name in the TensorFlow Datasets catalogue.
        from_tfds: callable or None. Converts `(x, y)` NumPy arrays of one
            tfds split to kwm's input format.
        tfds_splits: tuple of str. The tfds splits kwm uses as its train and
            test splits (GLUE's labelled evaluation split is `validation`).
        tfds_keys: tuple of str or None. The input and label features, for a
            tfds dataset without supervised keys; None: `as_supervised`.
        embedded: str or None. Folder under `kwm/datasets/embedded/` holding
            a real sample of the dataset in its original format.
        licence: str. Licence of the data.
        citation: str. Who made the data.
    """

    name: str
    class_names: tuple
    modality: str
    read_local: Callable
    local_folders: tuple
    local_format: str
    tfds_name: Optional[str] = None
    from_tfds: Optional[Callable] = None
    tfds_splits: tuple = ("train", "test")
    tfds_keys: Optional[tuple] = None
    embedded: Optional[str] = None
    licence: str = ""
    citation: str = ""


_REGISTRY = {}


def register_dataset(spec):
    """Makes a `DatasetSpec` loadable by name through `kwm.datasets.load`."""
    _REGISTRY[spec.name] = spec
    return spec


def available_datasets():
    """Names of the datasets `load` knows, sorted."""
    return sorted(_REGISTRY)


def get_spec(name):
    if name not in _REGISTRY:
        raise ValueError(
            f"Unknown dataset. Known datasets: {available_datasets()}. "
            f"Received: name={name!r}"
        )
    return _REGISTRY[name]


def sha256_of(path, chunk_size=1 << 20):
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def network_available(address=_TFDS_HOST, timeout=2.0):
    """Whether the tfds download host accepts a TCP connection quickly."""
    if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
        return False
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def load(
    name,
    data_dir=None,
    sources=SOURCES,
    tfds_data_dir=None,
    download="auto",
):
    """Loads a task dataset by name from the first source that has it.

    Resolution order (restricted to `sources`):
    1. `local`: a copy in the dataset's original file format under
       `data_dir`, then under the directory in the `KWM_DATA_DIR`
       environment variable; each root must hold the dataset's folder
       (e.g. `<root>/mnist/`, `<root>/fashion-mnist/`).
    2. `tfds`: TensorFlow Datasets, if the dataset is already prepared in
       `tfds_data_dir`, or if it can be downloaded (see `download`).
    3. `embedded`: a real sample shipped inside kwm (MNIST, Fashion-MNIST,
       IMDB), so that the main job runs offline out of the box.

    Args:
        name: str. Dataset name, see `available_datasets()`.
        data_dir: str or None. Root of local copies.
        sources: sequence of str. Sources to try, in order.
        tfds_data_dir: str or None. tfds data directory (tfds' default when
            None).
        download: `"auto"`, True or False. Whether tfds may download:
            `"auto"` downloads only if the download host answers within 2 s
            and `KWM_OFFLINE` is not set.

    Returns:
        A `TaskDataset` whose `provenance` says which source was used.

    Raises:
        DatasetNotFoundError: no source had the dataset. The message lists
            every place kwm looked and how to provide a copy.

    Examples:

    >>> data = load("mnist", sources=("embedded",))
    >>> data.provenance.source, data.num_classes
    ('embedded', 10)
    """
    spec = get_spec(name)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise ValueError(
            f"`sources` must be a non-empty sequence drawn from {SOURCES}. "
            f"Received: sources={tuple(sources)!r}"
        )
    attempts = []
    for source in sources:
        try:
            if source == "local":
                return _load_local(spec, data_dir, attempts)
            if source == "tfds":
                return _load_tfds(spec, tfds_data_dir, download, attempts)
            return _load_embedded(spec, attempts)
        except _SourceUnavailable as e:
            attempts.append(f"{source}: {e}")
    raise DatasetNotFoundError(_not_found_message(spec, attempts))


def _not_found_message(spec, attempts):
    looked = "\n".join(f"  - {a}" for a in attempts)
    folders = " or ".join(f"<DIR>/{f}/" for f in spec.local_folders)
    return (
        f"Dataset {spec.name!r} was not found. kwm looked in:\n{looked}\n"
        f"To provide it, put a copy in its original format "
        f"({spec.local_format}) in {folders} and pass data_dir=<DIR> "
        f"(`--data-dir <DIR>` on the command line) or set {DATA_DIR_ENV}=<DIR>"
        + (
            f"; or prepare it with TensorFlow Datasets "
            f"(`tfds build {spec.tfds_name}` on a machine with network access)."
            if spec.tfds_name
            else "."
        )
    )


def _local_roots(data_dir):
    roots = []
    if data_dir:
        roots.append(("data_dir argument", os.fspath(data_dir)))
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        roots.append((f"{DATA_DIR_ENV}", env))
    return roots


def _load_local(spec, data_dir, attempts):
    roots = _local_roots(data_dir)
    if not roots:
        raise _SourceUnavailable(
            f"no local directory given (data_dir argument unset, "
            f"{DATA_DIR_ENV} unset)"
        )
    tried = []
    for label, root in roots:
        for folder in (os.path.join(root, f) for f in spec.local_folders):
            if not os.path.isdir(folder):
                tried.append(f"{folder} ({label}): no such directory")
                continue
            try:
                train, test, files = spec.read_local(folder)
            except FileNotFoundError as e:
                tried.append(f"{folder} ({label}): {e}")
                continue
            provenance = DataProvenance(
                dataset=spec.name,
                source="local",
                location=os.path.abspath(folder),
                splits={"train": len(train), "test": len(test)},
                files={k: sha256_of(v) for k, v in files.items()},
                licence=spec.licence,
                citation=spec.citation,
                attempts=tuple(attempts),
            )
            return _make_dataset(spec, train, test, provenance)
    raise _SourceUnavailable("; ".join(tried))


def _load_tfds(spec, tfds_data_dir, download, attempts):
    if not spec.tfds_name:
        raise _SourceUnavailable(f"{spec.name} is not in the tfds catalogue")
    if download not in ("auto", True, False):
        raise ValueError(
            f"`download` must be 'auto', True or False. Received: download={download!r}"
        )
    import tensorflow_datasets as tfds

    builder = tfds.builder(spec.tfds_name, data_dir=tfds_data_dir)
    prepared = builder.is_prepared()
    if not prepared:
        if download == "auto" and not network_available():
            raise _SourceUnavailable(
                f"{spec.tfds_name} is not prepared in {builder.data_path} and "
                f"no network to download it ({_TFDS_HOST[0]} unreachable or "
                f"{OFFLINE_ENV} set)"
            )
        if download is False:
            raise _SourceUnavailable(
                f"{spec.tfds_name} is not prepared in {builder.data_path} and "
                "download=False"
            )
    try:
        loaded = tfds.load(
            spec.tfds_name,
            split=list(spec.tfds_splits),
            as_supervised=spec.tfds_keys is None,
            data_dir=tfds_data_dir,
            download=not prepared,
        )
    except Exception as e:  # tfds raises many types on a failed download.
        raise _SourceUnavailable(f"tfds.load({spec.tfds_name!r}) failed: {e}")
    if spec.tfds_keys is not None:
        x_key, y_key = spec.tfds_keys
        loaded = [ds.map(lambda example: (example[x_key], example[y_key])) for ds in loaded]
    train, test = (_as_split(spec.from_tfds(*_to_numpy(tfds, ds))) for ds in loaded)
    provenance = DataProvenance(
        dataset=spec.name,
        source="tfds",
        location=f"{spec.tfds_name} {builder.version} in {builder.data_dir}"
        + ("" if spec.tfds_splits == ("train", "test") else f" (splits {spec.tfds_splits})"),
        splits={"train": len(train), "test": len(test)},
        licence=spec.licence,
        citation=spec.citation,
        attempts=tuple(attempts),
    )
    return _make_dataset(spec, train, test, provenance)


def _as_split(converted):
    return converted if isinstance(converted, Split) else Split(*converted)


def _to_numpy(tfds, dataset, batch_size=4096):
    """All `(x, y)` pairs of a supervised tf.data split as two NumPy arrays."""
    xs, ys = [], []
    for x, y in tfds.as_numpy(dataset.batch(batch_size)):
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def _load_embedded(spec, attempts):
    if not spec.embedded:
        raise _SourceUnavailable(f"kwm embeds no sample of {spec.name}")
    resource = importlib.resources.files("kwm.datasets") / "embedded" / spec.embedded
    with importlib.resources.as_file(resource) as folder:
        folder = os.fspath(folder)
        try:
            train, test, files = spec.read_local(folder)
        except FileNotFoundError as e:
            raise _SourceUnavailable(
                f"the embedded sample is missing from this installation of "
                f"kwm ({folder}: {e}); reinstall kwm"
            )
        notes_path = os.path.join(folder, "PROVENANCE.md")
        notes = ""
        if os.path.exists(notes_path):
            with open(notes_path, encoding="utf-8") as f:
                notes = f.readline().strip().lstrip("# ")
        provenance = DataProvenance(
            dataset=spec.name,
            source="embedded",
            location=f"kwm/datasets/embedded/{spec.embedded}",
            splits={"train": len(train), "test": len(test)},
            files={k: sha256_of(v) for k, v in files.items()},
            licence=spec.licence,
            citation=spec.citation,
            notes=notes,
            attempts=tuple(attempts),
        )
    return _make_dataset(spec, train, test, provenance)


def _make_dataset(spec, train, test, provenance):
    return TaskDataset(
        name=spec.name,
        train=train,
        test=test,
        class_names=tuple(spec.class_names),
        modality=spec.modality,
        provenance=provenance,
    )


def images_to_float(x):
    """uint8 images `(n, h, w)` or `(n, h, w, c)` to float32 in [0, 1], channels last."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    return (x.astype("float32") / 255.0).astype("float32")


def images_from_tfds(x, y):
    """A tfds image split (uint8 images, integer labels) in kwm's format (`DatasetSpec.from_tfds`)."""
    return images_to_float(x), np.asarray(y).astype("int32")
