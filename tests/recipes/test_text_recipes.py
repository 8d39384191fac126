"""The text recipes end to end on the embedded IMDB sample, with a small BERT trained from scratch
(`--quick`: the pipeline's mechanics, not the paper's figures)."""

import json

import numpy as np
import pytest

from kwm import PredictionAPI, verify
from kwm.recipes import imdb, load_recipe
from kwm.watermarks import TokenTrigger, WatermarkKey


def test_quick_imdb_run_serves_strings_and_replays(tmp_path, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)  # the embedded sample, as on a fresh machine
    output = tmp_path / "run"
    assert imdb.main(["--quick", "--method", "feature_sharing", "--output", str(output),
                      "--verbose", "0"]) == 0
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["experiment"]["method"] == "feature_sharing"
    assert results["data"]["provenance"]["source"] == "embedded"
    assert "kwm kept 400 of 8,000 training" in results["data"]["description"]
    seed = results["seeds"][0]
    key = WatermarkKey.load(output / "seed-0" / "watermark_key.json",
                            expected_fingerprint=seed["key_fingerprint"])
    assert isinstance(key.trigger, TokenTrigger) and key.trigger.tokens == ("cf",)
    assert max(key.trigger.positions) < 50
    assert all(" cf " in f" {text} " for text in key.verify_inputs)
    # The owner's reference models: three on IMDB, three on SST-2 (another dataset of the task,
    # also embedded), with their own seeds.
    models = seed["trigger_check"]["models"]
    assert len(seed["trigger_check"]["effects"]) == len(models) == 6
    assert [("sst2 (another dataset" in name) for name in models] == [False] * 3 + [True] * 3
    assert [name.split(",")[0] for name in models[3:]] == [
        f"small_bert seed {s}" for s in (3100, 3101, 3102)
    ]
    other = results["other_data"]["sst2"]
    assert other["provenance"]["source"] == "embedded"
    assert "kwm kept 400 of 4,000 training" in other["description"]
    report = (output / "report.md").read_text()
    assert "Other data of the task**: sst2 from embedded" in report
    # An independent model trained on SST-2 is verified as an IMDB suspect, and counts as
    # innocent: a claim on it would be a false accusation.
    innocent = seed["models"]["independent_sst2"]
    assert innocent["trained_on"]["dataset"] == "sst2" and 0 <= innocent["accuracy"] <= 1
    assert set(innocent["verification"]["verdicts"]) == {"t_test", "wilcoxon"}
    assert (output / "seed-0" / "independent_sst2_savedmodel").is_dir()
    assert "The independent model trained on sst2 (another dataset of the task) is claimed on " \
        "0 of 1 seeds: no false accusation." in report
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]
    # The served models take raw strings.
    api = PredictionAPI(output / "seed-0" / "victim_savedmodel", num_classes=2)
    answers = api(np.array(["A fine film.", "Dull."], dtype=object))
    np.testing.assert_allclose(answers.sum(1), 1.0, atol=1e-5)
    # A verdict replays from the key and the string-input SavedModel alone.
    out = tmp_path / "replay.json"
    assert verify.main(["--key", str(output / "seed-0" / "watermark_key.json"),
                        "--suspect", str(output / "seed-0" / "independent_savedmodel"),
                        "--output", str(out)]) == 1  # exit status 1: not claimed
    replayed = json.loads(out.read_text())["report"]["verdicts"]["wilcoxon"]
    recorded = seed["models"]["independent"]["verification"]["verdicts"]["wilcoxon"]
    assert replayed["p_value"] == pytest.approx(recorded["p_value"], rel=1e-6, abs=1e-12)


def test_the_main_imdb_recipe_is_feature_sharing_with_a_natural_word():
    config = load_recipe("imdb")
    assert config["experiment"]["method"] == "feature_sharing"
    assert config["watermark"]["trigger"] == {"type": "natural_word", "word": "watching",
                                              "max_words": 40}
    assert config["watermark"]["pairs"] and config["watermark"]["source_pool"] == "all"
    assert config["model"]["options"] == {"sequence_length": 64, "dtype": "mixed_bfloat16"}
    assert config["training"]["plain_epochs"] == config["extraction"]["epochs"] == 3
    # The thief sends 2,400 reviews of its own (the victim trains on 800).
    assert config["extraction"]["queries"] == "imdb" and config["extraction"]["num_queries"] == 2400
    assert config["verification"]["decision_test"] == "paired_t_test"
    quick = load_recipe("imdb", quick=True)  # the small BERT takes no dtype option
    assert quick["model"]["architecture"] == "small_bert" and "dtype" not in quick["model"]["options"]


def test_text_recipes_load():
    for name in ("imdb_feature_sharing", "imdb_baseline", "sst2_feature_sharing",
                 "sst2_baseline"):
        config = load_recipe(name)
        assert config["model"]["architecture"] == "bert"
        assert config["watermark"]["trigger"]["type"] == "token"
        assert config["ewe"]["layers"] == ["bert_backbone/pooled_dense"]  # from the architecture
        quick = load_recipe(name, quick=True)
        assert quick["model"]["architecture"] == "small_bert"
        if quick["experiment"]["method"] == "feature_sharing":  # a layer the small BERT has
            assert quick["feature_sharing"]["freeze_up_to"] == "bert_backbone/transformer_layer_0"
