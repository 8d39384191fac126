"""Black-box prediction APIs: inputs in, class probabilities (or labels) out.

Both the thief (extraction) and the owner (verification) see a model only
through its predictions. `PredictionAPI` wraps anything that answers
queries - a Keras model, a SavedModel written by `model.export()` (or its
path), a `.keras` file, an `http(s)://` endpoint, or a plain Python
function - counts the queries, keeps to a query budget, and checks every
answer (shape, finiteness, probabilities or class labels).
"""

import os

import numpy as np


ANSWER_KINDS = ("auto", "probabilities", "labels")


class InvalidPredictionError(ValueError):
    """A prediction API answered with something that is not class probabilities."""


class QueryBudgetExceededError(ValueError):
    """A query would take a `PredictionAPI` past its query budget."""


def _load_path(path):
    path = os.fspath(path)
    if os.path.isdir(path) and os.path.exists(os.path.join(path, "saved_model.pb")):
        import tensorflow as tf

        try:  # a string-input SavedModel (text) needs its tokenizer ops registered first
            import tensorflow_text  # noqa: F401
        except ImportError:
            pass
        return tf.saved_model.load(path)
    if path.endswith(".keras") and os.path.isfile(path):
        import keras

        return keras.saving.load_model(path)
    raise ValueError(
        "A model path must be a SavedModel directory (with saved_model.pb) or "
        f"a .keras file. Received: path={path!r}"
    )


def _as_function(model):
    """A function NumPy batch -> array-like of predictions for any model kind."""
    import keras

    from kwm.rest import RestModel

    if isinstance(model, RestModel):
        return model

    if isinstance(model, keras.Model):
        from kwm.export.serving import serving_model

        served = serving_model(model)  # a softmax after a model's logits
        preprocessor = getattr(getattr(model, "classifier", model), "preprocessor", None)
        if preprocessor is not None:  # a keras-hub task: raw inputs (strings) in
            import tensorflow as tf

            return lambda batch: served.predict_on_batch(preprocessor(tf.constant(batch)))
        return served.predict_on_batch
    if hasattr(model, "serve") and callable(model.serve):
        import tensorflow as tf

        return lambda batch: model.serve(tf.constant(batch))
    signatures = getattr(model, "signatures", None)
    if signatures is not None and "serving_default" in signatures:
        import tensorflow as tf

        function = signatures["serving_default"]

        def _signature(batch):
            outputs = function(tf.constant(batch))
            if len(outputs) != 1:
                raise InvalidPredictionError(
                    "The SavedModel's serving_default signature must have one "
                    f"output. Received: outputs={sorted(outputs)}"
                )
            return next(iter(outputs.values()))

        return _signature
    if callable(model):
        return model
    raise TypeError(
        "A prediction API must be a Keras model, a SavedModel (object or "
        "path), a .keras path or a callable returning probabilities. "
        f"Received: {type(model).__name__}"
    )


