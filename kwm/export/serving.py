"""Export of a watermarked classifier as a SavedModel to serve."""

import os

import numpy as np


def export_for_serving(model, path, check_inputs=None, atol=1e-5):
    """Writes `model` as a TensorFlow SavedModel that serves probabilities.

    Uses `keras.Model.export` (endpoint `serve`). Only the classifier is
    exported: a wrapper model that trains with a watermark (exposing the
    plain classifier as `model.classifier`) is unwrapped first, and the
    watermark key - a separate object kwm never attaches to a model - does
    not go into the export. With `check_inputs`, the SavedModel is reloaded
    and its answers compared with the Keras model's.

    Args:
        model: keras.Model. A classifier outputting probabilities.
        path: str. Destination directory (must not exist yet).
        check_inputs: np.ndarray or None. Inputs on which to check that the
            served model answers like `model`.
        atol: float. Tolerance of that check.

    Returns:
        The export path.

    Examples:

    >>> import numpy as np, tempfile, os, kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "served")
    >>> export_for_serving(model, path, check_inputs=np.zeros((2, 8, 8, 1), "float32"))
    ... # doctest: +ELLIPSIS
    '...served'
    """
    import tensorflow as tf

    classifier = getattr(model, "classifier", model)
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(
            f"Refusing to overwrite an existing export. Received: path={path!r}"
        )
    classifier.export(path, format="tf_saved_model", verbose=False)
    if check_inputs is not None:
        served = tf.saved_model.load(path)
        expected = np.asarray(classifier.predict_on_batch(check_inputs))
        answered = served.serve(tf.constant(check_inputs)).numpy()
        error = float(np.abs(expected - answered).max())
        if error > atol:
            raise RuntimeError(
                "The exported SavedModel does not answer like the Keras model. "
                f"Received: max abs difference {error:.3g} > atol={atol}"
            )
    return path
