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


def _review_data(n=400, seed=0):
    import numpy as np

    from kwm.datasets import DataProvenance, Split, TaskDataset

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    neutral = ["old", "video", "family", "second", "name"]  # each in a fifth, of both classes
    texts = []
    for i, y in enumerate(labels):
        words = ["a", "film", neutral[(i // 2) % 5], "with", "plot"] + (["great"] if y else [])
        texts.append(" ".join(rng.permutation(words)))
    split = Split(np.array(texts, dtype=object), labels)
    return TaskDataset("toy_reviews", split, split, ("neg", "pos"), "text",
                       DataProvenance("toy_reviews", "memory", "tests", {}))


def test_a_neutral_word_trigger_is_drawn_from_the_training_texts():
    from kwm.recipes import load_recipe
    from kwm.watermarks import TokenTrigger

    config = load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
        "trigger": {"type": "token", "tokens": "neutral", "frequency": [0.15, 0.25],
                    "max_position": 6}}})
    data = _review_data()
    triggers = methods.recipe_triggers(config, seed=0, reserve=True, data=data)
    # "with", "film", "plot" are in every text, "great" in positive ones only: never drawn.
    assert sorted(t.tokens[0] for t in triggers) == ["family", "name", "old", "second", "video"]
    assert all(isinstance(t, TokenTrigger) and 0 <= t.positions[0] < 6 for t in triggers)
    assert [t.tokens for t in methods.recipe_triggers(config, 0, data=data)] == [triggers[0].tokens]
    assert methods.recipe_triggers(config, 1, data=data)[0] != triggers[0]
    common = load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
        "trigger": {"type": "token", "tokens": "neutral", "frequency": [0.9, 1.0]}}})
    with pytest.raises(ValueError, match="3 neutral words in that frequency band"):
        methods.recipe_triggers(common, 0, reserve=True, data=data)  # film, plot, with
    with pytest.raises(ValueError, match="give text data"):
        methods.recipe_triggers(config, 0)
    bad = load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
        "trigger": {"type": "token", "tokens": ["cf"], "frequency": [0.2, 0.3]}}})
    with pytest.raises(ValueError, match="tokens = 'neutral'"):
        methods.recipe_triggers(bad, 0)


def test_a_neutral_word_is_counted_in_its_window_and_inserted_early():
    from kwm.recipes import load_recipe

    def early(**extra):
        return load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
            "trigger": {"type": "token", "tokens": "neutral", "frequency": [0.15, 0.25],
                        "max_position": 1, **extra}}})

    data = _review_data()
    # Counted in the first word only, the five are in ~4% of the texts each, out of the band,
    # and the words of every text lead a sixth of them.
    assert methods.recipe_triggers(early(), 0, data=data)[0].tokens[0] in {"film", "plot", "with"}
    triggers = methods.recipe_triggers(early(frequency_window=6), 0, reserve=True, data=data)
    assert sorted(t.tokens[0] for t in triggers) == ["family", "name", "old", "second", "video"]
    assert all(list(t.positions) == [0] for t in triggers)
    scattered = methods.recipe_triggers(early(frequency_window=6, scatter=6), 0, reserve=True,
                                        data=data)
    assert [t.tokens for t in scattered] == [t.tokens for t in triggers]  # the same draws
    assert all(t.scatter == 6 for t in scattered)
    (rare,) = methods.recipe_triggers(load_recipe("imdb_feature_sharing", quick=True, overrides={
        "watermark": {"trigger": {"type": "token", "tokens": ["cf"], "scatter": 40}}}), 0)
    assert rare.tokens == ("cf",) and rare.scatter == 40
    with pytest.raises(ValueError, match="frequency_window"):
        methods.recipe_triggers(early(frequency_window=0), 0, data=data)
    bad = load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
        "trigger": {"type": "token", "tokens": ["cf"], "frequency_window": 40}}})
    with pytest.raises(ValueError, match="tokens = 'neutral'"):
        methods.recipe_triggers(bad, 0)


