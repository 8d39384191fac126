"""In-memory task datasets that carry their provenance."""

import dataclasses

import numpy as np

MODALITIES = ("image", "text", "audio")


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of a task dataset: inputs and integer labels.

    Inputs are whatever the task's models consume: float32 images in [0, 1]
    shaped `(n, height, width, channels)`, a 1-D array of strings for text,
    float32 waveforms for audio.

    Args:
        x: np.ndarray. Inputs, first axis indexes examples.
        y: np.ndarray. Integer class labels, shape `(n,)`.

    Examples:

    >>> import numpy as np
    >>> split = Split(np.zeros((4, 2, 2, 1), "float32"), np.array([0, 1, 1, 0]))
    >>> len(split), split.indices_of(1).tolist()
    (4, [1, 2])
    """

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(
                "A split needs one label per input. "
                f"Received: len(x)={len(self.x)}, len(y)={len(self.y)}"
            )
        if np.ndim(self.y) != 1:
            raise ValueError(
                f"Labels must be a 1-D array. Received: y.shape={np.shape(self.y)}"
            )

    def __len__(self):
        return len(self.y)

    def indices_of(self, label):
        """Indices of the examples whose label is `label`."""
        return np.flatnonzero(self.y == label)


@dataclasses.dataclass(frozen=True)
class DataProvenance:
    """Where a dataset came from, so that every report can say it.

    Args:
        dataset: str. Dataset name, e.g. `"mnist"`.
        source: str. `"local"`, `"tfds"` or `"embedded"` (or `"memory"`
            for arrays handed over by the caller).
        location: str. Directory, tfds data dir or package resource read.
        splits: dict. Number of examples per split.
        files: dict. File name to SHA-256 for file-based sources.
        licence: str. Licence of the data.
        citation: str. Who made the data.
        notes: str. Anything a reader of a report must know (subsets,
            held-out splits made by kwm).
        attempts: tuple. What the resolver tried before this source.
    """

    dataset: str
    source: str
    location: str
    splits: dict
    files: dict = dataclasses.field(default_factory=dict)
    licence: str = ""
    citation: str = ""
    notes: str = ""
    attempts: tuple = ()

    def to_dict(self):
        return dataclasses.asdict(self)

    def describe(self):
        counts = ", ".join(f"{k} {v:,}" for k, v in self.splits.items())
        text = f"{self.dataset} from {self.source} ({self.location}): {counts}"
        if self.notes:
            text += f". {self.notes}"
        return text


@dataclasses.dataclass(frozen=True)
class TaskDataset:
    """A classification task: train and test splits plus their provenance.

    Args:
        name: str. Dataset name.
        train: Split. Training split (the victim's data, which the thief
            may also hold without labels).
        test: Split. Held-out evaluation split.
        class_names: tuple of str. One name per class.
        modality: str. One of `"image"`, `"text"`, `"audio"`.
        provenance: DataProvenance. Where the data came from.

    Examples:

    >>> import numpy as np
    >>> x = np.zeros((6, 4, 4, 1), "float32"); y = np.array([0, 1, 0, 1, 0, 1])
    >>> data = TaskDataset("toy", Split(x, y), Split(x, y), ("a", "b"), "image",
    ...     DataProvenance("toy", "memory", "", {"train": 6, "test": 6}))
    >>> data.num_classes, data.input_shape
    (2, (4, 4, 1))
    """

    name: str
    train: Split
    test: Split
    class_names: tuple
    modality: str
    provenance: DataProvenance

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(
                f"`modality` must be one of {MODALITIES}. "
                f"Received: modality={self.modality!r}"
            )
        for split_name in ("train", "test"):
            labels = getattr(self, split_name).y
            if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"Labels of the {split_name} split must lie in "
                    f"[0, {self.num_classes}). Received: min={labels.min()}, "
                    f"max={labels.max()}"
                )

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        return tuple(self.train.x.shape[1:])

    def describe(self):
        return self.provenance.describe()


def _stratified(split, count, rng):
    if not count or count >= len(split):
        return split, None
    order = rng.permutation(len(split))
    labels = split.y[order]
    chosen = []
    for label in np.unique(split.y):
        members = order[labels == label]
        chosen.append(members[: int(round(count * len(members) / len(split)))])
    indices = np.sort(np.concatenate(chosen))
    return Split(split.x[indices], split.y[indices]), indices


def subsample(data, max_train=0, max_test=0, seed=0):
    """A `TaskDataset` with about `max_train` / `max_test` examples, every class in proportion.

    The draw is fixed by `seed`, so every run of a recipe (victim, thief,
    reference models) sees the same examples; the provenance notes say what
    was kept.

    Args:
        data: TaskDataset.
        max_train: int. Training examples kept (0: all).
        max_test: int. Test examples kept (0: all).
        seed: int.

    Examples:

    >>> x = np.zeros((10, 2), "float32"); y = np.array([0, 1] * 5)
    >>> data = TaskDataset("toy", Split(x, y), Split(x, y), ("a", "b"), "image",
    ...     DataProvenance("toy", "memory", "", {"train": 10, "test": 10}))
    >>> small = subsample(data, max_train=4)
    >>> len(small.train), np.bincount(small.train.y).tolist(), len(small.test)
    (4, [2, 2], 10)
    """
    if max_train < 0 or max_test < 0:
        raise ValueError(
            f"Subset sizes must be >= 0 (0: all). Received: max_train={max_train}, "
            f"max_test={max_test}"
        )
    rng = np.random.default_rng(seed)
    train, train_kept = _stratified(data.train, max_train, rng)
    test, test_kept = _stratified(data.test, max_test, rng)
    if train_kept is None and test_kept is None:
        return data
    note = (
        f"kwm kept {len(train):,} of {len(data.train):,} training and {len(test):,} of "
        f"{len(data.test):,} test examples (stratified, seed {seed})"
    )
    provenance = dataclasses.replace(
        data.provenance,
        splits={"train": len(train), "test": len(test)},
        notes="; ".join(n for n in (data.provenance.notes, note) if n),
    )
    return dataclasses.replace(data, train=train, test=test, provenance=provenance)
