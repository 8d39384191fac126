"""The hypothesis tests behind an ownership claim.

All take what a suspect model answered on the key's inputs; neither needs
anything but black-box predictions.
"""

import math

import numpy as np
import scipy.stats

_TIE_TOLERANCE = 1e-6
_EXACT_MAX_N = 50  # scipy's own limit for its exact signed-rank test


def watermark_t_test(success, reference_success=None, chance=None, margin=0.1):
    """EWE's T-test: is the watermark success rate above the false watermark rate?

    EWE section 4.3.4 (Fig. 7) claims ownership with a two-sample T-test
    between the *watermark success rate* (watermark inputs classified as the
    target) and the *false watermark rate* (the same inputs without the
    trigger classified as the target), taking "10%, a conservative upper
    bound on the false watermark rate" as what a model without the
    watermark may show. kwm tests H0 `success - false <= margin` against
    H1 `success - false > margin` with `margin = 0.1` by default: a trigger
    can push a few percent of inputs into the target class of *any* model
    (measured: 2.0% vs 0.0% for an independent Fashion-MNIST model, which
    a margin-free test claims at p = 0.05), and a claim must not rest on
    that. `margin=0` gives the plain test.

    The statistic is Welch's, on the per-query 0/1 success indicators with
    the Agresti-Caffo adjustment (one pseudo-success and one pseudo-failure
    added to each sample): raw samples are often constant (a perfect victim
    answers all ones against all zeros) and the unadjusted statistic is then
    undefined; the adjustment also keeps a claim from resting on a handful
    of queries. Without reference inputs (out-of-distribution watermarks
    with no trigger-free counterpart) the success rate is compared with
    `chance + margin` by the one-sample version.

    Args:
        success: array of bool. Whether each watermark query was answered
            with the target class.
        reference_success: array of bool or None. The same for the reference
            (trigger-free) queries.
        chance: float or None. Reference rate when `reference_success` is
            None, usually 1 / num_classes.
        margin: float in [0, 1). Rate difference a claim must exceed.

    Returns:
        `(statistic, p_value, details)`.

    Examples:

    >>> t, p, _ = watermark_t_test([1] * 20, [0] * 20)
    >>> round(t, 1), p < 1e-10
    (12.9, True)
    >>> watermark_t_test([0] * 20, [0] * 20)[1] > 0.5
    True
    """
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"`margin` must lie in [0, 1). Received: margin={margin}")
    success = np.asarray(success, dtype=bool)
    if success.ndim != 1 or len(success) == 0:
        raise ValueError(
            f"`success` must be a non-empty 1-D array. Received: shape={success.shape}"
        )
    n1 = len(success)
    p1 = (success.sum() + 1.0) / (n1 + 2.0)
    v1 = p1 * (1 - p1) / (n1 + 2.0)
    details = {"success_rate": float(success.mean()), "num_watermark": n1, "margin": margin}
    if reference_success is not None:
        reference_success = np.asarray(reference_success, dtype=bool)
        if reference_success.ndim != 1 or len(reference_success) == 0:
            raise ValueError(
                "`reference_success` must be a non-empty 1-D array. "
                f"Received: shape={reference_success.shape}"
            )
        n2 = len(reference_success)
        p2 = (reference_success.sum() + 1.0) / (n2 + 2.0)
        v2 = p2 * (1 - p2) / (n2 + 2.0)
        # Welch-Satterthwaite degrees of freedom, each sample of size n + 2.
        df = (v1 + v2) ** 2 / (v1**2 / (n1 + 1) + v2**2 / (n2 + 1))
        statistic = (p1 - p2 - margin) / math.sqrt(v1 + v2)
        details.update(reference_rate=float(reference_success.mean()), num_reference=n2)
    elif chance is not None:
        df = n1 + 1
        statistic = (p1 - chance - margin) / math.sqrt(v1)
        details.update(reference_rate=float(chance), num_reference=0)
    else:
        raise ValueError(
            "Give `reference_success` or a `chance` rate to compare with. "
            "Received: reference_success=None, chance=None"
        )
    return float(statistic), float(scipy.stats.t.sf(statistic, df)), details


