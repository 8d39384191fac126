"""Triggers: the secret pattern that turns a source input into a watermark."""

import numpy as np

_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


class PatchTrigger:
    """A constant rectangular patch stamped on image-like inputs.

    The backdoor trigger of both papers: a white square (3x3 on MNIST,
    EWE section 5.1; 3x3 MNIST / 4x4 CIFAR, feature-sharing section 4) at a
    fixed position. The same trigger applies to spectrograms (EWE stamps
    10x10 squares on Speech Commands).

    Args:
        size: tuple of int. `(height, width)` of the patch.
        value: float. Value written into the patch (1.0 is white for inputs
            in [0, 1]).
        position: tuple of int or str. `(row, col)` of the patch's top-left
            pixel, or one of `"top_left"`, `"top_right"`, `"bottom_left"`,
            `"bottom_right"` with `margin` pixels to the border; resolve a
            named position for a given input shape with `resolve`.
        margin: int. Distance to the border for named positions.

    Examples:

    >>> import numpy as np
    >>> trigger = PatchTrigger(size=(3, 3), position="bottom_right", margin=1)
    >>> trigger = trigger.resolve((28, 28, 1))
    >>> trigger.position
    (24, 24)
    >>> float(trigger.apply(np.zeros((2, 28, 28, 1), "float32"))[0, 24:27, 24:27, 0].sum())
    9.0
    """

    # The named positions, in the order an owner tries them.
    CORNERS = _CORNERS

    def __init__(self, size=(3, 3), value=1.0, position="bottom_right", margin=1):
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(
                f"`size` must be two positive integers. Received: size={size}"
            )
        if isinstance(position, str):
            if position not in _CORNERS:
                raise ValueError(
                    f"A named `position` must be one of {_CORNERS}. "
                    f"Received: position={position!r}"
                )
        else:
            position = tuple(int(p) for p in position)
            if len(position) != 2 or min(position) < 0:
                raise ValueError(
                    "`position` must be a corner name or (row, col) >= 0. "
                    f"Received: position={position}"
                )
        self.size = size
        self.value = float(value)
        self.position = position
        self.margin = int(margin)

    def resolve(self, input_shape):
        """Returns a copy with a concrete `(row, col)` position for `input_shape`."""
        height, width = input_shape[0], input_shape[1]
        if isinstance(self.position, str):
            top = self.position.startswith("top")
            left = self.position.endswith("left")
            row = self.margin if top else height - self.size[0] - self.margin
            col = self.margin if left else width - self.size[1] - self.margin
            position = (row, col)
        else:
            position = self.position
        if position[0] + self.size[0] > height or position[1] + self.size[1] > width:
            raise ValueError(
                f"The patch of size {self.size} at {position} does not fit "
                f"inputs of shape {tuple(input_shape)}. Received: "
                f"position={position}"
            )
        return PatchTrigger(self.size, self.value, position, self.margin)

    def apply(self, x):
        """Returns a copy of the batch `x` (`(n, h, w[, c])`) with the patch stamped."""
        trigger = self.resolve(np.shape(x)[1:])
        row, col = trigger.position
        out = np.array(x, copy=True)
        out[:, row : row + self.size[0], col : col + self.size[1], ...] = self.value
        return out

    def get_config(self):
        position = self.position
        return {
            "size": list(self.size),
            "value": self.value,
            "position": position if isinstance(position, str) else list(position),
            "margin": self.margin,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, PatchTrigger) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"PatchTrigger({self.get_config()})"


_TRIGGERS = {"PatchTrigger": PatchTrigger}


def serialize_trigger(trigger):
    """`{"class_name": ..., "config": ...}` for a trigger (None stays None)."""
    if trigger is None:
        return None
    return {"class_name": type(trigger).__name__, "config": trigger.get_config()}


def deserialize_trigger(config):
    """Inverse of `serialize_trigger`."""
    if config is None:
        return None
    name = config.get("class_name")
    if name not in _TRIGGERS:
        raise ValueError(
            f"Unknown trigger class. Known: {sorted(_TRIGGERS)}. Received: class_name={name!r}"
        )
    return _TRIGGERS[name].from_config(config["config"])
