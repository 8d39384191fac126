import numpy as np
import pytest

from kwm.verification import queries_needed, watermark_t_test


def _claim_rate(queries, accuracy, false_rate, paired=True, draws=4000, seed=0):
    """Monte Carlo: how often the T-test claims with that many queries."""
    rng = np.random.default_rng(seed)
    n = queries // (2 if paired else 1)
    claims = 0
    for _ in range(draws):
        success = rng.random(n) < accuracy
        reference = rng.random(n) < false_rate if paired else None
        p = watermark_t_test(success, reference, chance=None if paired else false_rate)[1]
        claims += p <= 0.05
    return claims / draws


@pytest.mark.parametrize("accuracy, false_rate, paired", [(0.9, 0.05, True), (0.6, 0.1, True),
                                                          (0.55, 0.02, False)])
def test_the_planned_budget_claims_as_often_as_promised(accuracy, false_rate, paired):
    queries = queries_needed(accuracy, false_rate, paired=paired)
    assert _claim_rate(queries, accuracy, false_rate, paired) >= 0.94
    # and it is not padded: a quarter fewer inputs fall short
    fewer = (queries // (2 if paired else 1) * 3 // 4) * (2 if paired else 1)
    assert _claim_rate(fewer, accuracy, false_rate, paired) < 0.95


def test_unreachable_claims_and_bad_arguments():
    assert queries_needed(0.15, 0.05) is None  # not above EWE's 10% margin
    assert queries_needed(0.9, 0.05, max_inputs=3) is None
    with pytest.raises(ValueError, match="Received: test='wilcoxon'"):
        queries_needed(0.9, 0.05, test="wilcoxon")
    with pytest.raises(ValueError, match="Received: confidence=1.5"):
        queries_needed(0.9, 0.05, confidence=1.5)
