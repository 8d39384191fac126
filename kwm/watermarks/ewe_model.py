"""Entangled Watermark Embedding (EWE) as a Keras model with its own train step."""

import keras
import tensorflow as tf
from keras import ops

from kwm.architectures.layers import feature_model, find_layer
from kwm.losses.soft_nearest_neighbour import DISTANCES, soft_nearest_neighbour_loss

# Where Algorithm 1's temperature step is taken: on T itself, or on the EWE reference code's
# parameter T_ref = INVERSE_SCALE / T (its kernel exp(-d * T_ref / 100)).
TEMPERATURE_STEPS = ("temperature", "inverse")
INVERSE_SCALE = 100.0
MIN_TEMPERATURE = 1e-3
MAX_TEMPERATURE = 1e5


@keras.saving.register_keras_serializable(package="kwm")
class EWEModel(keras.Model):
    """Wraps a classifier and entangles watermarks with the target class (EWE).

    EWE (Jia et al. 2021, Algorithm 1 and Eq. 2) trains on task batches
    interleaved with watermark batches. Task batches minimise cross-entropy
    only. A watermark batch holds watermarks and task inputs of the target
    class, all labelled with the target class; on it the model minimises

        CE - w * sum_l SNNL(h_l, is_watermark, T_l)            (Eq. 2)

    over its hidden representations `h_l`, i.e. it *maximises* the soft
    nearest neighbour loss between watermarks and target-class inputs so
    that the classifier represents them alike; then each temperature takes
    its own gradient step `T_l <- T_l - epsilon * dSNNL_l / dT_l`
    (Algorithm 1, line 14). The EWE reference code takes that step on its
    own parameter `T_ref = 100 / T` (kernel `exp(-d * T_ref / 100)`);
    `temperature_step="inverse"` takes it there, with the same `epsilon`.
    The two differ by a factor `(T**2 / 100)**2` in `T`: `1e4` times larger
    in the reference's units at `T = 100`, `1e-4` times smaller at `T = 1`.

    Batches come from `kwm.watermarks.watermark_schedule(..., with_groups=True)`:
    elements `((x, group), y)` with `group` 1 for watermarks, 0 for
    target-class inputs of a watermark batch and -1 in task batches. Plain
    `(x, y)` batches are task batches.

    Weight convention: kwm's cross-entropy is the batch *mean* (Keras'
    default), while the reference code sums it over the batch, so the
    reference's per-layer factor `f` (32 for MNIST at batch 512)
    corresponds to `snnl_weight = f / batch_size` here (0.0625). A mean
    keeps the balance between the two terms independent of the batch size.

    `call` is the wrapped classifier's, so the model predicts, evaluates
    and exports like the classifier; `kwm.export_for_serving` exports
    `model.classifier` alone.

    Args:
        classifier: keras.Model. A functional classifier (probabilities or
            logits: the task loss is the one `compile` is given).
        entangled_layers: sequence of str. Names of the classifier's layers
            whose outputs are entangled (e.g. the EWE CNN's `relu1`,
            `relu2`, `relu3`: the reference's conv1, conv2 and dense-128
            outputs after their ReLU); layers of nested models by name or
            path (`kwm.architectures.find_layer`).
        snnl_weight: float. `w` of Eq. 2 (for a mean cross-entropy).
        temperatures: float or sequence of float. Initial temperature per
            entangled layer (`soft_nearest_neighbour_loss` convention).
        temperature_learning_rate: float. `epsilon` of Algorithm 1.
        distance: `"cosine"` (reference default) or `"euclidean"`.
        temperature_step: `"temperature"` (Algorithm 1's step on `T`) or
            `"inverse"` (the step on the reference code's `T_ref = 100 / T`).
        **kwargs: `keras.Model` arguments.

    Examples:

    >>> import numpy as np, kwm
    >>> classifier = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
    >>> model = EWEModel(classifier, ["relu1", "relu3"], snnl_weight=0.1)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> x = np.random.default_rng(0).random((8, 8, 8, 1), "float32")
    >>> groups = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    >>> logs = model.train_on_batch((x, groups), np.ones(8), return_dict=True)
    >>> sorted(k for k in logs if k.startswith("snnl"))
    ['snnl_relu1', 'snnl_relu3']
    """

    def __init__(
        self,
        classifier,
        entangled_layers,
        snnl_weight=0.0625,
        temperatures=100.0,
        temperature_learning_rate=0.1,
        distance="cosine",
        temperature_step="temperature",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if temperature_step not in TEMPERATURE_STEPS:
            raise ValueError(
                f"`temperature_step` must be one of {TEMPERATURE_STEPS}. "
                f"Received: temperature_step={temperature_step!r}"
            )
        entangled_layers = [str(name) for name in entangled_layers]
        if not entangled_layers:
            raise ValueError("EWE needs at least one entangled layer. Received: entangled_layers=[]")
        for name in entangled_layers:
            find_layer(classifier, name)  # a clear error naming the classifier's layers
        if distance not in DISTANCES:
            raise ValueError(f"`distance` must be one of {DISTANCES}. Received: distance={distance!r}")
        if isinstance(temperatures, (int, float)):
            temperatures = [float(temperatures)] * len(entangled_layers)
        temperatures = [float(t) for t in temperatures]
        if len(temperatures) != len(entangled_layers) or min(temperatures) <= 0:
            raise ValueError(
                "Give one positive temperature per entangled layer. Received: "
                f"temperatures={temperatures} for {len(entangled_layers)} layers"
            )
        self.classifier = classifier
        self.entangled_layers = entangled_layers
        self.snnl_weight = float(snnl_weight)
        self.initial_temperatures = temperatures
        self.temperature_learning_rate = float(temperature_learning_rate)
        self.distance = distance
        self.temperature_step = temperature_step
        self._features = feature_model(classifier, entangled_layers)
        # Paths of nested layers (`backbone/layer`) name metrics as `backbone_layer`.
        self._metric_names = [name.replace("/", "_") for name in entangled_layers]
        self.temperatures = [
            self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(t),
                trainable=False,
                name=f"temperature_{name}",
            )
            for name, t in zip(self._metric_names, temperatures)
        ]
        self.task_loss_tracker = keras.metrics.Mean(name="task_loss")
        self.snnl_trackers = [keras.metrics.Mean(name=f"snnl_{n}") for n in self._metric_names]
        self.temperature_trackers = [
            keras.metrics.Mean(name=f"temperature_{n}") for n in self._metric_names
        ]

    def compile(
        self,
        optimizer=None,
        loss=None,
        metrics=None,
        snnl_weight=None,
        temperature_learning_rate=None,
        **kwargs,
    ):
        """Configures training, like `keras.Model.compile` plus EWE's own settings.

        As Keras's `Distiller` example takes its distillation settings in
        `compile`, this takes `snnl_weight` (`w` of Eq. 2) and
        `temperature_learning_rate` (`epsilon` of Algorithm 1); they replace
        the constructor's. Called with no optimizer, loss or metrics, it
        compiles with the wrapped classifier's own compile settings (its
        optimizer, loss and metrics, logits or probabilities as its loss
        expects), so a user's compiled classifier is watermarked as they
        configured it.

        Args:
            optimizer, loss, metrics: as `keras.Model.compile`.
            snnl_weight: float or None. `w` of Eq. 2 (non-negative).
            temperature_learning_rate: float or None. `epsilon` of Algorithm 1.
            **kwargs: other `keras.Model.compile` arguments.

        Examples:

        >>> import kwm
        >>> classifier = kwm.architectures.ewe_cnn((8, 8, 1), num_classes=2)
        >>> classifier.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        >>> model = EWEModel(classifier, ["relu3"])
        >>> model.compile(snnl_weight=0.5)
        >>> type(model.optimizer).__name__, model.snnl_weight
        ('SGD', 0.5)
        """
        if snnl_weight is not None:
            if float(snnl_weight) < 0:
                raise ValueError(
                    f"`snnl_weight` must be non-negative. Received: snnl_weight={snnl_weight}"
                )
            self.snnl_weight = float(snnl_weight)
        if temperature_learning_rate is not None:
            self.temperature_learning_rate = float(temperature_learning_rate)
        if optimizer is None and loss is None and metrics is None:
            config = self.classifier.get_compile_config()
            if not config:
                raise ValueError(
                    "EWEModel.compile needs a loss, or a compiled classifier to take its optimizer, "
                    "loss and metrics from. Received: loss=None and an uncompiled classifier"
                )
            config = keras.saving.deserialize_keras_object(config)
            config.update(kwargs)
            super().compile(**config)
            return
        super().compile(optimizer=optimizer or "rmsprop", loss=loss, metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        """Recompiles a loaded model with its saved compile settings."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=False):
        return self.classifier(inputs, training=training)

    @property
    def metrics(self):
        return (
            super().metrics
            + [self.task_loss_tracker]
            + self.snnl_trackers
            + self.temperature_trackers
        )

    def _snnl_terms(self, groups, hidden):
        return [
            ops.mean(soft_nearest_neighbour_loss(groups, h, t, self.distance))
            for h, t in zip(hidden, self.temperatures)
        ]

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tuple, list)):
            x, groups = x
        else:
            groups = -ops.ones_like(ops.cast(y, "int32"))
        groups = ops.cast(ops.reshape(groups, (-1,)), "int32")
        watermark_batch = ops.any(groups >= 0)

        with tf.GradientTape(persistent=True) as tape:
            # Temperatures are not trainable (the optimizer must not touch
            # them), so the tape has to be told to follow them.
            tape.watch([t.value for t in self.temperatures])
            # The forward pass is shared; only the SNNL sits inside the
            # branch, so task batches neither compute it nor carry the
            # network's activations through `cond` (no XLA on CPU: Keras'
            # jit_compile="auto" keeps cond cheap).
            *hidden, y_pred = self._features(x, training=True)
            task_loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
            snnls = ops.cond(
                watermark_batch,
                lambda: ops.stack(self._snnl_terms(groups, hidden)),
                lambda: ops.zeros((len(self.temperatures),)),
            )
            snnl_total = ops.sum(snnls)
            loss = task_loss - self.snnl_weight * snnl_total
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        temperature_gradients = tape.gradient(
            snnl_total,
            [t.value for t in self.temperatures],
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        del tape
        for temperature, gradient in zip(self.temperatures, temperature_gradients):
            # Algorithm 1, line 14, on watermark batches; zero gradient otherwise.
            temperature.assign(self._temperature_update(temperature, gradient))

        self._loss_tracker.update_state(loss)
        self.task_loss_tracker.update_state(task_loss)
        weight = ops.cast(watermark_batch, "float32")
        for i, tracker in enumerate(self.snnl_trackers):
            # Averaged over watermark batches only.
            tracker.update_state(snnls[i], sample_weight=weight)
        for tracker, temperature in zip(self.temperature_trackers, self.temperatures):
            tracker.update_state(temperature)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _temperature_update(self, temperature, gradient):
        if self.temperature_step == "temperature":
            updated = temperature - self.temperature_learning_rate * gradient
            return ops.maximum(updated, MIN_TEMPERATURE)
        # The reference code's parameter T_ref = 100 / T: dSNNL/dT_ref = dSNNL/dT * dT/dT_ref,
        # with dT/dT_ref = -T**2 / 100.
        inverse = INVERSE_SCALE / temperature
        inverse_gradient = gradient * (-ops.square(temperature) / INVERSE_SCALE)
        inverse = inverse - self.temperature_learning_rate * inverse_gradient
        return INVERSE_SCALE / ops.clip(inverse, INVERSE_SCALE / MAX_TEMPERATURE,
                                        INVERSE_SCALE / MIN_TEMPERATURE)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, (tuple, list)):
            x = x[0]
        return super().test_step((x, y, sample_weight))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "classifier": keras.saving.serialize_keras_object(self.classifier),
                "entangled_layers": list(self.entangled_layers),
                "snnl_weight": self.snnl_weight,
                "temperatures": [float(ops.convert_to_numpy(t)) for t in self.temperatures],
                "temperature_learning_rate": self.temperature_learning_rate,
                "distance": self.distance,
                "temperature_step": self.temperature_step,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)
