import numpy as np
import pytest

from kwm import architectures, watermarks
from kwm.verification import task_accuracy, watermark_accuracy


def test_baseline_embeds_a_watermark_that_generalises_to_held_out_inputs(toy_data):
    trigger = watermarks.PatchTrigger(size=(3, 3), position="bottom_right")
    key = watermarks.generate_key(toy_data, "baseline", source_class=0, target_class=2,
                                  trigger=trigger, num_verify=60, seed=0)
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    history = watermarks.embed_baseline_watermark(
        model, toy_data, key, epochs=3, watermark_epochs=3, batch_size=32, seed=0, verbose=0
    )
    assert set(history) == {"clean", "watermark"}
    assert len(history["watermark"].history["loss"]) == 3
    assert task_accuracy(model, toy_data.test.x, toy_data.test.y) > 0.95
    # Held-out triggered inputs go to the target; the same inputs without trigger do not.
    assert watermark_accuracy(model, key) > 0.9
    clean = model.predict(key.reference_inputs, verbose=0).argmax(1)
    assert (clean == 2).mean() < 0.1


def test_baseline_rejects_a_key_for_another_task(toy_data):
    key = watermarks.WatermarkKey("baseline", "mnist", 10, 1, 7, "mnist", None, 0,
                                  np.zeros((1, 16, 16, 1)), np.zeros((1, 16, 16, 1)))
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    with pytest.raises(ValueError, match="Received: key.dataset='mnist'"):
        watermarks.embed_baseline_watermark(model, toy_data, key, epochs=1, watermark_epochs=1)
