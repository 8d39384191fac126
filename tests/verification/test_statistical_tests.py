"""The ownership statistics against hand-computed cases."""

import math

import numpy as np
import pytest
import scipy.stats

from kwm.verification import paired_watermark_t_test, watermark_t_test, wilcoxon_alpha_test


def _welch_by_hand(k1, n1, k2, n2, margin=0.0):
    # Agresti-Caffo: one pseudo-success and one pseudo-failure per sample.
    p1, p2 = (k1 + 1) / (n1 + 2), (k2 + 1) / (n2 + 2)
    v1, v2 = p1 * (1 - p1) / (n1 + 2), p2 * (1 - p2) / (n2 + 2)
    t = (p1 - p2 - margin) / math.sqrt(v1 + v2)
    df = (v1 + v2) ** 2 / (v1**2 / (n1 + 1) + v2**2 / (n2 + 1))
    return t, scipy.stats.t.sf(t, df)


def test_t_test_hand_computed_case():
    # 3 of 4 watermarks hit the target, 0 of 4 references: p1 = 4/6, p2 = 1/6,
    # v1 = v2' ... t = 0.5 / sqrt(2/27 ... ) -> t = 2.0381, df = 9.49, p = 0.0354.
    t, p, details = watermark_t_test([1, 1, 1, 0], [0, 0, 0, 0], margin=0.0)
    assert t == pytest.approx(2.0381, abs=1e-4)
    assert p == pytest.approx(0.0354, abs=5e-4)
    assert (t, p) == pytest.approx(_welch_by_hand(3, 4, 0, 4))
    assert details["success_rate"] == 0.75 and details["reference_rate"] == 0.0