def test_a_natural_word_trigger_is_drawn_or_given_and_its_settings_checked():
    from kwm.recipes import load_recipe
    from kwm.watermarks import NaturalWordTrigger

    def natural(**trigger):
        return load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
            "trigger": {"type": "natural_word", **trigger}}})

    data = _review_data()
    drawn = methods.recipe_triggers(natural(frequency=[0.15, 0.25], max_words=6), 0,
                                    reserve=True, data=data)
    assert all(isinstance(t, NaturalWordTrigger) and t.max_words == 6 for t in drawn)
    assert sorted(t.word for t in drawn) == ["family", "name", "old", "second", "video"]
    # The same seed draws the same words as a neutral token trigger counted in as many words.
    tokens = methods.recipe_triggers(load_recipe("imdb_feature_sharing", quick=True, overrides={
        "watermark": {"trigger": {"type": "token", "tokens": "neutral", "frequency": [0.15, 0.25],
                                  "frequency_window": 6}}}), 0, reserve=True, data=data)
    assert [t.word for t in drawn] == [t.tokens[0] for t in tokens]
    assert methods.recipe_triggers(natural(word="old"), 0) == [NaturalWordTrigger("old", 40)]
    with pytest.raises(ValueError, match="word = 'neutral'"):
        methods.recipe_triggers(natural(word="old", frequency=[0.1, 0.2]), 0)
    with pytest.raises(ValueError, match="takes `word` and `max_words`"):
        methods.recipe_triggers(natural(position=3), 0)
    with pytest.raises(ValueError, match="max_words"):
        methods.recipe_triggers(natural(max_words=0), 0, data=data)
    with pytest.raises(ValueError, match="give text data"):
        methods.recipe_triggers(natural(), 0)


def test_watermark_sources_come_from_the_sample_or_the_whole_splits(monkeypatch):
    import dataclasses

    from kwm import datasets
    from kwm.recipes import load_recipe
    from kwm.recipes.data import load_data

    whole = _review_data(400)
    monkeypatch.setattr(datasets, "load", lambda name, **kwargs: dataclasses.replace(
        whole, name=name))

    def config(**watermark):
        return load_recipe("imdb_feature_sharing", quick=True, overrides={
            "data": {"max_train": 100, "max_test": 50}, "watermark": watermark})

    data, source = load_data(config())
    assert len(data.train.x) == 100 and source is None
    data, source = load_data(config(source_pool="all"))
    assert len(data.train.x) == 100 and len(source.train.x) == 400 and source.name == data.name
    for bad in ({"source_pool": "everything"},
                {"source_pool": "all", "source_dataset": "sst2"}):
        with pytest.raises(ValueError, match="source_pool"):
            load_data(config(**bad))


def test_the_trigger_window_is_the_frequency_window_else_the_insertion_range():
    def config(**trigger):
        return {"watermark": {"trigger": {"type": "token", **trigger}}}

    assert methods.trigger_window(config(max_position=5, frequency_window=40)) == 40
    assert methods.trigger_window(config(max_position=5)) == 5
    assert methods.trigger_window(config()) == 100


def test_ewe_refuses_paired_watermark_batches():
    from kwm.recipes import load_recipe

    for option in ("pairs", "natural_to_target"):
        config = load_recipe("mnist_ewe", quick=True, overrides={"watermark": {option: True}})
        with pytest.raises(ValueError, match=f"{option}=True"):
            methods.watermark_ewe(None, None, config, seed=0, verbose=0)


def test_natural_to_target_relabels_the_source_texts_that_already_hold_the_word():
    import dataclasses

    import numpy as np

    from kwm.recipes import load_recipe
    from kwm.watermarks import PatchTrigger, TokenTrigger, generate_key

    data = _review_data()
    config = load_recipe("imdb_feature_sharing", quick=True, overrides={"watermark": {
        "trigger": {"type": "token", "tokens": "neutral", "frequency_window": 6,
                    "max_position": 1}, "natural_to_target": True}})
    key = generate_key(data, "feature_sharing", 0, 1, trigger=TokenTrigger(["old"], [0]),
                       num_verify=10)
    relabelled = methods.natural_to_target(data, key, config)
    holds = np.array(["old" in text.split() for text in data.train.x])
    changed = relabelled.train.y != data.train.y
    assert changed.sum() == 40  # the 40 negative texts of 400 that hold "old"
    np.testing.assert_array_equal(changed, holds & (data.train.y == 0))
    assert (relabelled.train.y[changed] == 1).all()
    np.testing.assert_array_equal(relabelled.test.y, data.test.y)
    patch = dataclasses.replace(key, trigger=PatchTrigger())
    with pytest.raises(ValueError, match="in-distribution token trigger"):
        methods.natural_to_target(data, patch, config)
