"""Thief recipes: how attackers other than kwm's own thief train their copies.

kwm's recipes steal each victim with one thief (the victim's architecture,
Adam, cross-entropy on the API's probabilities). A real attacker chooses
their own architecture, regulariser, optimiser, schedule, loss and labels,
and a watermark that only kwm's own thief keeps proves little. A `Thief`
names one such choice; `THIEVES` holds a panel of them (`register_thief`
adds more), some for any modality and some for images or text only
(`available_thieves(modality)`), and `steal` trains a copy the way a thief
says.
"""

import dataclasses
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from kwm import architectures, training
from kwm.attacks.extraction import ExtractionResult, label_transform
from kwm.export.serving import outputs_logits
from kwm.prediction_api import as_prediction_api
from kwm.registry import Registry

THIEVES = Registry("thief")
OPTIMIZERS = ("adam", "keras_adam", "sgd_momentum", "rmsprop", "adamw")
LOSSES = ("cross_entropy", "kl_divergence")
LOOPS = ("fit", "gradient_tape")
SCHEDULES = ("constant", "linear_decay")
MODALITIES = ("", "image", "text")


@dataclasses.dataclass(frozen=True)
class Thief:
    """How one thief trains a copy from a prediction API's answers.

    Args:
        name: str. The name `THIEVES` and reports use.
        description: str. One line for reports.
        architecture: str. A registered architecture (`kwm.architectures.
            available_architectures()`); `""`: the victim's own.
        options: dict. Options of the architecture's builder (e.g.
            `{"dropout": 0.3}`). A BERT trained from scratch (`"small_bert"`)
            without a `"vocabulary"` gets one built from the thief's own
            queries (`"vocabulary_size"` WordPieces, 4,000 by default).
        optimizer: str. `"adam"` (kwm's: the EWE reference code's
            beta_2 0.99, epsilon 1e-5), `"keras_adam"` (Keras's defaults),
            `"sgd_momentum"` (momentum 0.9), `"rmsprop"` or `"adamw"`
            (weight decay 0.01, as BERT fine-tuning scripts use).
        learning_rate: float or None. None: the recipe's own thief's.
        epochs: int or None. None: as many as the recipe's own thief.
        batch_size: int or None. None: the recipe's own thief's.
        loss: str. `"cross_entropy"` or `"kl_divergence"` between the
            answers and the copy's probabilities (the same gradients: they
            differ by the answers' entropy, a constant).
        labels: str. What the thief trains on (`kwm.attacks.label_transform`:
            `"soft"`, `"hard"`, ...).
        label_smoothing: float. Label smoothing of the cross-entropy.
        loop: str. `"fit"` (Keras's) or `"gradient_tape"` (a hand-written
            `tf.GradientTape` loop, as a thief without Keras's `fit` writes).
        schedule: str. `"constant"` or `"linear_decay"` (the learning rate
            falls linearly to 0 over the run, as the Hugging Face Trainer's
            default does).
        modality: str. `""`: a thief of any modality's copies; `"image"` or
            `"text"`: of that modality only (its architecture or its numbers
            are that modality's).

    Examples:

    >>> thief = Thief("lenet_sgd", architecture="lenet", optimizer="sgd_momentum",
    ...               learning_rate=0.01)
    >>> thief.soft_labels
    True
    """

    name: str
    description: str = ""
    architecture: str = ""
    options: dict = dataclasses.field(default_factory=dict)
    optimizer: str = "adam"
    learning_rate: Optional[float] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    loss: str = "cross_entropy"
    labels: str = "soft"
    label_smoothing: float = 0.0
    loop: str = "fit"
    schedule: str = "constant"
    modality: str = ""

    def __post_init__(self):
        for field, allowed in (("optimizer", OPTIMIZERS), ("loss", LOSSES), ("loop", LOOPS),
                               ("schedule", SCHEDULES), ("modality", MODALITIES)):
            if getattr(self, field) not in allowed:
                raise ValueError(
                    f"`{field}` must be one of {allowed}. Received: {field}={getattr(self, field)!r}"
                )
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"`epochs` must be at least 1. Received: epochs={self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(
                f"`batch_size` must be at least 1. Received: batch_size={self.batch_size}"
            )
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise ValueError(
                f"`learning_rate` must be positive. Received: learning_rate={self.learning_rate}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"`label_smoothing` must lie in [0, 1). Received: label_smoothing={self.label_smoothing}"
            )
        label_transform(self.labels)  # an unknown label kind fails here, not mid-run

    @property
    def soft_labels(self):
        """Whether the thief trains on the API's probabilities as answered."""
        return self.labels == "soft"

    def applies_to(self, modality):
        """Whether the thief steals models of `modality` (`"image"`, `"text"`, ...)."""
        return self.modality in ("", modality)

    def to_dict(self):
        return dataclasses.asdict(self)


