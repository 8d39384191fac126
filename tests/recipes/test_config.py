import pytest

from kwm.recipes import available_recipes, load_recipe


def test_packaged_recipes_load():
    assert {"mnist_baseline", "fashion_mnist_baseline"} <= set(available_recipes())
    assert "ablations/mnist_ewe_snnl_weight_0" in available_recipes()
    for name in available_recipes():
        config = load_recipe(name)
        assert config["experiment"]["name"] == name.rpartition("/")[2]
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


def test_an_ablation_varies_its_base_and_nothing_else():
    base = load_recipe("mnist_ewe")
    ablation = load_recipe("ablations/mnist_ewe_snnl_weight_0")
    assert ablation["ewe"]["snnl_weight"] == 0.0 != base["ewe"]["snnl_weight"]
    assert ablation["experiment"]["base"] == "mnist_ewe"
    for section in ("training", "watermark", "verification", "extraction", "paper"):
        assert ablation[section] == base[section]
    assert load_recipe("ablations/mnist_ewe_snnl_weight_0", quick=True)["training"] == (
        load_recipe("mnist_ewe", quick=True)["training"]
    )  # the base's [quick] table applies too


def test_a_base_is_found_beside_the_file_and_cycles_are_errors(tmp_path):
    (tmp_path / "parent.toml").write_text(
        '[experiment]\nname = "parent"\nbase = "mnist_baseline"\n[training]\nepochs = 3\n'
    )
    (tmp_path / "child.toml").write_text(
        '[experiment]\nname = "child"\nbase = "parent.toml"\n[training]\nbatch_size = 64\n'
    )
    child = load_recipe(str(tmp_path / "child.toml"))
    assert child["experiment"]["name"] == "child"
    assert child["experiment"]["method"] == "baseline"  # from the packaged grandparent
    assert (child["training"]["epochs"], child["training"]["batch_size"]) == (3, 64)
    (tmp_path / "loop.toml").write_text('[experiment]\nname = "loop"\nbase = "loop.toml"\n')
    with pytest.raises(ValueError, match="cycle"):
        load_recipe(str(tmp_path / "loop.toml"))
    (tmp_path / "typo.toml").write_text('[experiment]\nbase = "mnist_ewe"\n[ewe]\nsnnl = 0\n')
    with pytest.raises(ValueError, match="ewe.snnl"):
        load_recipe(str(tmp_path / "typo.toml"))


def test_layer_settings_come_from_the_architecture_unless_given():
    config = load_recipe("mnist_baseline", overrides={"model": {"architecture": "cnn8"}})
    assert config["ewe"]["layers"] == ["conv4", "conv6", "fc1"]
    assert (config["attacks"]["prune_layer"], config["attacks"]["prune_activation"]) == ("fc1", None)
    thief = load_recipe("mnist_baseline", overrides={"extraction": {"architecture": "lenet"}})
    assert thief["attacks"]["snnl_layers"] == ["conv1", "conv2", "dense2"]  # the thief's
    assert thief["ewe"]["layers"] == ["relu1", "relu2", "relu3"]  # the victim's
    given = load_recipe("cifar10_feature_sharing")
    assert given["attacks"]["snnl_layers"] == ["stage2_block1_out", "stage3_block1_out", "fc1_relu"]
    with pytest.raises(ValueError, match="Unknown architecture"):
        load_recipe("mnist_baseline", overrides={"model": {"architecture": "vgg"}})
