import numpy as np
import pytest

from conftest import toy_independent as independent
from conftest import toy_key as _key
from conftest import toy_stolen as stolen
from kwm import InvalidPredictionError, WatermarkKey, verify_ownership


def test_stolen_model_is_claimed_with_a_full_verdict():
    key = _key()
    report = verify_ownership(stolen, key, wdr_draws=50)
    assert report.claimed and report.watermark_accuracy == 1.0 and report.reference_rate == 0.0
    assert report.num_queries == 120  # 60 watermarks + 60 references
    for name in ("t_test", "wilcoxon"):
        verdict = report.verdicts[name]
        assert verdict.claimed and verdict.p_value < 1e-6
        assert verdict.num_queries == 120
        assert verdict.key_fingerprint == key.fingerprint
        assert report.detection_rates[name] == 1.0
        text = str(verdict)
        assert "H0 rejected" in text and key.fingerprint[:16] in text and "120 queries" in text
        assert "OWNERSHIP CLAIMED" not in text  # a test is evidence; the report claims
    assert report.wdr_subset_size == 10
    assert report.to_dict()["claimed"] is True


def test_independent_model_is_not_claimed():
    report = verify_ownership(independent, _key(), wdr_draws=50)
    assert not report.claimed
    assert all(not v.claimed for v in report.verdicts.values())
    assert all(rate == 0.0 for rate in report.detection_rates.values())
    assert all(c["queries"] is None for c in report.query_costs.values())


def test_wrong_number_of_classes_is_an_error():
    with pytest.raises(InvalidPredictionError, match=r"3 are expected.*Received: output shape=\(60, 5\)"):
        verify_ownership(lambda x: np.full((len(x), 5), 0.2), _key())


def test_non_finite_answers_are_an_error():
    def broken(x):
        out = stolen(x)
        out[3, 1] = np.nan
        return out

    with pytest.raises(InvalidPredictionError, match="non-finite.*Received: 1 non-finite"):
        verify_ownership(broken, _key())


def test_logits_are_an_error():
    with pytest.raises(InvalidPredictionError, match="probabilities"):
        verify_ownership(lambda x: np.log(stolen(x)), _key())


def test_argument_errors():
    with pytest.raises(ValueError, match="tests"):
        verify_ownership(stolen, _key(), tests=("z_test",))
    with pytest.raises(ValueError, match="decision_test"):
        verify_ownership(stolen, _key(), tests=("t_test",))


def test_out_of_distribution_keys_need_a_measured_false_rate():
    key = _key()
    ood = WatermarkKey("baseline", "toy", 3, target_class=2, source_class=0,
                       source_dataset="other", trigger=None, seed=0,
                       embed_inputs=key.embed_inputs, verify_inputs=key.verify_inputs,
                       reference_inputs=None)

    def independent_at_25(x):
        # A model without the watermark that sends a quarter of these inputs to the target,
        # as an independent Fashion-MNIST model did with MNIST 8s.
        out = np.full((len(x), 3), 0.05, "float32")
        to_target = np.arange(len(x)) % 4 == 0
        out[to_target, 2] = 0.9
        out[~to_target, 0] = 0.9
        return out

    with pytest.raises(ValueError, match="Received: false_rate=None"):
        verify_ownership(independent_at_25, ood)
    # Against the rate measured on models without the watermark, nothing is claimed.
    report = verify_ownership(independent_at_25, ood, false_rate=0.25)
    assert not any(v.claimed for v in report.verdicts.values())
    assert "false rate 0.25" in report.verdicts["t_test"].hypothesis
    assert verify_ownership(stolen, ood, false_rate=0.25).claimed
    with pytest.raises(ValueError, match="false_rate"):
        verify_ownership(stolen, key, false_rate=0.1)


def _tempered(model, temperature):
    def answer(x):
        logits = np.log(model(x).astype("float64")) / temperature
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)).astype("float32")

    return answer


def test_wilcoxon_reads_probabilities_at_the_served_temperature():
    key = _key()
    # A copy distilled from an API served at T = 8 answers like `stolen` tempered
    # by 8: p(target | watermark) = 0.42 against 0.29, under the 0.3 certainty.
    soft = _tempered(stolen, 8.0)
    plain = verify_ownership(soft, key, wdr_draws=20)
    assert not plain.verdicts["wilcoxon"].claimed and plain.verdicts["t_test"].claimed
    served = verify_ownership(soft, key, wdr_draws=20, temperature=8.0)
    original = verify_ownership(stolen, key, wdr_draws=20)
    assert served.verdicts["wilcoxon"].claimed
    assert served.verdicts["wilcoxon"].p_value == pytest.approx(original.verdicts["wilcoxon"].p_value)
    assert "re-tempered by 1/8" in served.verdicts["wilcoxon"].hypothesis
    # Top-1 answers do not depend on it; an independent model is not claimed either way.
    assert served.verdicts["t_test"].p_value == plain.verdicts["t_test"].p_value
    assert not verify_ownership(_tempered(independent, 8.0), key, wdr_draws=20, temperature=8.0).claimed
    with pytest.raises(ValueError, match="Received: temperature=0"):
        verify_ownership(stolen, key, temperature=0.0)


def half_stolen(x):
    """Claimed by the T-test, not by the Wilcoxon test: target probability 0.5 on triggers."""
    triggered = x[:, 0] == 1.0
    out = np.full((len(x), 3), 0.0, "float32")
    out[triggered, 2] = 0.5
    out[triggered, 1] = 0.45
    out[triggered, 0] = 0.05
    out[~triggered, 0] = 0.5
    out[~triggered, 1] = 0.3
    out[~triggered, 2] = 0.2
    return out


def test_only_the_decision_test_claims_ownership_in_print():
    report = verify_ownership(half_stolen, _key(), wdr_draws=10, decision_test="wilcoxon")
    assert report.verdicts["t_test"].claimed and not report.verdicts["wilcoxon"].claimed
    assert not report.claimed
    text = report.summary()
    assert "OWNERSHIP CLAIMED" not in text
    lines = text.splitlines()
    assert lines[1].startswith("  [decision] H0 kept: Wilcoxon")
    assert lines[2].startswith("  [evidence] H0 rejected: EWE two-sample T-test")
    assert lines[-1].startswith("  VERDICT: ownership not claimed by kwm's decision rule, the Wilcoxon")
    # The owner may choose the T-test as the decision rule; then it claims, named as such.
    report = verify_ownership(half_stolen, _key(), wdr_draws=10, decision_test="t_test")
    assert report.claimed
    assert report.verdict_line().startswith(
        "VERDICT: OWNERSHIP CLAIMED by kwm's decision rule, the EWE two-sample T-test (p="
    )
    assert report.summary().count("OWNERSHIP CLAIMED") == 1


def test_the_paired_t_test_runs_on_request_and_can_decide():
    key = _key()
    report = verify_ownership(stolen, key, wdr_draws=20)
    assert set(report.verdicts) == {"t_test", "wilcoxon"}  # the papers' two by default
    report = verify_ownership(
        stolen, key, tests=("t_test", "paired_t_test", "wilcoxon"),
        decision_test="paired_t_test", wdr_draws=20,
    )
    verdict = report.verdicts["paired_t_test"]
    assert report.claimed and verdict.claimed and verdict.num_queries == 120
    assert "paired T-test" in report.verdict_line() and "<= 0.1" in verdict.hypothesis
    assert not verify_ownership(
        independent, key, tests=("paired_t_test",), decision_test="paired_t_test", wdr_draws=20
    ).claimed