def paired_watermark_t_test(success, reference_success=None, chance=None, margin=0.1):
    """EWE's T-test on paired queries: each watermark input beside itself without the trigger.

    The same hypotheses as `watermark_t_test` (H0 `success - false <=
    margin`), tested on the per-input differences `d_i = success_i -
    reference_success_i`, which an in-distribution key provides by
    construction: its i-th reference input is its i-th watermark input
    without the trigger. Inputs a suspect answers alike with and without
    the trigger (most of them, for any model) cancel, so only the inputs
    the trigger flips carry the evidence; the two-sample test treats them
    as independent samples and spends its variance on how the suspect
    answers the inputs themselves. For the same rates, the paired test has
    the smaller variance whenever the answers with and without the trigger
    agree more often than chance would make them (kwm's addition; EWE
    section 4.3.4 uses the two-sample test).

    The statistic is the matched-pairs Wald statistic with the Agresti-Min
    adjustment (half a pair added to each cell of the 2 x 2 table of
    answers, so a constant sample, e.g. a perfect victim, stays defined):
    `(p10 - p01 - margin) / sqrt((p10 + p01 - (p10 - p01)**2) / (n + 2))`,
    with `p10` the share of inputs answered with the target only with the
    trigger and `p01` only without it; the p-value is Student's t with
    `n - 1` degrees of freedom. Without reference inputs (an
    out-of-distribution key) there is nothing to pair, and the test is the
    one-sample `watermark_t_test` against `chance + margin`.

    Args:
        success: array of bool. Whether each watermark query was answered
            with the target class.
        reference_success: array of bool or None. The same for the trigger-free
            version of each watermark query, paired one to one.
        chance: float or None. Reference rate when `reference_success` is
            None.
        margin: float in [0, 1). Rate difference a claim must exceed.

    Returns:
        `(statistic, p_value, details)`.

    Examples:

    >>> import numpy as np
    >>> # 40 inputs; the trigger flips 10 of them to the target, the other
    >>> # 30 are answered alike with and without it (15 target, 15 not).
    >>> with_trigger = np.r_[[1] * 10, [1] * 15, [0] * 15].astype(bool)
    >>> without = np.r_[[0] * 10, [1] * 15, [0] * 15].astype(bool)
    >>> round(paired_watermark_t_test(with_trigger, without, margin=0.0)[1], 4)
    0.0008
    >>> round(watermark_t_test(with_trigger, without, margin=0.0)[1], 4)  # unpaired
    0.0137
    """
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"`margin` must lie in [0, 1). Received: margin={margin}")
    if reference_success is None:
        return watermark_t_test(success, None, chance=chance, margin=margin)
    success = np.asarray(success, dtype=bool)
    reference_success = np.asarray(reference_success, dtype=bool)
    if success.ndim != 1 or len(success) == 0:
        raise ValueError(
            f"`success` must be a non-empty 1-D array. Received: shape={success.shape}"
        )
    if reference_success.shape != success.shape:
        raise ValueError(
            "`reference_success` must pair one to one with `success`. "
            f"Received: shapes {reference_success.shape} and {success.shape}"
        )
    n = len(success)
    flipped_to = float(np.sum(success & ~reference_success))  # target only with the trigger
    flipped_from = float(np.sum(~success & reference_success))  # target only without it
    p10 = (flipped_to + 0.5) / (n + 2.0)
    p01 = (flipped_from + 0.5) / (n + 2.0)
    difference = p10 - p01
    variance = (p10 + p01 - difference**2) / (n + 2.0)
    statistic = (difference - margin) / math.sqrt(variance)
    details = {
        "success_rate": float(success.mean()),
        "reference_rate": float(reference_success.mean()),
        "num_watermark": n,
        "num_reference": n,
        "flipped_to_target": int(flipped_to),
        "flipped_from_target": int(flipped_from),
        "margin": margin,
    }
    return float(statistic), float(scipy.stats.t.sf(statistic, max(n - 1, 1))), details


