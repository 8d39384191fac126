"""Issue-level acceptance on the real MNIST data: long, run with `pytest -m large`.

The default test run skips these (see pyproject.toml); `benchmarks/run.sh`
runs them, and the README's figures come from the benchmark runs.
"""

import json
import os

import pytest

from kwm.recipes import mnist

DATA_DIR = os.environ.get("KWM_DATA_DIR", "")


@pytest.mark.large
@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_DIR, "mnist")), reason="needs KWM_DATA_DIR")
def test_mnist_baseline_reproduces_ewe_table1(tmp_path):
    output = tmp_path / "run"
    assert mnist.main(["--method", "baseline", "--seeds", "2", "--data-source", "local",
                       "--output", str(output), "--verbose", "0"]) == 0
    summary = json.loads((output / "results.json").read_text())["summary"]
    victim, stolen, independent = summary["victim"], summary["stolen"], summary["independent"]
    assert victim["accuracy"]["mean"] >= 0.975
    assert victim["watermark_accuracy"]["mean"] >= 0.99
    assert abs(stolen["accuracy"]["mean"] - victim["accuracy"]["mean"]) <= 0.015
    assert stolen["watermark_accuracy"]["mean"] <= 0.10  # EWE Table 1: 3.09 +- 2.80
    assert not any(independent["t_test_claimed"]) and not any(independent["wilcoxon_claimed"])
    assert all(p > 0.05 for p in independent["t_test_p_value"]["values"])
    assert all(victim["wilcoxon_claimed"])


@pytest.mark.large
@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_DIR, "mnist")), reason="needs KWM_DATA_DIR")
def test_mnist_ewe_watermark_survives_extraction(tmp_path):
    # Three seeds: EWE's transfer varies widely across seeds (paper: 61.44 +- 27.85 %), so
    # the bound is on the mean; benchmarks/run.sh reports five.
    output = tmp_path / "run"
    assert mnist.main(["--method", "ewe", "--seeds", "3", "--data-source", "local",
                       "--output", str(output), "--verbose", "0"]) == 0
    summary = json.loads((output / "results.json").read_text())["summary"]
    victim, stolen, independent = summary["victim"], summary["stolen"], summary["independent"]
    assert victim["watermark_accuracy"]["mean"] >= 0.95
    assert victim["accuracy"]["mean"] >= independent["accuracy"]["mean"] - 0.015
    assert stolen["watermark_accuracy"]["mean"] >= 0.25  # the baseline's stolen copy: <= 0.10
    assert not any(independent["t_test_claimed"]) and not any(independent["wilcoxon_claimed"])
    assert all(victim["wilcoxon_claimed"])


@pytest.mark.large
@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA_DIR, "fashion-mnist")), reason="needs KWM_DATA_DIR")
@pytest.mark.parametrize("kind", ["in", "ood"])
def test_mnist_feature_sharing_watermark_transfers(tmp_path, kind):
    # benchmarks/results/mnist_feature_sharing*: 5 seeds; here 3. The bounds sit below what was
    # measured on seeds 0-2 (in-distribution 59.3 %, out-of-distribution 72.2 %), not at the
    # paper's 99.7 %, which kwm does not reach with 10k training digits.
    output = tmp_path / "run"
    ood = ["--ood"] if kind == "ood" else []
    assert mnist.main(["--method", "feature_sharing", *ood, "--seeds", "3", "--data-source", "local",
                       "--output", str(output), "--verbose", "0"]) == 0
    results = json.loads((output / "results.json").read_text())
    summary = results["summary"]
    victim, stolen, independent = summary["victim"], summary["stolen"], summary["independent"]
    assert victim["watermark_accuracy"]["mean"] >= 0.95
    assert victim["accuracy"]["mean"] >= independent["accuracy"]["mean"] - 0.005
    assert stolen["watermark_accuracy"]["mean"] >= (0.35 if kind == "in" else 0.50)
    assert all(stolen["t_test_claimed"])
    assert not any(independent["t_test_claimed"]) and not any(independent["wilcoxon_claimed"])
    if kind == "ood":
        for seed in results["seeds"]:
            assert len(seed["false_rate"]["rates"]) == 3
