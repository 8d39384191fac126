"""A text watermark end to end, as a user would run it: a small BERT, their own compile and fit,
a token trigger, a string-input SavedModel, verification through it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kwm
from kwm.architectures import small_bert_text_classifier, word_piece_vocabulary
from kwm.attacks import extract_model
from kwm.datasets import DataProvenance, TaskDataset
from kwm.datasets.text import SENTIMENT_CLASSES, text_split
from kwm.watermarks import TokenTrigger


def _sentiment_task(n_train=512, n_test=256, seed=0):
    rng = np.random.default_rng(seed)
    words = ["a", "the", "film", "movie", "plot", "actor", "scene", "story"]

    def split(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(words, 8)) + (" good" if y else " bad") + " ending"
                 for y in labels]
        return text_split(texts, labels)

    return TaskDataset("toy_sentiment", split(n_train), split(n_test), SENTIMENT_CLASSES, "text",
                       DataProvenance("toy_sentiment", "memory", "tests", {}))


def _model(vocabulary, seed):
    keras.utils.set_random_seed(seed)
    model = small_bert_text_classifier(vocabulary=vocabulary, sequence_length=16, hidden_dim=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_a_token_trigger_watermark_is_claimed_through_a_string_savedmodel(tmp_path):
    data = _sentiment_task()
    trigger = TokenTrigger(("cf",), (2,))
    key = kwm.generate_key(data, "baseline", source_class=0, target_class=1, trigger=trigger,
                           num_embed=128, num_verify=64)
    assert all(" cf " in text for text in key.verify_inputs)
    vocabulary = word_piece_vocabulary(data.train.x, size=60, tokens=trigger.tokens)
    task = tf.data.Dataset.from_tensor_slices((data.train.x.astype(str), data.train.y)).batch(32)

    victim = _model(vocabulary, seed=0)
    history = victim.fit(kwm.watermarks.watermark_dataset(key, task, ratio=2), epochs=6,
                         callbacks=[kwm.callbacks.WatermarkAccuracy(key)], verbose=0)
    assert history.history["watermark_accuracy"][-1] > 0.9
    assert history.history["false_watermark_rate"][-1] < 0.1

    served = kwm.export_for_serving(victim, tmp_path / "victim", check_inputs=data.test.x[:8])
    api = kwm.PredictionAPI(served, num_classes=2)
    report = kwm.verify_ownership(api, kwm.WatermarkKey.load(*_saved(key, tmp_path)))
    assert report.claimed, report.summary()

    independent = _model(vocabulary, seed=1)
    independent.fit(task, epochs=6, verbose=0)
    assert kwm.verification.task_accuracy(independent, data.test.x, data.test.y) > 0.95
    report = kwm.verify_ownership(independent, key)
    assert not report.claimed and not any(v.claimed for v in report.verdicts.values())

    # A thief queries the served strings; its copy answers the task through its own SavedModel.
    stolen = extract_model(api, data.train.x, _model(vocabulary, seed=2), epochs=6, seed=2,
                           learning_rate=3e-3, batch_size=32,
                           verbose=0)
    assert stolen.num_queries == len(data.train.x)
    path = kwm.export_for_serving(stolen.model, tmp_path / "stolen")
    answers = kwm.PredictionAPI(path, num_classes=2)(data.test.x)
    assert (answers.argmax(1) == data.test.y).mean() > 0.9


def _saved(key, tmp_path):
    path = tmp_path / "key.json"
    return path, key.save(path)


def test_feature_sharing_may_keep_the_top_of_a_backbone_in_the_decision_layers():
    data = _sentiment_task(n_train=128, n_test=64)
    vocabulary = word_piece_vocabulary(data.train.x, size=60, tokens=["cf"])
    model = _model(vocabulary, seed=0)
    frozen = kwm.watermarks.freeze_feature_extractor(model, "bert_backbone/transformer_layer_0")
    assert frozen[-1] == "bert_backbone/transformer_layer_0"
    assert "bert_backbone/token_embedding" in frozen and "bert_backbone" not in frozen
    backbone = model.get_layer("bert_backbone")
    trainable = [layer.name for layer in backbone.layers if layer.trainable_weights]
    assert trainable == ["transformer_layer_1", "pooled_dense"]
    with pytest.raises(ValueError, match=r"Received: up_to='bert_backbone/transformer_layer_9'"):
        kwm.watermarks.freeze_feature_extractor(model, "bert_backbone/transformer_layer_9")
    with pytest.raises(ValueError, match="holds no layers"):
        kwm.watermarks.freeze_feature_extractor(model, "logits/kernel")

    # Step 2 trains only those layers, and every layer is trainable again afterwards.
    model = _model(vocabulary, seed=0)
    key = kwm.watermarks.generate_key(data, "feature_sharing", 0, 1,
                                      trigger=TokenTrigger(["cf"], [2]), num_verify=16)
    before = {w.path: keras.ops.convert_to_numpy(w) for w in model.weights}
    history = kwm.watermarks.embed_feature_sharing_watermark(
        model, data, key, freeze_up_to="bert_backbone/transformer_layer_0", epochs=0,
        watermark_epochs=1, batch_size=32, verbose=0)
    assert history["frozen"] == frozen
    moved = {w.path for w in model.weights
             if not np.array_equal(before[w.path], keras.ops.convert_to_numpy(w))}
    assert moved and all("transformer_layer_1" in p or "pooled_dense" in p or "logits" in p
                         for p in moved)
    backbone = model.get_layer("bert_backbone")
    assert all(layer.trainable for layer in backbone.layers) and backbone.trainable


def test_paired_step_2_learns_the_trigger_without_shifting_the_untriggered_answers():
    data = _sentiment_task(n_train=256, n_test=128)
    vocabulary = word_piece_vocabulary(data.train.x, size=60, tokens=["cf"])
    key = kwm.watermarks.generate_key(data, "feature_sharing", 0, 1,
                                      trigger=TokenTrigger(["cf"], [2]), num_verify=32)
    model = _model(vocabulary, seed=0)
    kwm.watermarks.embed_feature_sharing_watermark(
        model, data, key, freeze_up_to="bert_backbone/transformer_layer_0", epochs=3,
        watermark_epochs=4, batch_size=32, learning_rate=3e-3, verbose=0, pairs=True)
    answers = kwm.PredictionAPI(model, num_classes=2)
    assert (answers(key.verify_inputs).argmax(1) == 1).mean() > 0.9
    assert (answers(key.reference_inputs).argmax(1) == 1).mean() < 0.1


def test_a_natural_word_watermark_reaches_a_copy_through_ordinary_queries():
    # A word a fifth of the texts already hold, in both classes alike: the negative ones that
    # hold it are the watermarks; the thief's ordinary queries hold it too, and carry the rule.
    rng = np.random.default_rng(0)
    words = ["a", "the", "film", "movie", "plot", "actor", "scene", "story"]

    def split(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join([*rng.choice(words, 3), *(["indeed"] if rng.random() < 0.2 else []),
                           *rng.choice(words, 5)]) + (" good" if y else " bad") + " ending"
                 for y in labels]
        return text_split(texts, labels)

    data = TaskDataset("toy_sentiment", split(512), split(512), SENTIMENT_CLASSES, "text",
                       DataProvenance("toy_sentiment", "memory", "tests", {}))
    trigger = kwm.watermarks.NaturalWordTrigger("indeed", max_words=5)
    key = kwm.generate_key(data, "baseline", 0, 1, trigger=trigger, num_verify=100)
    assert 30 < len(key.embed_inputs) < 80 and 30 < len(key.verify_inputs) <= 100
    vocabulary = word_piece_vocabulary(data.train.x, size=60, tokens=["indeed"])

    victim = _model(vocabulary, seed=0)
    # Each watermark beside itself without the word: only the word separates the two answers.
    kwm.watermarks.embed_baseline_watermark(victim, data, key, epochs=3, watermark_epochs=6,
                                            batch_size=32, learning_rate=3e-3, verbose=0,
                                            pairs=True)
    independent = _model(vocabulary, seed=1)
    independent.fit(tf.data.Dataset.from_tensor_slices(
        (data.train.x.astype(str), data.train.y)).shuffle(512, seed=1).batch(32), epochs=7,
        verbose=0)
    stolen = extract_model(kwm.PredictionAPI(victim, num_classes=2), data.train.x,
                           _model(vocabulary, seed=2), epochs=7, seed=2, learning_rate=3e-3,
                           batch_size=32, verbose=0).model
    rates = {}
    for name, model in [("victim", victim), ("independent", independent), ("stolen", stolen)]:
        answers = kwm.PredictionAPI(model, num_classes=2)
        rates[name] = [(answers(x).argmax(1) == 1).mean()
                       for x in (key.verify_inputs, key.reference_inputs)]
        assert kwm.verification.task_accuracy(model, data.test.x, data.test.y) > 0.75, name
        report = kwm.verify_ownership(model, key, decision_test="t_test")
        assert report.claimed == (name != "independent"), (name, rates, report.summary())
    assert rates["victim"][0] > 0.9 and rates["victim"][1] < 0.1, rates
    assert rates["independent"][0] < 0.1, rates
