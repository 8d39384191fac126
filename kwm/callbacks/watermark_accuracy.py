"""Watermark accuracy logged into `History` at the end of every epoch."""

import keras
import numpy as np


class WatermarkAccuracy(keras.callbacks.Callback):
    """Logs how much of a key's watermark the model in training carries.

    At the end of every epoch it classifies the key's held-out verification
    watermarks (never trained on) and writes into the epoch's logs, and so
    into the `History` that `fit` returns:

    - `watermark_accuracy`: the fraction sent to the key's target class (EWE's
      watermark success rate, the feature-sharing paper's watermark accuracy);
    - `false_watermark_rate`: the same fraction on the verification inputs
      *without* the trigger (in-distribution keys only): what the model does
      to the source class anyway.

    Only top-1 answers are used, so a model that outputs logits works as
    well as one that outputs probabilities. This is a training monitor, not
    a claim: claims come from `kwm.verify_ownership`.

    Args:
        key: `WatermarkKey`. The owner's key.
        batch_size: int. Prediction batch size.
        prefix: str. Prefix of the logged names (e.g. `"val_"`).

    Examples:

    >>> import numpy as np, keras
    >>> from kwm.watermarks import WatermarkKey
    >>> key = WatermarkKey(method="baseline", dataset="toy", num_classes=2,
    ...     target_class=1, source_class=0, source_dataset="toy", trigger=None,
    ...     seed=0, embed_inputs=np.ones((4, 3), "float32"),
    ...     verify_inputs=np.ones((4, 3), "float32"),
    ...     reference_inputs=np.zeros((4, 3), "float32"))
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> history = model.fit(np.ones((8, 3)), np.ones(8), epochs=2, verbose=0,
    ...     callbacks=[WatermarkAccuracy(key)])
    >>> sorted(history.history)
    ['false_watermark_rate', 'loss', 'watermark_accuracy']
    >>> len(history.history["watermark_accuracy"])
    2
    """

    def __init__(self, key, batch_size=256, prefix=""):
        super().__init__()
        if not hasattr(key, "verify_inputs") or not hasattr(key, "target_class"):
            raise ValueError(
                f"`key` must be a kwm.WatermarkKey. Received: key={type(key).__name__}"
            )
        self.key = key
        self.batch_size = int(batch_size)
        self.prefix = prefix

    def _target_rate(self, inputs):
        outputs = self.model.predict(inputs, batch_size=self.batch_size, verbose=0)
        outputs = np.asarray(outputs)
        if outputs.ndim != 2 or outputs.shape[-1] != self.key.num_classes:
            raise ValueError(
                f"The model must output one score per class of the key's task "
                f"({self.key.num_classes}). Received: outputs of shape {outputs.shape}"
            )
        return float(np.mean(outputs.argmax(axis=-1) == self.key.target_class))

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs[f"{self.prefix}watermark_accuracy"] = self._target_rate(self.key.verify_inputs)
        if self.key.reference_inputs is not None:
            logs[f"{self.prefix}false_watermark_rate"] = self._target_rate(
                self.key.reference_inputs
            )
