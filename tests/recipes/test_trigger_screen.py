"""The recipes screen in-distribution keys on reference models before training the watermark."""

import types

import keras
import numpy as np
import pytest

from kwm import datasets
from kwm.recipes import load_recipe
from kwm.recipes.methods import screened_key, watermark_baseline, watermark_ewe
from kwm.recipes.reference_models import reference_model_configs
from kwm.watermarks import PatchTrigger


def _candidate(position, ood=False):
    trigger = None if ood else PatchTrigger(size=(3, 3), position=position)
    return types.SimpleNamespace(
        trigger=trigger, reference_inputs=None if ood else np.zeros((4, 28, 28, 1))
    )


def _screen(effects):
    """A fake owner's check: the effect of each trigger position, and the keys it saw."""
    seen = []

    def screen(key):
        seen.append(key.trigger.position)
        value = effects.get(key.trigger.position, 0.0)
        return {"value": value, "effects": [value, 0.0, 0.0]}

    return screen, seen


def test_the_first_candidate_under_the_bound_is_taken():
    screen, seen = _screen({(0, 0): 0.27, (5, 5): 0.13})
    keys = [_candidate((0, 0)), _candidate((5, 5)), _candidate((9, 9)), _candidate((20, 20))]
    key, check = screened_key(iter(keys), screen, max_effect=0.1)
    assert key is keys[2] and seen == [(0, 0), (5, 5), (9, 9)]  # the last is never measured
    assert check["value"] == 0.0 and check["max_allowed"] == 0.1
    assert [c["trigger"]["position"] for c in check["refused"]] == [[0, 0], [5, 5]]
    assert [c["value"] for c in check["refused"]] == [0.27, 0.13]


def test_a_key_is_refused_when_every_candidate_moves_the_reference_models():
    screen, seen = _screen({(0, 0): 0.27, (5, 5): 0.11})
    with pytest.raises(ValueError, match=r"\[0, 0\]: \+27.0 points; trigger at \[5, 5\]: \+11.0"):
        screened_key([_candidate((0, 0)), _candidate((5, 5))], screen, 0.1)
    assert seen == [(0, 0), (5, 5)]


def test_unchecked_and_out_of_distribution_keys_pass_unmeasured():
    screen, seen = _screen({(0, 0): 1.0})
    first = _candidate((0, 0))
    assert screened_key([first, _candidate((5, 5))], None, 0.1) == (first, None)
    ood = _candidate(None, ood=True)
    assert screened_key([ood], screen, 0.1) == (ood, None) and seen == []


@pytest.fixture(scope="module")
def ewe_quick():
    config = load_recipe(
        "mnist_ewe", quick=True,
        overrides={"watermark": {"num_embed": 64}, "ewe": {"trigger_candidates": 4}},
    )
    data = datasets.load("mnist", sources=("embedded",))
    return config, datasets.subsample(data, 1000, 500)


def test_ewe_passes_over_a_refused_position_to_the_next_best(ewe_quick):
    config, data = ewe_quick
    seen = []

    def screen(key):  # refuses the paper's position (the first it is shown)
        seen.append(key.trigger.position)
        value = 0.3 if len(seen) == 1 else 0.0
        return {"value": value, "effects": [value] * 3}

    victim, key, check = watermark_ewe(data, None, config, 0, 0, screen=screen)
    assert len(seen) == 2 and key.trigger.position == seen[1]
    (r1, c1), (r2, c2) = seen
    assert abs(r1 - r2) >= 3 or abs(c1 - c2) >= 3  # another place, not the same one shifted
    assert check["refused"] == [
        {"trigger": {**key.trigger.get_config(), "position": list(seen[0])},
         "value": 0.3, "effects": [0.3] * 3}
    ]
    # The victim carries the accepted key's watermark: it was trained after the check.
    predictions = victim.predict(key.embed_inputs, verbose=0).argmax(axis=1)
    assert np.mean(predictions == key.target_class) > 0.5


def test_ewe_refuses_after_its_candidates_are_spent(ewe_quick):
    config, data = ewe_quick
    seen = []

    def screen(key):
        seen.append(key.trigger.position)
        return {"value": 0.5, "effects": [0.5] * 3}

    with pytest.raises(ValueError, match="Every candidate trigger"):
        watermark_ewe(data, None, config, 0, 0, screen=screen)
    assert len(seen) == len(set(seen)) == 4


def test_the_victim_does_not_depend_on_what_the_screen_trains(ewe_quick):
    """Reference models are trained on first use, between EWE's clean and watermark phases; the
    victim of a seed must come out the same whether they are trained then or were cached."""
    config, data = ewe_quick

    def cached(key):
        return {"value": 0.0, "effects": [0.0] * 3}

    def training(key):  # what training a reference model leaves behind: another global seed
        keras.utils.set_random_seed(3002)
        np.random.default_rng(3002).random(10)
        return cached(key)

    weights = []
    for screen in (cached, training):
        victim, key, _ = watermark_ewe(data, None, config, 0, 0, screen=screen)
        weights.append(victim.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_fixed_trigger_moves_to_the_next_corner_when_refused():
    config = load_recipe(
        "mnist_baseline", quick=True, overrides={"watermark": {"num_embed": 64}}
    )
    data = datasets.load("mnist", sources=("embedded",))
    data = datasets.subsample(data, config["data"]["max_train"], config["data"]["max_test"])
    seen = []

    def screen(key):  # refuses the configured corner
        seen.append(key.trigger.position)
        value = 0.3 if len(seen) == 1 else 0.0
        return {"value": value, "effects": [value] * 4}

    _, key, check = watermark_baseline(data, None, config, 0, 0, screen=screen)
    configured = PatchTrigger(**config["watermark"]["trigger"]).resolve(data.input_shape)
    assert seen[0] == configured.position and len(seen) == 2
    assert key.trigger.position == seen[1] != seen[0]
    assert [c["value"] for c in check["refused"]] == [0.3]


def test_reference_models_span_several_architectures():
    config = load_recipe("mnist_baseline")
    configs = reference_model_configs(config)
    assert [c["architecture"] for c in configs] == ["ewe_cnn", "mlp", "lenet", "bn_cnn"]
    assert configs[0] is config["model"]  # the victim's architecture keeps its options
    config["verification"]["reference_models"] = 6
    assert [c["architecture"] for c in reference_model_configs(config)][4:] == [
        "ewe_cnn", "mlp"
    ]
    config["verification"]["reference_architectures"] = ["", "vgg"]
    with pytest.raises(ValueError, match=r"Unknown reference architecture.*Received: .*'vgg'"):
        reference_model_configs(config)
    config["verification"]["reference_architectures"] = []
    with pytest.raises(ValueError, match="at least one entry"):
        reference_model_configs(config)


def test_a_reference_model_may_carry_its_own_settings():
    config = load_recipe("imdb_feature_sharing")
    config["verification"]["reference_models"] = 3
    config["verification"]["reference_architectures"] = [
        "", {"architecture": "small_bert", "learning_rate": 0.002, "options": {"hidden_dim": 32}}
    ]
    configs = reference_model_configs(config)
    assert [c["architecture"] for c in configs] == ["bert", "small_bert", "bert"]
    assert configs[1] == {"architecture": "small_bert", "dropout": 0.0,
                          "options": {"hidden_dim": 32}, "learning_rate": 0.002}
    config["verification"]["reference_architectures"] = [{"architecture": "mlp", "lr": 0.1}]
    with pytest.raises(ValueError, match=r"a table with `architecture`.*Received: "):
        reference_model_configs(config)
