import numpy as np
import pytest

from kwm.watermarks import PatchTrigger
from kwm.watermarks.trigger import deserialize_trigger, serialize_trigger


@pytest.mark.parametrize(
    "position, expected",
    [("top_left", (1, 1)), ("top_right", (1, 24)), ("bottom_left", (24, 1)), ("bottom_right", (24, 24))],
)
def test_named_positions(position, expected):
    assert PatchTrigger(position=position).resolve((28, 28, 1)).position == expected


def test_apply_stamps_only_the_patch_and_copies():
    x = np.zeros((2, 8, 8, 1), "float32")
    out = PatchTrigger(size=(2, 3), value=0.5, position=(1, 4)).apply(x)
    assert out[:, 1:3, 4:7].min() == 0.5
    assert out.sum() == 2 * 6 * 0.5
    assert x.sum() == 0  # input untouched


def test_config_round_trip():
    trigger = PatchTrigger(size=(4, 4), value=0.9, position=(3, 5), margin=2)
    config = trigger.get_config()
    assert PatchTrigger.from_config(config).get_config() == config
    assert deserialize_trigger(serialize_trigger(trigger)) == trigger


def test_errors():
    with pytest.raises(ValueError, match="Received: position='middle'"):
        PatchTrigger(position="middle")
    with pytest.raises(ValueError, match="does not fit"):
        PatchTrigger(size=(5, 5), position=(6, 6)).resolve((8, 8, 1))
    with pytest.raises(ValueError, match="Unknown trigger class"):
        deserialize_trigger({"class_name": "Nope", "config": {}})