def wilcoxon_alpha_test(target_probability, reference_probability=None, chance=None, alpha=0.3):
    """The feature-sharing paper's Wilcoxon signed-rank test with alpha-certainty.

    Section 3.2 of "Was my Model Stolen?": with `p` the suspect's softmax
    probability of the target class on watermark inputs and `q` the same on
    the inputs without trigger (in-distribution) or `1 / |Y|`
    (out-of-distribution), the null hypothesis `p - q < alpha` is tested
    against `p - q >= alpha` by a one-sided Wilcoxon signed-rank test on
    the paired differences `p - q - alpha`. Rejecting it claims the
    watermark "with alpha-certainty"; the paper uses alpha = 0.3 at a
    significance level of 0.05. The margin protects independent models
    whose target probability the trigger merely nudges.

    Args:
        target_probability: array of float. `p`, one per watermark query.
        reference_probability: array of float or None. `q`, paired with `p`.
        chance: float or None. `q` when there is no reference (1 / |Y|).
        alpha: float. Certainty margin in [0, 1].

    Returns:
        `(statistic, p_value, details)`; the statistic is the sum of the
        ranks of the positive differences.

    Examples:

    >>> s, p, _ = wilcoxon_alpha_test([0.9] * 5, [0.1] * 5)
    >>> p  # all five differences positive: 1 / 2**5
    0.03125
    >>> wilcoxon_alpha_test([0.1] * 5, [0.1] * 5)[1] > 0.05
    True
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must lie in [0, 1]. Received: alpha={alpha}")
    p = np.asarray(target_probability, dtype="float64")
    if p.ndim != 1 or len(p) == 0:
        raise ValueError(
            "`target_probability` must be a non-empty 1-D array. "
            f"Received: shape={p.shape}"
        )
    if reference_probability is not None:
        q = np.asarray(reference_probability, dtype="float64")
        if q.shape != p.shape:
            raise ValueError(
                "`reference_probability` must pair one to one with "
                f"`target_probability`. Received: shapes {q.shape} and {p.shape}"
            )
    elif chance is not None:
        q = np.full_like(p, chance)
    else:
        raise ValueError(
            "Give `reference_probability` or a `chance` level. "
            "Received: reference_probability=None, chance=None"
        )
    differences = p - q - alpha
    # Differences within float32 rounding of the margin are ties with it,
    # not evidence: 0.4 - 0.1 - 0.3 is 5.6e-17 in floating point.
    differences[np.abs(differences) <= _TIE_TOLERANCE] = 0.0
    details = {
        "alpha": float(alpha),
        "median_difference": float(np.median(p - q)),
        "num_watermark": len(p),
        "num_reference": 0 if reference_probability is None else len(q),
    }
    if not np.any(differences):
        return 0.0, 1.0, details
    nonzero = differences[differences != 0]
    if len(nonzero) <= _EXACT_MAX_N and (
        len(nonzero) < len(differences) or len(np.unique(np.abs(nonzero))) < len(nonzero)
    ):
        statistic, p_value = _signed_rank_exact_with_ties(nonzero)
        return statistic, p_value, details
    result = scipy.stats.wilcoxon(differences, alternative="greater")
    return float(result.statistic), float(result.pvalue), details


def _signed_rank_exact_with_ties(differences):
    """Exact one-sided signed-rank p-value for nonzero differences with tied ranks.

    Under H0 each difference is positive or negative with probability 1/2
    independently, so the sum of the (mid)ranks of the positive ones is a
    sum of independent halves; its exact distribution follows by dynamic
    programming over doubled midranks (integers). This is the distribution
    scipy's permutation fallback for ties enumerates, at a fraction of the
    cost (scipy takes ~0.1 s per test for n = 10 with ties, too slow for
    the detection rate's hundreds of draws); without ties kwm calls
    `scipy.stats.wilcoxon`, whose exact test is the same.
    """
    ranks = scipy.stats.rankdata(np.abs(differences))
    doubled = np.rint(2 * ranks).astype(np.int64)
    statistic = float(ranks[differences > 0].sum())
    counts = np.zeros(int(doubled.sum()) + 1)
    counts[0] = 1.0
    for r in doubled:
        shifted = counts[:-r].copy()
        counts[r:] += shifted
    counts /= 2.0 ** len(doubled)
    observed = int(round(2 * statistic))
    return statistic, float(min(1.0, counts[observed:].sum()))
