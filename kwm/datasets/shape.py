"""Bringing another dataset's images to a task's input shape (out-of-distribution watermarks)."""

import dataclasses

import numpy as np


def pad_images(x, input_shape):
    """Zero-pads images to `input_shape` (centred) and repeats one channel to three.

    Args:
        x: np.ndarray. Images `(n, h, w, c)`.
        input_shape: tuple. Target `(height, width, channels)`, no smaller
            than the images; channels equal, or 1 -> 3.

    Returns:
        float32 images of shape `(n, *input_shape)`.

    Examples:

    >>> pad_images(np.ones((2, 28, 28, 1)), (32, 32, 3)).shape
    (2, 32, 32, 3)
    """
    x = np.asarray(x, dtype="float32")
    height, width, channels = tuple(input_shape)
    if x.ndim != 4 or x.shape[1] > height or x.shape[2] > width:
        raise ValueError(
            f"Images can only be padded up to {tuple(input_shape)}, not cropped or "
            f"resized. Received: images of shape {x.shape[1:]}"
        )
    if x.shape[3] != channels:
        if (x.shape[3], channels) != (1, 3):
            raise ValueError(
                "Only grey images can gain channels (1 -> 3). "
                f"Received: {x.shape[3]} channels for an input of {channels}"
            )
        x = np.repeat(x, 3, axis=-1)
    top, left = (height - x.shape[1]) // 2, (width - x.shape[2]) // 2
    out = np.zeros((len(x), height, width, channels), dtype="float32")
    out[:, top : top + x.shape[1], left : left + x.shape[2]] = x
    return out


def match_input_shape(dataset, input_shape):
    """The dataset with its images padded (and grey repeated to RGB) to `input_shape`.

    Used for out-of-distribution watermark sources whose images are smaller
    than the task's, e.g. MNIST digits (28x28x1) as the offline stand-in for
    SVHN on CIFAR (32x32x3): LeNet's padding of MNIST to 32x32, grey
    repeated over the three channels. The provenance notes say so.

    Args:
        dataset: TaskDataset. Image dataset.
        input_shape: tuple. The task's `(height, width, channels)`.

    Returns:
        A `TaskDataset`: `dataset` itself if its shape already matches.
    """
    input_shape = tuple(input_shape)
    if dataset.input_shape == input_shape:
        return dataset
    note = (
        f"images padded from {dataset.input_shape} to {input_shape} by kwm "
        "(zeros around the centre" + (", grey repeated to RGB)" if dataset.input_shape[-1] == 1
                                      and input_shape[-1] == 3 else ")")
    )
    provenance = dataclasses.replace(
        dataset.provenance,
        notes=f"{dataset.provenance.notes}. {note}" if dataset.provenance.notes else note,
    )
    return dataclasses.replace(
        dataset,
        train=dataclasses.replace(dataset.train, x=pad_images(dataset.train.x, input_shape)),
        test=dataclasses.replace(dataset.test, x=pad_images(dataset.test.x, input_shape)),
        provenance=provenance,
    )
