import numpy as np
import pytest

from kwm.analysis import linear_cka


def test_invariances_and_limits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10))
    rotation, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 2.5 * x @ rotation + 7.0) == pytest.approx(1.0)  # rotation, scale, shift
    assert linear_cka(x, rng.normal(size=(200, 10))) < 0.1  # unrelated


def test_matches_the_hsic_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
    h = np.eye(30) - 1 / 30
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    expected = np.trace(k @ l) / np.sqrt(np.trace(k @ k) * np.trace(l @ l))
    assert linear_cka(x, y) == pytest.approx(expected)


def test_errors():
    with pytest.raises(ValueError, match="Received: 3 and 4 rows"):
        linear_cka(np.zeros((3, 2)), np.zeros((4, 2)))


def test_wide_representations_use_the_gram_side():
    # 50 examples of 20,000 features (a convolution's output): the feature-side
    # matrices would be 20,000 x 20,000; the result must equal the HSIC form.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 20000))
    y = x[:, :3000] @ rng.normal(size=(3000, 40)) + rng.normal(size=(50, 40))
    h = np.eye(50) - 1.0 / 50
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    expected = np.trace(kx @ ky) / np.sqrt(np.trace(kx @ kx) * np.trace(ky @ ky))
    assert linear_cka(x, y) == pytest.approx(expected, rel=1e-9)
