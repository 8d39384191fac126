"""Export of a watermarked classifier as a SavedModel to serve."""

import os

import numpy as np

from kwm.export.serving_temperature import ServingTemperature


def export_for_serving(model, path, check_inputs=None, atol=1e-5, temperature=1.0):
    """Writes `model` as a TensorFlow SavedModel that serves probabilities.

    Uses `keras.Model.export` (endpoint `serve`). Only the classifier is
    exported: a wrapper model that trains with a watermark (exposing the
    plain classifier as `model.classifier`) is unwrapped first, and the
    watermark key - a separate object kwm never attaches to a model - does
    not go into the export. With `temperature` other than 1, the served
    probabilities are `softmax(log(p) / temperature)` (`ServingTemperature`):
    the same decisions, softer (> 1) answers. With `check_inputs`, the
    SavedModel is reloaded and its answers compared with the Keras model's
    (tempered alike).

    Args:
        model: keras.Model. A classifier outputting probabilities.
        path: str. Destination directory (must not exist yet).
        check_inputs: np.ndarray or None. Inputs on which to check that the
            served model answers like `model`.
        atol: float. Tolerance of that check.
        temperature: float. Temperature of the served probabilities.

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

    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(
            f"Refusing to overwrite an existing export. Received: path={path!r}"
        )
    classifier = serving_model(model, temperature)
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


def serving_model(model, temperature=1.0):
    """The model an API serves: the plain classifier, tempered if `temperature != 1`.

    A watermark-training wrapper (exposing `model.classifier`) is unwrapped;
    with a temperature, the classifier is followed by `ServingTemperature`
    in a new functional model sharing its layers.

    Args:
        model: keras.Model. A classifier outputting probabilities.
        temperature: float. Temperature of the served probabilities.

    Returns:
        A keras.Model.

    Examples:

    >>> import kwm
    >>> model = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> serving_model(model) is model
    True
    >>> serving_model(model, 4.0).layers[-1].temperature
    4.0
    """
    import keras

    classifier = getattr(model, "classifier", model)
    if float(temperature) == 1.0:
        return classifier
    layer = ServingTemperature(temperature, name="serving_temperature")
    try:
        input_shape = classifier.input_shape
    except AttributeError:
        input_shape = None
    if not isinstance(input_shape, tuple):
        raise ValueError(
            "Serving at a temperature needs a classifier with one known input "
            f"shape (a built functional model). Received: input_shape={input_shape!r}"
        )
    inputs = keras.Input(shape=input_shape[1:], dtype=classifier.inputs[0].dtype)
    return keras.Model(inputs, layer(classifier(inputs)), name=f"{classifier.name}_served")
