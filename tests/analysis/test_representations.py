import numpy as np
import pytest

from kwm import architectures
from kwm.analysis import activation_frequency, layer_outputs, project_2d


def test_activation_frequency_of_dense_and_conv_outputs():
    dense = np.array([[1.0, 0.0, 3.0], [0.5, -2.0, 0.0], [2.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(activation_frequency(dense), [1.0, 0.25, 0.25])
    conv = np.zeros((2, 2, 2, 3))
    conv[0, 0, 0, 1] = 1.0  # one of eight positions of channel 1
    np.testing.assert_allclose(activation_frequency(conv), [0.0, 1 / 8, 0.0])


def test_projection_keeps_the_main_axis():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    points = np.stack([t, 2 * t, 0.01 * rng.normal(size=200)], axis=1)
    projected = project_2d(points)
    assert np.var(projected[:, 0]) == pytest.approx(5 * np.var(t), rel=1e-2)
    assert np.var(projected[:, 1]) < 1e-3


def test_layer_outputs_by_name():
    model = architectures.ewe_cnn((8, 8, 1), num_classes=2)
    out = layer_outputs(model, "relu3", np.zeros((3, 8, 8, 1), "float32"))
    assert out.shape == (3, 128)
