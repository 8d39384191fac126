import numpy as np
import pytest
import tensorflow as tf

from kwm.watermarks import WatermarkKey, watermark_dataset


def _key(num_classes=3, target=2, shape=(4,)):
    return WatermarkKey(
        method="baseline", dataset="toy", num_classes=num_classes, target_class=target,
        source_class=0, source_dataset="toy", trigger=None, seed=0,
        embed_inputs=np.full((6,) + shape, 7.0, "float32"),
        verify_inputs=np.ones((2,) + shape, "float32"),
    )


def _task(n=10, batch=4, one_hot=False):
    x = np.zeros((n, 4), "float32")
    y = np.zeros(n, "int64")
    if one_hot:
        y = np.eye(3, dtype="float32")[y]
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def test_a_watermark_batch_follows_every_ratio_task_batches_and_the_epoch_ends():
    batches = list(watermark_dataset(_key(), _task(n=10, batch=4), ratio=2))
    # task batches of 4, 4, 2; a watermark batch after every 2 task batches (and after the rest)
    kinds = ["wm" if float(x[0, 0]) == 7.0 else "task" for x, _ in batches]
    assert kinds == ["task", "task", "wm", "task", "wm"]
    for x, y in batches:
        if float(x[0, 0]) == 7.0:
            assert y.numpy().tolist() == [2] * 4  # the task's batch size, all the target
    assert int(watermark_dataset(_key(), _task(10, 4), ratio=2).cardinality()) == 5


def test_one_hot_labels_stay_one_hot():
    batches = list(watermark_dataset(_key(), _task(one_hot=True), ratio=1))
    x, y = batches[1]
    assert y.dtype == tf.float32 and y.numpy().tolist() == [[0, 0, 1]] * 4


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="ratio"):
        watermark_dataset(_key(), _task(), ratio=0)
    with pytest.raises(ValueError, match="input shape"):
        watermark_dataset(_key(shape=(5,)), _task())
    with pytest.raises(ValueError, match="columns"):
        y = np.zeros((8, 4), "float32")
        watermark_dataset(_key(), tf.data.Dataset.from_tensor_slices(
            (np.zeros((8, 4), "float32"), y)).batch(4))
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        watermark_dataset(_key(), tf.data.Dataset.from_tensor_slices(np.zeros((8, 4))).batch(4))
