import pytest

from kwm.recipes import available_recipes, load_recipe


def test_packaged_recipes_load():
    assert {"mnist_baseline", "fashion_mnist_baseline"} <= set(available_recipes())
    for name in available_recipes():
        config = load_recipe(name)
        assert config["experiment"]["name"] == name
        assert config["experiment"]["reproduces"]
        assert config["paper"], "every recipe names the published figures it reproduces"


def test_quick_and_overrides_apply_in_order():
    full = load_recipe("mnist_baseline")
    quick = load_recipe("mnist_baseline", quick=True, overrides={"training": {"epochs": 3}})
    assert full["training"]["epochs"] == 10
    assert quick["training"]["epochs"] == 3  # override beats [quick]
    assert quick["training"]["watermark_epochs"] == 1  # from [quick]
    assert quick["training"]["batch_size"] == full["training"]["batch_size"]


def test_unknown_settings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown recipe setting 'training.epoch'"):
        load_recipe("mnist_baseline", overrides={"training": {"epoch": 3}})
    path = tmp_path / "r.toml"
    path.write_text('[experiment]\nname = "x"\ndataset = "mnist"\nmethod = "baseline"\n[model]\nwidth = 3\n')
    with pytest.raises(ValueError, match="model.width"):
        load_recipe(str(path))
    path.write_text('[experiment]\nname = "x"\n')
    with pytest.raises(ValueError, match="experiment.dataset"):
        load_recipe(str(path))
    with pytest.raises(ValueError, match="No packaged recipe"):
        load_recipe("mnist_nothing")


def test_a_trigger_table_replaces_the_default_whole():
    none = load_recipe("mnist_baseline", overrides={"watermark": {"trigger": {}}})
    assert none["watermark"]["trigger"] == {}  # out-of-distribution sources, no trigger
    moved = load_recipe("mnist_baseline", overrides={"watermark": {"trigger": {"size": [4, 4]}}})
    assert moved["watermark"]["trigger"] == {"size": [4, 4]}
    with pytest.raises(ValueError, match="watermark.trigger"):
        load_recipe("mnist_baseline", overrides={"watermark": {"trigger": "none"}})
