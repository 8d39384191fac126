"""How many queries a claim will need, before an owner spends a query budget."""

import numpy as np
import scipy.stats

from kwm.verification.statistical_tests import watermark_t_test


def _t_test_power(n, watermark_accuracy, false_rate, paired, margin, significance):
    """P(the T-test rejects) with n watermark inputs (and n references when paired)."""
    successes = np.arange(n + 1)
    p_success = scipy.stats.binom.pmf(successes, n, watermark_accuracy)
    if paired:
        references = successes
        p_reference = scipy.stats.binom.pmf(references, n, false_rate)
    else:
        references, p_reference = [None], [1.0]
    power = 0.0
    for s2, weight in zip(references, p_reference):
        if weight < 1e-15:
            continue
        reference = None if s2 is None else np.arange(n) < s2
        # The p-value falls as successes grow: find the fewest that reject (bisection).
        low, high = 0, n + 1
        while low < high:
            middle = (low + high) // 2
            p_value = watermark_t_test(
                np.arange(n) < middle, reference,
                chance=None if paired else false_rate, margin=margin,
            )[1]
            if p_value <= significance:
                high = middle
            else:
                low = middle + 1
        power += weight * p_success[low:].sum()
    return power


def queries_needed(watermark_accuracy, false_rate, test="t_test", confidence=0.95,
                   significance=0.05, margin=0.1, paired=True, max_inputs=2000):
    """The fewest queries with which a claim succeeds with probability `confidence`.

    Before querying a suspect, an owner who expects a stolen copy to answer
    the watermark inputs with the target class at rate `watermark_accuracy`
    (and the trigger-free inputs at `false_rate`) asks how many queries to
    budget (EWE Fig. 7). The answers are modelled as independent draws at
    those rates; the probability that the T-test rejects at `significance`
    is computed exactly (binomial sums), and the smallest number of
    watermark inputs reaching `confidence` is returned as queries (twice the
    inputs when each is paired with its trigger-free reference). A copy's
    measured rates give its realised cost instead
    (`OwnershipReport.query_costs`).

    Only the T-test is planned: it reads top-1 answers, whose law the two
    rates fix; the Wilcoxon test depends on the whole distribution of the
    suspect's probabilities, which no two rates determine.

    Args:
        watermark_accuracy: float. Expected target rate on watermark inputs.
        false_rate: float. Expected target rate without the trigger (or the
            key's calibrated false rate for out-of-distribution keys).
        test: str. `"t_test"`.
        confidence: float. Required probability that the claim succeeds.
        significance: float. Rejection level.
        margin: float. The T-test's margin (EWE's 0.1 plus the key's trigger
            effect, as `verify_ownership` uses).
        paired: bool. Each watermark input is paired with its trigger-free
            reference (in-distribution keys); False: compared with
            `false_rate` itself (out-of-distribution keys).
        max_inputs: int. Largest number of watermark inputs considered.

    Returns:
        The number of queries, or None when even `max_inputs` inputs do not
        reach `confidence` (e.g. `watermark_accuracy - false_rate <= margin`).

    Examples:

    >>> queries_needed(0.9, 0.05)  # 8 watermark inputs and their 8 references
    16
    >>> queries_needed(0.9, 0.05, paired=False)
    5
    >>> queries_needed(0.14, 0.05) is None  # within EWE's 10% margin: never claimed
    True
    """
    if test != "t_test":
        raise ValueError(
            "Only the T-test can be planned from two rates; the Wilcoxon test depends on the "
            "suspect's whole distribution of probabilities (measure it: "
            f"OwnershipReport.query_costs). Received: test={test!r}"
        )
    for name, value in (("watermark_accuracy", watermark_accuracy), ("false_rate", false_rate),
                        ("confidence", confidence), ("significance", significance)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"`{name}` must lie in [0, 1]. Received: {name}={value}")
    if watermark_accuracy - false_rate <= margin:
        return None
    per_input = 2 if paired else 1

    def reaches(n):
        power = _t_test_power(n, watermark_accuracy, false_rate, paired, margin, significance)
        return power >= confidence

    # Power grows with n up to the discreteness of binomial counts: double, then bisect (the
    # n found reaches `confidence`; a smaller one may, by that discreteness, too).
    high = 1
    while not reaches(high):
        if high >= max_inputs:
            return None
        high = min(2 * high, max_inputs)
    low = high // 2 + 1 if high > 1 else 1
    while low < high:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle + 1
    return high * per_input
