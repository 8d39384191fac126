import numpy as np
import pytest

from kwm.verification import detection_rate, query_cost, wilcoxon_alpha_test


def test_detection_rate_counts_rejections():
    # A test that rejects exactly when index 0 is drawn: P = subset / n.
    rate = detection_rate(lambda idx: 0.0 if 0 in idx else 1.0, num_inputs=10, subset_size=3,
                          draws=2000, seed=1)
    assert rate == pytest.approx(0.3, abs=0.03)


def test_detection_rate_draws_without_replacement():
    seen = []
    detection_rate(lambda idx: seen.append(len(set(idx))) or 1.0, 5, 5, draws=3)
    assert seen == [5, 5, 5]
    with pytest.raises(ValueError, match="subset_size"):
        detection_rate(lambda idx: 1.0, 5, 6)


def test_query_cost_grows_as_the_watermark_weakens():
    rng = np.random.default_rng(0)
    n = 200

    def cost(hit_rate):
        p = np.where(rng.random(n) < hit_rate, 0.95, 0.02)
        q = np.full(n, 0.01)
        return query_cost(lambda i: wilcoxon_alpha_test(p[i], q[i])[1], n, queries_per_input=2,
                          draws=100)

    strong, curve = cost(1.0)
    weak, _ = cost(0.75)
    assert strong == 10  # five pairs: the smallest Wilcoxon p is 1/32
    assert curve[-1]["detection_rate"] >= 0.95 and curve[-1]["queries"] == strong
    assert weak is not None and weak > strong
    none, curve = cost(0.0)
    assert none is None and curve[-1]["inputs"] == n
