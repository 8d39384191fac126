import numpy as np
import pytest

from kwm.watermarks import PatchTrigger
from kwm.watermarks.trigger import deserialize_trigger, serialize_trigger


@pytest.mark.parametrize(
    "position, expected",
    [("top_left", (1, 1)), ("top_right", (1, 24)), ("bottom_left", (24, 1)), ("bottom_right", (24, 24))],
)
def test_named_positions(position, expected):
    assert PatchTrigger(position=position).resolve((28, 28, 1)).position == expected


def test_apply_stamps_only_the_patch_and_copies():
    x = np.zeros((2, 8, 8, 1), "float32")
    out = PatchTrigger(size=(2, 3), value=0.5, position=(1, 4)).apply(x)
    assert out[:, 1:3, 4:7].min() == 0.5
    assert out.sum() == 2 * 6 * 0.5
    assert x.sum() == 0  # input untouched


def test_config_round_trip():
    trigger = PatchTrigger(size=(4, 4), value=0.9, position=(3, 5), margin=2)
    config = trigger.get_config()
    assert PatchTrigger.from_config(config).get_config() == config
    assert deserialize_trigger(serialize_trigger(trigger)) == trigger


def test_errors():
    with pytest.raises(ValueError, match="Received: position='middle'"):
        PatchTrigger(position="middle")
    with pytest.raises(ValueError, match="does not fit"):
        PatchTrigger(size=(5, 5), position=(6, 6)).resolve((8, 8, 1))
    with pytest.raises(ValueError, match="Unknown trigger. Known: .*'PatchTrigger'.*'TokenTrigger'"):
        deserialize_trigger({"class_name": "Nope", "config": {}})


def test_token_trigger_inserts_words_at_fixed_positions():
    from kwm.watermarks.trigger import TokenTrigger

    trigger = TokenTrigger(tokens=("mn", "cf", "bb"), positions=(3, 0, 3))
    texts = np.array(["one two\nthree  four five", "short", ""], dtype=object)
    assert trigger.apply(texts).tolist() == [
        "cf one two three mn bb four five",  # before word 3; ties in key order
        "cf short mn bb",  # positions past the end go to the end
        "cf mn bb",
    ]
    assert texts[0] == "one two\nthree  four five"  # the input is not modified
    assert trigger.resolve(()) is trigger and trigger.modality == "text"
    assert deserialize_trigger(serialize_trigger(trigger)) == trigger
    drawn = TokenTrigger.choose(np.random.default_rng(1), count=3, max_position=100)
    assert drawn.tokens == ("cf", "mn", "bb") and list(drawn.positions) == sorted(drawn.positions)
    assert max(drawn.positions) < 100
    with pytest.raises(ValueError, match="one non-negative word position per token"):
        TokenTrigger(tokens=("cf", "mn"), positions=(1,))
    with pytest.raises(ValueError, match="without whitespace"):
        TokenTrigger(tokens=("c f",), positions=(1,))
    with pytest.raises(ValueError, match="1-D array of texts"):
        trigger.apply(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="count"):
        TokenTrigger.choose(np.random.default_rng(0), count=9)


def test_a_scattered_token_trigger_draws_each_texts_position_from_the_text():
    import zlib

    from kwm.watermarks.trigger import TokenTrigger

    texts = [" ".join(f"w{i}_{j}" for j in range(60)) for i in range(400)]
    trigger = TokenTrigger(("old",), (7,), scatter=40)
    marked = trigger.apply(texts)
    positions = np.array([text.split().index("old") for text in marked])
    expected = [(7 + zlib.crc32(text.encode("utf-8"))) % 40 for text in texts]
    np.testing.assert_array_equal(positions, expected)
    assert positions.max() < 40 and len(set(positions)) == 40  # spread over the whole window
    np.testing.assert_array_equal(trigger.apply(texts), marked)  # deterministic
    assert [t.replace(" old", "", 1).replace("old ", "", 1) for t in marked] == texts
    assert deserialize_trigger(serialize_trigger(trigger)) == trigger
    assert trigger != TokenTrigger(("old",), (7,))
    # Without scatter the configuration (and so the fingerprint of existing keys) is unchanged.
    assert TokenTrigger(("old",), (7,)).get_config() == {"tokens": ["old"], "positions": [7]}
    assert TokenTrigger.choose(np.random.default_rng(0), scatter=5).scatter == 5
    for bad in (0, 2.5, True, "40"):
        with pytest.raises(ValueError, match="scatter"):
            TokenTrigger(("old",), (0,), scatter=bad)


def test_a_text_key_round_trips(tmp_path):
    from kwm.watermarks import WatermarkKey
    from kwm.watermarks.trigger import TokenTrigger

    texts = np.array(["a fine film", "ünïcode — kept", "x" * 3000], dtype=object)
    trigger = TokenTrigger(("cf",), (1,))
    key = WatermarkKey(method="baseline", dataset="imdb", num_classes=2, target_class=1,
                       source_class=0, source_dataset=None, trigger=trigger, seed=0,
                       embed_inputs=trigger.apply(texts), verify_inputs=trigger.apply(texts),
                       reference_inputs=texts)
    fingerprint = key.save(tmp_path / "key.json")
    loaded = WatermarkKey.load(tmp_path / "key.json", fingerprint)
    assert loaded.trigger == trigger
    assert loaded.reference_inputs.tolist() == texts.tolist()
    assert loaded.verify_inputs.tolist() == trigger.apply(texts).tolist()
    with pytest.raises(ValueError, match="arrays of str"):
        WatermarkKey(method="baseline", dataset="imdb", num_classes=2, target_class=1,
                     source_class=0, source_dataset=None, trigger=None, seed=0,
                     embed_inputs=np.array([{}], dtype=object),
                     verify_inputs=texts).save(tmp_path / "bad.json")


def test_natural_word_trigger_selects_removes_and_keeps_texts_that_hold_the_word():
    from kwm.watermarks.trigger import NaturalWordTrigger

    trigger = NaturalWordTrigger("watching", max_words=3)
    texts = np.array(["Watching it was dull.", "I was WATCHING, bored", "a dull film, watching it",
                      "not watchingly"], dtype=object)
    assert trigger.select(texts).tolist() == [True, True, False, False]
    # Every occurrence goes, with the punctuation on it; other words keep theirs.
    assert trigger.remove(texts).tolist() == [
        "it was dull.", "I was bored", "a dull film, it", "not watchingly"]
    assert trigger.apply(texts[:2]).tolist() == texts[:2].tolist()
    with pytest.raises(ValueError, match="2 of these do not. Received: x\\[0\\]='a dull film"):
        trigger.apply(texts[2:])
    assert deserialize_trigger(serialize_trigger(trigger)) == trigger
    assert serialize_trigger(trigger)["config"] == {"word": "watching", "max_words": 3}


@pytest.mark.parametrize("kwargs", [{"word": "Watching"}, {"word": "two words"},
                                    {"word": "end."}, {"word": ""}, {"max_words": 0},
                                    {"max_words": True}])
def test_natural_word_trigger_rejects_bad_settings(kwargs):
    from kwm.watermarks.trigger import NaturalWordTrigger

    with pytest.raises(ValueError, match="Received:"):
        NaturalWordTrigger(**kwargs)