@pytest.mark.parametrize("margin", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("k1, n1, k2, n2", [(40, 100, 10, 100), (9, 10, 1, 12), (5, 50, 4, 50)])
def test_t_test_matches_the_formula(k1, n1, k2, n2, margin):
    success = [1] * k1 + [0] * (n1 - k1)
    reference = [1] * k2 + [0] * (n2 - k2)
    got = watermark_t_test(success, reference, margin=margin)[:2]
    assert got == pytest.approx(_welch_by_hand(k1, n1, k2, n2, margin))


def test_t_test_must_not_reject_equal_rates():
    # An independent model: no watermark hits, no false hits.
    t, p, _ = watermark_t_test([0] * 200, [0] * 200, margin=0.0)
    assert t == 0.0 and p == 0.5
    # Equal non-zero rates: still no claim.
    assert watermark_t_test([1, 0] * 50, [0, 1] * 50, margin=0.0)[1] == pytest.approx(0.5)
    # A rate barely above the false rate on few queries: no claim.
    assert watermark_t_test([1, 0, 0, 0, 0], [0, 0, 0, 0, 0], margin=0.0)[1] > 0.05


def test_t_test_margin_protects_an_independent_model_the_trigger_nudges():
    # Measured: an independent Fashion-MNIST model put 4 of 200 triggered bags in the
    # target class and 0 of the 200 clean ones. Without a margin that is a "claim".
    independent = ([1] * 4 + [0] * 196, [0] * 200)
    assert watermark_t_test(*independent, margin=0.0)[1] == pytest.approx(0.05, abs=1e-3)
    assert watermark_t_test(*independent)[1] > 0.999  # default margin 0.1: no claim
    # A stolen copy that kept 40% of the watermarks is still claimed, with few queries.
    assert watermark_t_test([1] * 8 + [0] * 12, [0] * 20)[1] < 0.05


def test_t_test_perfect_separation_needs_more_than_one_query():
    assert watermark_t_test([1], [0], margin=0.0)[1] == pytest.approx(_welch_by_hand(1, 1, 0, 1)[1])
    assert watermark_t_test([1], [0], margin=0.0)[1] == pytest.approx(0.2177, abs=1e-3)
    assert watermark_t_test([1] * 10, [0] * 10)[1] < 1e-5


def test_t_test_against_chance():
    # 12 of 20 hits against chance 0.1: p1 = 13/22, se = sqrt(p1 (1 - p1) / 22).
    t, p, details = watermark_t_test([1] * 12 + [0] * 8, chance=0.1)
    p1 = 13 / 22
    expected = (p1 - 0.1 - 0.1) / math.sqrt(p1 * (1 - p1) / 22)  # chance + margin
    assert t == pytest.approx(expected)
    assert p == pytest.approx(scipy.stats.t.sf(expected, 21))
    assert details["num_reference"] == 0
    assert watermark_t_test([0] * 20, chance=0.1)[1] > 0.5


def test_wilcoxon_exact_hand_computed_cases():
    # d = p - q - alpha = [0.5, 0.4, -0.1, 0.2, 0.3]; ranks of |d|: 5, 4, 1, 2, 3;
    # W+ = 14; P(W+ >= 14) over 2**5 sign patterns = 2 / 32.
    p = np.array([0.9, 0.8, 0.3, 0.6, 0.7])
    q = np.full(5, 0.1)
    w, pvalue, details = wilcoxon_alpha_test(p, q, alpha=0.3)
    assert w == 14.0
    assert pvalue == pytest.approx(2 / 32)
    assert pvalue > 0.05  # must not reject
    assert details["median_difference"] == pytest.approx(0.6)
    # All five differences positive: 1 / 32 -> rejects at 0.05.
    assert wilcoxon_alpha_test(p + 0.2, q, alpha=0.3)[1] == pytest.approx(1 / 32)


def test_wilcoxon_alpha_margin_protects_small_shifts():
    rng = np.random.default_rng(0)
    q = rng.uniform(0.0, 0.05, 200)
    p = q + 0.1  # the trigger raises the target probability a little, consistently
    assert wilcoxon_alpha_test(p, q, alpha=0.3)[1] > 0.99
    assert wilcoxon_alpha_test(p, q, alpha=0.0)[1] < 1e-10  # without the margin it would claim


def test_wilcoxon_against_chance_and_degenerate_input():
    assert wilcoxon_alpha_test(np.full(10, 0.95), chance=0.1)[1] == pytest.approx(2.0**-10)
    assert wilcoxon_alpha_test(np.full(10, 0.4), chance=0.1, alpha=0.3)[1] == 1.0  # all d = 0
    with pytest.raises(ValueError, match="pair one to one"):
        wilcoxon_alpha_test([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="chance"):
        wilcoxon_alpha_test([0.1, 0.2])
    with pytest.raises(ValueError, match="alpha"):
        wilcoxon_alpha_test([0.1], chance=0.1, alpha=2)


@pytest.mark.parametrize("seed", range(6))
def test_wilcoxon_with_ties_matches_scipys_exhaustive_permutation(seed):
    # Hard-label answers tie: probabilities are exactly 0 or 1.
    rng = np.random.default_rng(seed)
    n = 8 + seed
    p = (rng.random(n) < 0.7).astype(float)
    q = (rng.random(n) < 0.1).astype(float)
    d = p - q - 0.3
    expected = scipy.stats.wilcoxon(d, alternative="greater", method="auto")
    statistic, pvalue, _ = wilcoxon_alpha_test(p, q, alpha=0.3)
    assert statistic == expected.statistic
    assert pvalue == pytest.approx(expected.pvalue, abs=1e-12)


def test_wilcoxon_all_positive_ties_on_four_pairs_must_not_reject():
    # Exact: 1/16 > 0.05 (a normal approximation would claim at p = 0.02).
    assert wilcoxon_alpha_test(np.ones(4), np.zeros(4), alpha=0.3)[1] == pytest.approx(1 / 16)


def _pairs(flipped_to, flipped_from, both, neither):
    """Watermark and reference answers (target or not) of inputs paired one to one."""
    success = [1] * flipped_to + [0] * flipped_from + [1] * both + [0] * neither
    reference = [0] * flipped_to + [1] * flipped_from + [1] * both + [0] * neither
    return np.array(success, bool), np.array(reference, bool)


def test_paired_t_test_hand_computed_case():
    # 112 pairs: the trigger sends 30 to the target, takes 7 away, 30 are target both ways.
    # Agresti-Min: p10 = 30.5/114, p01 = 7.5/114; d = 23/114; var = (38/114 - d**2) / 114.
    t, p, details = paired_watermark_t_test(*_pairs(30, 7, 30, 45), margin=0.118)
    d = 23 / 114
    expected = (d - 0.118) / math.sqrt((38 / 114 - d**2) / 114)
    assert t == pytest.approx(expected)
    assert p == pytest.approx(scipy.stats.t.sf(expected, 111))
    assert details["flipped_to_target"] == 30 and details["flipped_from_target"] == 7
    assert details["success_rate"] == pytest.approx(60 / 112)
    assert details["reference_rate"] == pytest.approx(37 / 112)


def test_paired_t_test_is_more_powerful_than_the_two_sample_test_on_paired_answers():
    # The same two rates (53.6% and 33.0%), 20.5 points apart: against an 11.8-point margin
    # the two-sample test does not reject (p = 0.097); pairing removes the 85 inputs answered
    # alike both ways and leaves 25 flips to the target against 2 away (p = 0.025).
    success, reference = _pairs(25, 2, 35, 50)
    assert watermark_t_test(success, reference, margin=0.118)[1] > 0.09
    assert paired_watermark_t_test(success, reference, margin=0.118)[1] < 0.03
    # The more flips go both ways, the less pairing gains: 30 to, 7 away (p = 0.051).
    assert paired_watermark_t_test(*_pairs(30, 7, 30, 45), margin=0.118)[1] > 0.05


def test_paired_t_test_must_not_reject_equal_rates_or_a_nudge_below_the_margin():
    # An independent model: the trigger changes nothing.
    assert paired_watermark_t_test(*_pairs(0, 0, 20, 92), margin=0.0)[1] == pytest.approx(0.5)
    # Flips both ways in equal numbers: no claim, however many.
    assert paired_watermark_t_test(*_pairs(25, 25, 20, 42), margin=0.0)[1] == pytest.approx(0.5)
    # A trigger that nudges 8% of the inputs into the target class, every one of them
    # consistently: far below the 10% margin, however consistent.
    assert paired_watermark_t_test(*_pairs(16, 0, 20, 164))[1] > 0.3
    # A perfect victim is claimed and its statistic stays defined.
    t, p, _ = paired_watermark_t_test(*_pairs(100, 0, 0, 0))
    assert math.isfinite(t) and p < 1e-20


def test_paired_t_test_pairs_one_to_one_or_falls_back_to_chance():
    with pytest.raises(ValueError, match="pair one to one"):
        paired_watermark_t_test([1, 0, 1], [0, 0])
    with pytest.raises(ValueError, match="margin"):
        paired_watermark_t_test([1], [0], margin=1.0)
    # An out-of-distribution key has nothing to pair: the one-sample test against chance.
    success = [1] * 30 + [0] * 10
    assert paired_watermark_t_test(success, chance=0.1) == watermark_t_test(success, chance=0.1)
