"""Task datasets with provenance: local copies, tfds, or an embedded sample."""

from kwm.datasets import cifar  # noqa: F401  (registers cifar10, cifar100, svhn)
from kwm.datasets import mnist  # noqa: F401  (registers mnist, fashion_mnist)
from kwm.datasets import text  # noqa: F401  (registers sst2, imdb, text_ood)
from kwm.datasets.idx import IDXFormatError, read_idx, write_idx
from kwm.datasets.resolver import (
    DATA_DIR_ENV,
    DatasetNotFoundError,
    DatasetSpec,
    available_datasets,
    load,
    register_dataset,
)
from kwm.datasets.shape import match_input_shape, pad_images
from kwm.datasets.task_dataset import DataProvenance, Split, TaskDataset, subsample
