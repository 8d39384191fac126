"""`python -m kwm.recipes.cifar10|cifar100` end to end on a small CIFAR-format copy."""

import json

import pytest

from kwm.recipes import cifar10, cifar100, load_recipe
from kwm.watermarks import WatermarkKey

from conftest import write_class_folders


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    # 45 test airplanes: the quick recipe verifies with 40 held-out triggered airplanes.
    write_class_folders(root / "cifar10", per_class=(14, {0: 45, "default": 4}))
    return root


@pytest.mark.parametrize(
    "method", ["feature_sharing", pytest.param("baseline", marks=pytest.mark.large)]
)
def test_quick_cifar10_run(cifar_dir, tmp_path, method):
    output = tmp_path / "run"
    code = cifar10.main(["--method", method, "--quick", "--data-dir", str(cifar_dir),
                         "--data-source", "local", "--output", str(output), "--verbose", "0"])
    assert code == 0
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["model"]["architecture"] == "resnet8"
    assert results["data"]["provenance"]["splits"] == {"train": 140, "test": 81}
    seed = results["seeds"][0]
    key = WatermarkKey.load(output / "seed-0" / "watermark_key.json",
                            expected_fingerprint=seed["key_fingerprint"])
    assert (key.source_class, key.target_class, key.trigger.size) == (0, 6, (4, 4))
    assert key.verify_inputs.shape == (40, 32, 32, 3)
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]
    assert (output / "seed-0" / "representations.png").exists()  # the recipe's layers exist
    assert "CIFAR-100" in (output / "report.md").read_text()  # beside the paper's row


def test_full_configuration_is_the_gpu_sized_one():
    full = load_recipe("cifar10_feature_sharing", full=True)
    assert full["model"]["architecture"] == "resnet18"
    assert load_recipe("cifar10_feature_sharing")["model"]["architecture"] == "resnet8"
    with pytest.raises(ValueError, match="no \\[full\\] configuration"):
        load_recipe("mnist_baseline", full=True)


def test_cifar100_offline_says_how_to_provide_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KWM_DATA_DIR", str(tmp_path))
    output = tmp_path / "out"
    assert cifar100.main(["--quick", "--output", str(output), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "'cifar100' was not found" in err and "cifar-100-python" in err
    assert "Nothing was written" in err and not output.exists()


def test_quick_ood_run_pads_mnist_digits_as_the_svhn_stand_in(cifar_dir, tmp_path):
    from kwm.recipes.config import recipe_path

    # Tiny models trained on a mock CIFAR answer anything; let calibration accept their rates.
    text = recipe_path("cifar10_feature_sharing_ood").read_text()
    config = tmp_path / "ood.toml"
    config.write_text(text.replace("reference_models = 4", "reference_models = 4\nmax_false_rate = 0.99"))
    output = tmp_path / "run"
    code = cifar10.main(["--quick", "--config", str(config), "--data-dir", str(cifar_dir),
                         "--data-source", "local", "--data-source", "embedded",
                         "--output", str(output), "--verbose", "0"])
    assert code == 0
    results = json.loads((output / "results.json").read_text())
    assert "padded from (28, 28, 1) to (32, 32, 3)" in results["source_data"]["provenance"]["notes"]
    key = WatermarkKey.load(output / "seed-0" / "watermark_key.json")
    assert (key.source_dataset, key.source_class, key.target_class) == ("mnist", 5, 6)
    assert key.trigger is None and key.verify_inputs.shape[1:] == (32, 32, 3)
    assert len(results["seeds"][0]["false_rate"]["rates"]) == 4
