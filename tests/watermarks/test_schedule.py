import numpy as np
import pytest

from kwm.watermarks import watermark_schedule


def _arrays():
    task_x = np.zeros((40, 3), "float32")
    task_y = np.arange(40) % 4
    marks = np.full((7, 3), 5.0, "float32")
    targets = np.full((10, 3), 2.0, "float32")
    return task_x, task_y, marks, targets


@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_every_ratio_plus_one_th_batch_is_a_watermark_batch(ratio):
    task_x, task_y, marks, targets = _arrays()
    dataset, steps = watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, ratio=ratio)
    task_batches = 40 // 8
    assert steps == task_batches + -(-task_batches // ratio)
    for i, (x, y) in enumerate(dataset.take(3 * (ratio + 1))):
        x, y = x.numpy(), y.numpy()
        if (i + 1) % (ratio + 1) == 0:
            assert (y == 3).all()
            assert (x[:4] == 5.0).all() and (x[4:] == 2.0).all()  # half watermarks, half target
        else:
            assert (x == 0).all()


def test_groups_for_the_snnl():
    task_x, task_y, marks, targets = _arrays()
    dataset, _ = watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, with_groups=True)
    (x1, g1), _ = next(iter(dataset.take(1)))
    (x2, g2), y2 = list(dataset.take(2))[1]
    assert (g1.numpy() == -1).all()
    assert g2.numpy().tolist() == [1] * 4 + [0] * 4


def test_errors():
    task_x, task_y, marks, targets = _arrays()
    with pytest.raises(ValueError, match="ratio"):
        watermark_schedule(task_x, task_y, marks, targets, 3, ratio=0)
    with pytest.raises(ValueError, match="at least one batch"):
        watermark_schedule(task_x[:4], task_y[:4], marks, targets, 3, batch_size=8)
    with pytest.raises(ValueError, match="0 watermarks"):
        watermark_schedule(task_x, task_y, marks[:0], targets, 3, batch_size=8)