def register_thief(thief):
    """Adds a `Thief` to `THIEVES` (the panel `benchmarks/thief_panel.py` runs)."""
    return THIEVES.register(thief.name, thief)


def available_thieves(modality=None):
    """The names of the registered thieves, in the panel's order.

    Args:
        modality: str or None. Only the thieves of that modality's models
            (`Thief.applies_to`); None: every thief.
    """
    names = THIEVES.names(sort=False)
    if modality is None:
        return names
    return [name for name in names if THIEVES.get(name).applies_to(modality)]


def get_thief(name):
    return THIEVES.get(name)


def _optimizer(thief, learning_rate, steps):
    if thief.schedule == "linear_decay":
        learning_rate = keras.optimizers.schedules.PolynomialDecay(
            learning_rate, decay_steps=max(1, steps), end_learning_rate=0.0
        )
    if thief.optimizer == "adam":
        return training.adam(learning_rate)
    if thief.optimizer == "keras_adam":
        return keras.optimizers.Adam(learning_rate)
    if thief.optimizer == "sgd_momentum":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if thief.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=0.01)
    return keras.optimizers.RMSprop(learning_rate)


def _loss(thief, from_logits):
    if thief.loss == "cross_entropy":
        return keras.losses.CategoricalCrossentropy(
            from_logits=from_logits, label_smoothing=thief.label_smoothing
        )
    kl = keras.losses.KLDivergence()
    if not from_logits:
        return kl
    return lambda y, z: kl(y, keras.ops.softmax(z))


