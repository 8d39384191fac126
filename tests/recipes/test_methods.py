import pytest

from kwm.recipes import methods, pipeline
from kwm.recipes.methods import METHODS, available_methods, get_method


def test_every_recipe_method_is_registered_and_unknown_ones_are_errors():
    assert available_methods() == ["baseline", "ewe", "feature_sharing"]
    assert get_method("ewe") is methods.watermark_ewe
    with pytest.raises(ValueError, match=r"Known: \['baseline', 'ewe', 'feature_sharing'\]"):
        get_method("radioactive")
    with pytest.raises(ValueError, match="registered already"):
        METHODS.register("ewe", methods.watermark_baseline)


def test_a_new_method_is_one_registered_function(toy_data, tmp_path):
    """A method registered from outside the pipeline runs through `run_seed` like the others."""
    from kwm.recipes import load_recipe

    calls = []

    def plain_baseline(data, source_data, config, seed, verbose, screen=None):
        calls.append(seed)
        return methods.watermark_baseline(data, source_data, config, seed, verbose, screen)

    METHODS.register("plain_baseline", plain_baseline)
    config = load_recipe("mnist_baseline", quick=True)
    config["experiment"]["method"] = "plain_baseline"
    config["model"]["options"] = {}
    config["verification"].update(check_trigger=False, wdr_draws=10)
    config["watermark"].update(source_class=0, target_class=1, num_embed=30, num_verify=20,
                               trigger={"size": [3, 3], "value": 1.0, "position": "bottom_right",
                                        "margin": 1})
    try:
        results, key = pipeline.run_seed(config, toy_data, None, 0, str(tmp_path), verbose=0,
                                         log=lambda message: None)
    finally:
        METHODS.unregister("plain_baseline")
    assert "plain_baseline" not in available_methods()
    assert calls == [0] and key.method == "plain_baseline"
    assert set(results["models"]) == {"victim", "stolen", "independent"}