class PredictionAPI:
    """Counted, validated black-box access to a classifier.

    Args:
        model: a Keras model, a SavedModel object from `tf.saved_model.load`
            or its path, a `.keras` path, an `http(s)://` URL (a
            `kwm.rest.RestModel`: TensorFlow Serving's REST format or plain
            JSON), or a callable mapping a batch of inputs (NumPy array) to
            an array of class probabilities (or of class indices).
        num_classes: int or None. Expected number of classes; answers of
            another width raise `InvalidPredictionError`.
        batch_size: int. Inputs per call to the model.
        probability_tolerance: float. Allowed deviation of each row's sum
            from 1 (and of values from [0, 1]).
        name: str or None. Name used in reports.
        answers: str. What the API answers: `"probabilities"` (rows of class
            probabilities), `"labels"` (one integer class per input, as an
            API that reveals only its top-1 decision), or `"auto"` (decided
            by the first answer: a 1-D integer array is labels). Label
            answers are returned one-hot; `labels_only` then says so.
        max_queries: int or None. Query budget: a call that would exceed it
            raises `QueryBudgetExceededError` before querying.
        timeout, retries, max_queries_per_second: for a URL only, see
            `kwm.rest.RestModel`.

    Examples:

    >>> import numpy as np
    >>> api = PredictionAPI(lambda x: np.full((len(x), 2), 0.5), num_classes=2)
    >>> api(np.zeros((3, 4))).shape, api.num_queries
    ((3, 2), 3)
    >>> PredictionAPI(lambda x: np.ones((len(x), 3)), num_classes=3)(np.zeros((1, 4)))
    Traceback (most recent call last):
    ...
    kwm.prediction_api.InvalidPredictionError: ...
    """

    def __init__(
        self,
        model,
        num_classes=None,
        batch_size=256,
        probability_tolerance=1e-3,
        name=None,
        answers="auto",
        max_queries=None,
        timeout=30.0,
        retries=3,
        max_queries_per_second=None,
    ):
        if answers not in ANSWER_KINDS:
            raise ValueError(
                f"`answers` must be one of {ANSWER_KINDS}. Received: answers={answers!r}"
            )
        if max_queries is not None and max_queries < 1:
            raise ValueError(
                f"`max_queries` must be at least 1 (None: no budget). Received: "
                f"max_queries={max_queries}"
            )
        from kwm.rest import RestModel, is_url

        if is_url(model):
            model = RestModel(model, timeout=timeout, retries=retries,
                              max_queries_per_second=max_queries_per_second)
        elif isinstance(model, (str, os.PathLike)):
            name = name or os.fspath(model)
            model = _load_path(model)
        self.model = model
        self._function = _as_function(model)
        self.num_classes = num_classes
        self.batch_size = int(batch_size)
        self.probability_tolerance = float(probability_tolerance)
        self.name = name or getattr(model, "name", None) or type(model).__name__
        self.answers = answers
        self.max_queries = max_queries
        self.num_queries = 0

    @property
    def labels_only(self):
        """Whether the API answers class labels (known after its first answer in "auto")."""
        return self.answers == "labels"

    def __call__(self, x):
        """Queries the model on every input of `x` and returns `(n, K)` probabilities.

        An API that answers labels returns them one-hot.
        """
        x = np.asarray(x)
        if len(x) == 0:
            raise ValueError(f"Nothing to query. Received: inputs of shape {x.shape}")
        if self.max_queries is not None and self.num_queries + len(x) > self.max_queries:
            raise QueryBudgetExceededError(
                f"{self.name}: {len(x)} more queries would exceed the budget of "
                f"{self.max_queries} ({self.num_queries} used). Received: {len(x)} inputs"
            )
        outputs = []
        for start in range(0, len(x), self.batch_size):
            batch = x[start : start + self.batch_size]
            answer = self._function(batch)
            if hasattr(answer, "numpy"):
                answer = answer.numpy()
            outputs.append(self._check(np.asarray(answer), len(batch)))
            self.num_queries += len(batch)
        return np.concatenate(outputs).astype("float32")

    def _labels(self, answer, batch_len):
        """Integer labels -> one-hot rows, checked against the class count."""
        if answer.ndim == 2 and answer.shape[1] == 1:
            answer = answer[:, 0]
        if answer.shape != (batch_len,) or not np.issubdtype(answer.dtype, np.integer):
            raise InvalidPredictionError(
                f"{self.name} must answer a batch of {batch_len} queries with one integer "
                f"class each. Received: output shape={answer.shape}, dtype={answer.dtype}"
            )
        if self.num_classes is None:
            raise InvalidPredictionError(
                f"{self.name} answers labels only; the number of classes must be given. "
                "Received: num_classes=None"
            )
        if answer.min() < 0 or answer.max() >= self.num_classes:
            raise InvalidPredictionError(
                f"{self.name} answered classes outside 0..{self.num_classes - 1} (the watermark "
                f"key's classes). Received: labels in [{answer.min()}, {answer.max()}]"
            )
        return np.eye(self.num_classes, dtype="float32")[answer]

    def _check(self, answer, batch_len):
        if self.answers == "auto" and answer.ndim >= 1 and len(answer) == batch_len:
            labels = np.issubdtype(answer.dtype, np.integer) and (
                answer.ndim == 1 or (answer.ndim == 2 and answer.shape[1] == 1)
            )
            self.answers = "labels" if labels else "probabilities"
        if self.answers == "labels":
            return self._labels(answer, batch_len)

        expected = (batch_len, self.num_classes or "K")
        if answer.ndim != 2 or answer.shape[0] != batch_len:
            raise InvalidPredictionError(
                f"{self.name} must answer a batch of {batch_len} queries with "
                f"probabilities of shape {expected}. Received: output "
                f"shape={answer.shape}"
            )
        if self.num_classes is not None and answer.shape[1] != self.num_classes:
            raise InvalidPredictionError(
                f"{self.name} answers with {answer.shape[1]} classes but "
                f"{self.num_classes} are expected (the watermark key's "
                f"classes). Received: output shape={answer.shape}"
            )
        if not np.issubdtype(answer.dtype, np.number):
            raise InvalidPredictionError(
                f"{self.name} must answer with numbers. Received: dtype={answer.dtype}"
            )
        finite = np.isfinite(answer)
        if not finite.all():
            raise InvalidPredictionError(
                f"{self.name} answered with non-finite values (NaN or inf); its "
                "answers cannot support a verdict. Received: "
                f"{int((~finite).sum())} non-finite values in output of shape "
                f"{answer.shape}"
            )
        tol = self.probability_tolerance
        sums = answer.sum(axis=1)
        if answer.min() < -tol or answer.max() > 1 + tol or np.abs(sums - 1).max() > tol:
            raise InvalidPredictionError(
                f"{self.name} must answer with class probabilities (rows in "
                "[0, 1] summing to 1); wrap logits in a softmax. Received: "
                f"values in [{answer.min():.4g}, {answer.max():.4g}], row sums "
                f"in [{sums.min():.4g}, {sums.max():.4g}]"
            )
        return answer


def as_prediction_api(model, num_classes=None, **kwargs):
    """Wraps `model` in a `PredictionAPI` (a `PredictionAPI` is re-checked for `num_classes`)."""
    if isinstance(model, PredictionAPI):
        if num_classes is not None and model.num_classes not in (None, num_classes):
            raise InvalidPredictionError(
                f"{model.name} answers with {model.num_classes} classes but "
                f"{num_classes} are expected. Received: num_classes={model.num_classes}"
            )
        if num_classes is not None and model.num_classes is None:
            model.num_classes = num_classes
        return model
    return PredictionAPI(model, num_classes=num_classes, **kwargs)