def steal(
    thief,
    api,
    queries,
    input_shape,
    num_classes,
    victim_architecture,
    victim_options=None,
    epochs=10,
    seed=0,
    answers=None,
    verbose=0,
    learning_rate=1e-3,
    batch_size=128,
):
    """Trains a copy of the API's model the way `thief` does.

    Args:
        thief: Thief, or the name of a registered one.
        api: anything `PredictionAPI` accepts (the thief sees nothing else).
        queries: np.ndarray. The thief's inputs (images, or strings for a
            text model that takes raw strings).
        input_shape: tuple. Input shape without the batch axis (`()` for
            strings).
        num_classes: int.
        victim_architecture: str. The victim's registered architecture (the
            copy's when `thief.architecture` is empty).
        victim_options: dict or None. The victim's builder options, used with
            its architecture (the thief's `options` win).
        epochs: int. Epochs of a thief whose `epochs` is None (the recipe's
            own thief's); `learning_rate` and `batch_size` likewise.
        seed: int. Seeds the copy's initialisation and batch order.
        answers: np.ndarray or None. The API's answers to `queries`, if
            already asked (several thieves share one round of queries); the
            API is not queried again.
        verbose: Keras verbosity.
        learning_rate: float. See `epochs`.
        batch_size: int. See `epochs`.

    Returns:
        An `ExtractionResult`; `num_queries` counts the queries the answers
        cost, whether asked here or before.

    Examples:

    >>> import numpy as np, kwm
    >>> victim = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> queries = np.random.default_rng(0).random((64, 8, 8, 1), "float32")
    >>> copy = steal("mlp", victim, queries, (8, 8, 1), 2, "ewe_cnn", epochs=1)
    >>> copy.model.name, copy.num_queries
    ('mlp', 64)
    """
    thief = get_thief(thief) if isinstance(thief, str) else thief
    if answers is None:
        api = as_prediction_api(api, num_classes=num_classes)
        before = api.num_queries
        answers = api(queries)
        num_queries = api.num_queries - before
    else:
        num_queries = len(queries)
    answers = np.asarray(answers, dtype="float32")
    if answers.shape != (len(queries), num_classes):
        raise ValueError(
            f"The answers must have shape {(len(queries), num_classes)}. "
            f"Received: answers.shape={answers.shape}"
        )
    targets = np.asarray(label_transform(thief.labels)(answers), dtype="float32")
    if thief.architecture:
        name, options = thief.architecture, dict(thief.options)
    else:
        name, options = victim_architecture, {**(victim_options or {}), **thief.options}
    if name == "small_bert" and "vocabulary" not in options:
        # A thief who trains a BERT from scratch makes its vocabulary from its own queries.
        options["vocabulary"] = architectures.word_piece_vocabulary(
            queries, size=options.pop("vocabulary_size", 4000)
        )
    keras.utils.set_random_seed(seed)
    student = architectures.build(name, input_shape, num_classes, **options)
    loss = _loss(thief, outputs_logits(student))
    epochs = thief.epochs or epochs
    batch_size = thief.batch_size or batch_size
    steps = epochs * -(-len(queries) // batch_size)
    optimizer = _optimizer(thief, thief.learning_rate or learning_rate, steps)
    if thief.loop == "fit":
        # A keras-hub task's `fit` ignores `shuffle`: its inputs come shuffled.
        queries, targets = training.shuffled_for(student, queries, targets, seed)
        # `metrics=[]`: a keras-hub task would add sparse-label metrics of its own.
        student.compile(optimizer=optimizer, loss=loss, metrics=[], jit_compile="auto")
        history = student.fit(
            queries, targets, epochs=epochs, batch_size=batch_size, shuffle=True,
            verbose=verbose,
        )
    else:
        history = _gradient_tape_loop(student, optimizer, loss, queries, targets, epochs,
                                      batch_size, seed)
    return ExtractionResult(
        model=student, num_queries=num_queries, labels=thief.labels, history=history
    )


def _gradient_tape_loop(model, optimizer, loss, x, y, epochs, batch_size, seed):
    variables = model.trainable_variables
    # A keras-hub task takes raw strings only through its preprocessor (`fit` and `predict`
    # apply it; calling the model does not): a hand-written loop applies it itself.
    preprocess = getattr(model, "preprocessor", None) or (lambda inputs: inputs)

    @tf.function
    def step(xb, yb):
        features = preprocess(xb)
        with tf.GradientTape() as tape:
            outputs = keras.ops.cast(model(features, training=True), "float32")
            value = loss(yb, outputs)
        optimizer.apply_gradients(zip(tape.gradient(value, variables), variables))
        return value

    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        values = [
            float(step(tf.constant(x[order[i:i + batch_size]]),
                       tf.constant(y[order[i:i + batch_size]])))
            for i in range(0, len(x), batch_size)
        ]
        losses.append(float(np.mean(values)))
    return {"loss": losses}


# The panel: thieves a real attacker might be, each one change from kwm's own thief unless
# named otherwise. Learning rate, epochs and batch size None: the recipe's own thief's (Adam at
# 0.001, batch 128 in the image recipes; 0.0001, batch 32 in the text recipes).
for _thief in (
    Thief("kwm", "kwm's own thief: the victim's architecture, Adam, cross-entropy on the answers"),
    Thief("dropout_0.3", "the victim's architecture with dropout 0.3", options={"dropout": 0.3}),
    Thief("dropout_0.5", "the victim's architecture with dropout 0.5", options={"dropout": 0.5}),
    Thief("label_smoothing", "cross-entropy with label smoothing 0.1", label_smoothing=0.1),
    Thief("mlp", "another architecture: an MLP (512-256)", architecture="mlp", modality="image"),
    Thief("lenet", "another architecture: a LeNet-style CNN (tanh, average pooling)",
          architecture="lenet", modality="image"),
    Thief("wide_bn_cnn", "another architecture: a wide batch-norm CNN (64-128-256 filters)",
          architecture="bn_cnn", options={"filters": (64, 128, 256)}, modality="image"),
    Thief("sgd_momentum", "SGD with momentum 0.9, learning rate 0.01, batch 64, 20 epochs",
          optimizer="sgd_momentum", learning_rate=0.01, batch_size=64, epochs=20,
          modality="image"),
    Thief("keras_adam_short", "Adam at Keras's defaults, batch 32, 5 epochs",
          optimizer="keras_adam", learning_rate=1e-3, batch_size=32, epochs=5, modality="image"),
    Thief("large_batch_long", "batch 512, 30 epochs", batch_size=512, epochs=30,
          modality="image"),
    Thief("kl_divergence", "KL divergence to the answers instead of cross-entropy",
          loss="kl_divergence"),
    Thief("custom_loop", "a hand-written tf.GradientTape loop, RMSprop, batch 256",
          optimizer="rmsprop", batch_size=256, loop="gradient_tape", modality="image"),
    Thief("hard_labels", "top-1 labels only (cross-entropy on one-hot answers)", labels="hard"),
    # Text thieves: a fine-tuning script of its own, a longer reading of each text, and a BERT
    # without the pretrained weights every other text model here starts from.
    Thief("hf_style_loop", "a hand-written tf.GradientTape loop as BERT fine-tuning scripts "
          "write it: AdamW (weight decay 0.01), learning rate 5e-5 decaying linearly to 0, "
          "batch 16, 3 epochs", optimizer="adamw", learning_rate=5e-5, batch_size=16, epochs=3,
          loop="gradient_tape", schedule="linear_decay", modality="text"),
    Thief("long_input", "the victim's architecture reading 128 WordPieces of each text",
          options={"sequence_length": 128}, modality="text"),
    Thief("bert_from_scratch", "another architecture: a 4-layer BERT (hidden 128) trained from "
          "scratch with a vocabulary of its queries' 4,000 commonest WordPieces, Adam at 0.001, "
          "10 epochs", architecture="small_bert",
          options={"num_layers": 4, "hidden_dim": 128, "num_heads": 4, "sequence_length": 64},
          learning_rate=1e-3, epochs=10, modality="text"),
):
    register_thief(_thief)
