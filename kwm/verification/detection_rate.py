"""Watermark detection rate (WDR) and query cost of an ownership claim."""

import numpy as np

DEFAULT_QUERY_SIZES = (1, 2, 3, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)


def detection_rate(test, num_inputs, subset_size, draws=200, significance=0.05, seed=0):
    """Fraction of random subsets of the watermark set on which a test rejects.

    The feature-sharing paper's WDR (section 4.1): draw a random subset of
    the watermark inputs, run the ownership test on it, repeat 200 times,
    and report the fraction of draws that reject the null hypothesis.

    Args:
        test: callable. `test(indices) -> p_value` for a subset of the
            (paired) watermark queries.
        num_inputs: int. Size of the watermark set.
        subset_size: int. Inputs per draw, at most `num_inputs`.
        draws: int. Number of draws.
        significance: float. Rejection level.
        seed: int. Seed of the draws.

    Returns:
        The detection rate in [0, 1].

    Examples:

    >>> detection_rate(lambda idx: 0.01, num_inputs=50, subset_size=5)
    1.0
    """
    if not 1 <= subset_size <= num_inputs:
        raise ValueError(
            f"`subset_size` must lie in [1, {num_inputs}]. Received: subset_size={subset_size}"
        )
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(draws):
        indices = rng.choice(num_inputs, size=subset_size, replace=False)
        rejected += test(indices) <= significance
    return rejected / draws


def query_cost(
    test,
    num_inputs,
    queries_per_input=1,
    target_rate=0.95,
    draws=200,
    significance=0.05,
    sizes=DEFAULT_QUERY_SIZES,
    seed=0,
):
    """Fewest queries with which a claim succeeds on `target_rate` of random draws.

    EWE's Fig. 7 reports how many queries a defender needs to claim
    ownership with 95% confidence. kwm measures it on the suspect's actual
    answers: for growing subset sizes n, the detection rate over `draws`
    random subsets of n watermark inputs; the cost is the first n (times
    `queries_per_input`, 2 when each watermark input is paired with its
    trigger-free reference) whose rate reaches `target_rate`.

    Args:
        test: callable. `test(indices) -> p_value`.
        num_inputs: int. Size of the watermark set.
        queries_per_input: int. Queries each watermark input costs.
        target_rate: float. Required detection rate.
        draws: int. Draws per subset size.
        significance: float. Rejection level.
        sizes: sequence of int. Subset sizes to try (capped by `num_inputs`).
        seed: int. Seed of the draws.

    Returns:
        `(num_queries or None, curve)`: the cost (None when even the whole
        set does not reach the rate) and a list of
        `{"inputs", "queries", "detection_rate"}` rows.
    """
    curve = []
    candidates = sorted({s for s in sizes if s <= num_inputs} | {num_inputs})
    for size in candidates:
        rate = detection_rate(test, num_inputs, size, draws, significance, seed)
        curve.append(
            {"inputs": size, "queries": size * queries_per_input, "detection_rate": rate}
        )
        if rate >= target_rate:
            return size * queries_per_input, curve
    return None, curve
