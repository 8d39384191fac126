"""Export of a watermarked classifier as a SavedModel to serve."""

import os

import numpy as np

from kwm.export.serving_temperature import ServingTemperature


def export_for_serving(
    model, path, check_inputs=None, atol=None, temperature=1.0, preprocessor=None
):
    """Writes `model` as a TensorFlow SavedModel that serves probabilities.

    Uses `keras.Model.export` (endpoint `serve`). Only the classifier is
    exported: a wrapper model that trains with a watermark (exposing the
    plain classifier as `model.classifier`) is unwrapped first, and the
    watermark key - a separate object kwm never attaches to a model - does
    not go into the export. With `temperature` other than 1, the served
    probabilities are `softmax(log(p) / temperature)` (`ServingTemperature`):
    the same decisions, softer (> 1) answers. With `check_inputs`, the
    SavedModel is reloaded and its answers compared with the Keras model's
    (tempered alike). A classifier that outputs logits (a keras-hub
    classifier's default) serves their softmax. With a `preprocessor` (a
    keras-hub text preprocessor), the SavedModel takes raw strings: its
    `serve` endpoint maps a 1-D `tf.string` batch through the preprocessor
    and the classifier (`keras.export.ExportArchive`); a process loading it
    must `import tensorflow_text` first (`kwm.PredictionAPI` does).

    Args:
        model: keras.Model. A classifier outputting probabilities or logits.
        path: str. Destination directory (must not exist yet).
        check_inputs: np.ndarray or None. Inputs on which to check that the
            served model answers like `model`.
        atol: float or None. Tolerance of that check (None: 1e-5, or 0.1
            for a model that computes in 16-bit floats, e.g. under the
            `"mixed_bfloat16"` policy: bfloat16 keeps 8 significant bits, its
            graph and eager computations round differently, and a trained
            BERT's probabilities then differ by up to about 0.05).
        temperature: float. Temperature of the served probabilities.
        preprocessor: keras layer or None. Maps raw inputs (strings) to the
            classifier's inputs; None: the model's own (`model.preprocessor`
            of a keras-hub task), if any.

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
    if atol is None:
        policy = getattr(getattr(model, "classifier", model), "dtype_policy", None)
        compute = getattr(policy, "compute_dtype", "float32")
        atol = 0.1 if compute in ("bfloat16", "float16") else 1e-5
    if os.path.exists(path):
        raise FileExistsError(
            f"Refusing to overwrite an existing export. Received: path={path!r}"
        )
    if preprocessor is None:  # a keras-hub task serves the raw inputs its preprocessor takes
        preprocessor = getattr(getattr(model, "classifier", model), "preprocessor", None)
    classifier = serving_model(model, temperature)
    if preprocessor is None:
        classifier.export(path, format="tf_saved_model", verbose=False)
    else:
        import keras

        if not preprocessor.built:
            preprocessor(tf.constant([""]))  # builds it (its vocabulary, its packer)
        archive = keras.export.ExportArchive()
        archive.track(classifier)
        archive.track(preprocessor)

        def serve(texts):
            return classifier(preprocessor(texts), training=False)

        archive.add_endpoint(
            name="serve", fn=serve, input_signature=[tf.TensorSpec([None], tf.string)]
        )
        archive.write_out(path, verbose=False)
    if check_inputs is not None:
        if preprocessor is not None:
            import tensorflow_text  # noqa: F401  (registers the tokenizer ops the SavedModel uses)
        served = tf.saved_model.load(path)
        model_inputs = check_inputs if preprocessor is None else preprocessor(
            tf.constant(check_inputs))
        expected = np.asarray(classifier.predict_on_batch(model_inputs))
        answered = served.serve(tf.constant(check_inputs)).numpy()
        error = float(np.abs(expected - answered).max())
        if error > atol:
            raise RuntimeError(
                "The exported SavedModel does not answer like the Keras model. "
                f"Received: max abs difference {error:.3g} > atol={atol}"
            )
    return path


def outputs_logits(model):
    """Whether a classifier outputs logits rather than probabilities.

    A keras-hub task says so with its `activation` (linear: logits); other
    models by their last layer's activation (softmax or sigmoid:
    probabilities).

    Args:
        model: keras.Model.

    Examples:

    >>> import keras
    >>> outputs_logits(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    True
    >>> outputs_logits(keras.Sequential([keras.Input((3,)),
    ...                                  keras.layers.Dense(2, activation="softmax")]))
    False
    """
    import keras

    model = getattr(model, "classifier", model)
    activation = getattr(model, "activation", None)
    if activation is None:
        last = model.layers[-1] if getattr(model, "layers", None) else None
        if isinstance(last, (ServingTemperature, keras.layers.Softmax)):
            return False
        activation = getattr(last, "activation", None)
    if activation is None:
        return False
    name = getattr(activation, "__name__", str(activation))
    return name == "linear"


def serving_model(model, temperature=1.0):
    """The model an API serves: the plain classifier's probabilities, tempered if `temperature != 1`.

    A watermark-training wrapper (exposing `model.classifier`) is unwrapped;
    a classifier that outputs logits (`outputs_logits`) is followed by a
    softmax, and with a temperature by `ServingTemperature`, in a new
    functional model sharing its layers.

    Args:
        model: keras.Model. A classifier outputting probabilities or logits.
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
    preprocessor = getattr(classifier, "preprocessor", None)
    served = classifier
    if outputs_logits(served):
        served = _append(served, keras.layers.Softmax(name="probabilities"),
                         f"{classifier.name}_probabilities")
    if float(temperature) != 1.0:
        layer = ServingTemperature(temperature, name="serving_temperature")
        served = _append(served, layer, f"{classifier.name}_served")
    if preprocessor is not None and served is not classifier:
        # A keras-hub task's raw inputs still go through its preprocessor (which holds no weights).
        served.preprocessor = preprocessor
    return served


def _append(classifier, layer, name):
    """A functional model: `classifier` followed by `layer`, sharing its weights."""
    import keras

    try:
        input_shape = classifier.input_shape
    except (AttributeError, ValueError):
        input_shape = None
    if isinstance(input_shape, tuple):  # one input: called on a fresh Input
        inputs = keras.Input(shape=input_shape[1:], dtype=classifier.inputs[0].dtype)
        return keras.Model(inputs, layer(classifier(inputs)), name=name)
    if isinstance(getattr(classifier, "input", None), dict):  # named inputs (keras-hub)
        return keras.Model(classifier.input, layer(classifier.output), name=name)
    raise ValueError(
        "Serving needs a built classifier with one input or named inputs (a functional or "
        f"Sequential model). Received: input_shape={input_shape!r} of {classifier.name!r}"
    )
