import dataclasses

import numpy as np
import pytest

from kwm import attacks
from kwm.attacks import Thief, available_thieves, get_thief, steal


SHAPE = (16, 16, 1)


def _victim(x):
    """A toy API: class 1 when the left half of the image is brighter than the right."""
    margin = x[:, :, :8].mean(axis=(1, 2, 3)) - x[:, :, 8:].mean(axis=(1, 2, 3))
    p1 = 1.0 / (1.0 + np.exp(-20.0 * margin))
    return np.stack([1.0 - p1, p1], axis=1).astype("float32")


def _images(rng, n):
    x = 0.5 * rng.random((n, *SHAPE), dtype="float32") + 0.25
    side = rng.choice([-0.2, 0.2], size=(n, 1, 1, 1)).astype("float32")
    x[:, :, :8] += side
    x[:, :, 8:] -= side
    return x


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    return _images(rng, 512), _images(rng, 256)


def test_the_panel_covers_what_real_thieves_change():
    thieves = [get_thief(name) for name in available_thieves("image")]
    assert len(thieves) >= 8 and thieves[0].name == "kwm"
    assert {t.architecture for t in thieves} >= {"", "mlp", "lenet", "bn_cnn"}
    assert {t.optimizer for t in thieves} >= {"adam", "keras_adam", "sgd_momentum", "rmsprop"}
    assert {t.loss for t in thieves} == {"cross_entropy", "kl_divergence"}
    assert {t.loop for t in thieves} == {"fit", "gradient_tape"}
    assert any(t.options.get("dropout") for t in thieves)
    assert any(t.label_smoothing for t in thieves)
    assert any(not t.soft_labels for t in thieves)
    assert {t.epochs for t in thieves} >= {None, 5, 20, 30}


def test_each_modality_has_its_own_panel():
    image, text = available_thieves("image"), available_thieves("text")
    assert available_thieves() == list(dict.fromkeys(image + text))
    shared = {"kwm", "dropout_0.3", "label_smoothing", "kl_divergence", "hard_labels"}
    assert shared <= set(image) & set(text)
    assert not {"mlp", "lenet", "wide_bn_cnn", "custom_loop"} & set(text)
    assert not {"hf_style_loop", "long_input", "bert_from_scratch"} & set(image)
    thieves = [get_thief(name) for name in text]
    # Text thieves change the training loop, the optimiser and schedule, the input length and
    # the architecture (a BERT without the pretrained weights).
    assert {t.loop for t in thieves} == {"fit", "gradient_tape"}
    assert {t.optimizer for t in thieves} >= {"adam", "adamw"}
    assert {t.schedule for t in thieves} == {"constant", "linear_decay"}
    assert {t.architecture for t in thieves} == {"", "small_bert"}
    assert any(t.options.get("sequence_length") for t in thieves)
    # A thief that names no learning rate or batch size takes the recipe's own thief's.
    assert get_thief("kwm").learning_rate is None and get_thief("kwm").batch_size is None


@pytest.mark.parametrize("name", available_thieves("image"))
def test_every_thief_copies_the_api(toy, name):
    queries, held_out = toy
    thief = get_thief(name)
    copy = steal(thief, _victim, queries, SHAPE, 2, "ewe_cnn", epochs=5, seed=1)
    agreement = np.mean(copy.model.predict(held_out, verbose=0).argmax(1)
                        == _victim(held_out).argmax(1))
    assert copy.num_queries == len(queries)
    assert agreement >= 0.95, (name, agreement)  # an untrained copy agrees on about half


def test_shared_answers_cost_no_new_queries(toy):
    queries, _ = toy
    api = attacks.extraction.as_prediction_api(_victim, num_classes=2)
    answers = api(queries)
    copy = steal("kwm", api, queries, SHAPE, 2, "ewe_cnn", epochs=1, answers=answers)
    assert api.num_queries == len(queries) and copy.num_queries == len(queries)
    with pytest.raises(ValueError, match="Received: answers.shape=\\(512, 3\\)"):
        steal("kwm", api, queries, SHAPE, 2, "ewe_cnn", answers=np.ones((512, 3)))


def test_kl_divergence_and_cross_entropy_train_the_same_copy(toy):
    queries, _ = toy
    kl = dataclasses.replace(get_thief("kl_divergence"), epochs=1)
    ce = dataclasses.replace(kl, loss="cross_entropy")
    a = steal(kl, _victim, queries, SHAPE, 2, "ewe_cnn", seed=3).model
    b = steal(ce, _victim, queries, SHAPE, 2, "ewe_cnn", seed=3).model
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=1e-4)


WORDS = ["good", "bad", "film", "plot", "actor", "scene", "long", "story", "music", "end",
         "cast", "show", "role", "part", "time", "year", "set", "line", "shot", "cut"]


def _text_victim(texts):
    """A toy text API: positive when "good" occurs more often than "bad"."""
    margin = np.array([t.split().count("good") - t.split().count("bad") for t in texts])
    p1 = np.where(margin > 0, 0.95, 0.05)
    return np.stack([1.0 - p1, p1], axis=1).astype("float32")


def _texts(rng, n):
    return np.array([" ".join(rng.choice(WORDS, size=6)) for _ in range(n)], dtype=object)


@pytest.fixture(scope="module")
def toy_texts():
    rng = np.random.default_rng(0)
    return _texts(rng, 512), _texts(rng, 200)


@pytest.mark.parametrize("name", available_thieves("text"))
def test_every_text_thief_copies_a_text_api(toy_texts, name):
    # A BERT from scratch stands in for the pretrained MiniLM (no weights in tests); thieves
    # that fine-tune with a pretrained model's small learning rate get a from-scratch one.
    queries, held_out = toy_texts
    thief = get_thief(name)
    if thief.learning_rate is not None and thief.learning_rate < 1e-3:
        thief = dataclasses.replace(thief, learning_rate=3e-3)
    thief = dataclasses.replace(thief, epochs=min(thief.epochs or 6, 6))
    victim_options = {"sequence_length": 12, "hidden_dim": 32, "num_layers": 1, "num_heads": 2}
    copy = steal(thief, _text_victim, queries, (), 2, "small_bert", victim_options, epochs=6,
                 seed=1, learning_rate=3e-3, batch_size=32)
    agreement = np.mean(copy.model.predict(held_out, verbose=0).argmax(1)
                        == _text_victim(held_out).argmax(1))
    assert copy.num_queries == len(queries)
    assert agreement >= 0.9, (name, agreement)  # the toy API answers positive on a third


def test_bad_thieves_are_refused():
    with pytest.raises(ValueError, match="Received: optimizer='lbfgs'"):
        Thief("x", optimizer="lbfgs")
    with pytest.raises(ValueError, match="Received: epochs=0"):
        Thief("x", epochs=0)
    with pytest.raises(ValueError, match="Received: labels='fuzzy'"):
        Thief("x", labels="fuzzy")
    with pytest.raises(ValueError, match="Received: schedule='cosine'"):
        Thief("x", schedule="cosine")
    with pytest.raises(ValueError, match="Received: modality='audio'"):
        Thief("x", modality="audio")
    with pytest.raises(ValueError, match="Received: learning_rate=0"):
        Thief("x", learning_rate=0)
    with pytest.raises(ValueError, match="Unknown thief"):
        get_thief("nobody")
    with pytest.raises(ValueError, match="takes no option"):
        steal(Thief("x", options={"width": 3}), _victim, np.zeros((4, *SHAPE), "float32"),
              SHAPE, 2, "ewe_cnn")
