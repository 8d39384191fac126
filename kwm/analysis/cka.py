"""Linear centred kernel alignment (CKA) between two sets of representations."""

import numpy as np


def linear_cka(x, y):
    """Linear CKA (Kornblith et al. 2019, Eq. 5 with linear kernels).

    `CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)` after centring
    the columns of `X` and `Y`: 1 for representations equal up to rotation
    and isotropic scaling, near 0 for unrelated ones. EWE Fig. 5 measures
    it between the representations of watermarks and task data; rows of
    `x` and `y` are paired examples.

    Args:
        x: array `(n, ...)`. Representations of n examples.
        y: array `(n, ...)`. Another representation of n examples.

    Returns:
        float in [0, 1].

    Examples:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(linear_cka(x, 3 * x), 6)
    1.0
    """
    x = np.asarray(x, dtype="float64").reshape(len(x), -1)
    y = np.asarray(y, dtype="float64").reshape(len(y), -1)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(
            "CKA compares two representations of the same n >= 2 examples. "
            f"Received: {len(x)} and {len(y)} rows"
        )
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    # ||Y^T X||_F^2 = <X X^T, Y Y^T>_F: with fewer examples than features (a
    # convolution's 25k units) the n x n Gram matrices are the cheap side.
    gram_x, gram_y = x @ x.T, y @ y.T
    cross = np.sum(gram_x * gram_y)
    norm = np.linalg.norm(gram_x) * np.linalg.norm(gram_y)
    return float(cross / norm) if norm > 0 else 0.0
