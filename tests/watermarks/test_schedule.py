import numpy as np
import pytest

from kwm.watermarks import watermark_schedule


def _arrays():
    task_x = np.zeros((40, 3), "float32")
    task_y = np.arange(40) % 4
    marks = np.full((7, 3), 5.0, "float32")
    targets = np.full((10, 3), 2.0, "float32")
    return task_x, task_y, marks, targets


@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_every_ratio_plus_one_th_batch_is_a_watermark_batch(ratio):
    task_x, task_y, marks, targets = _arrays()
    dataset, steps = watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, ratio=ratio)
    task_batches = 40 // 8
    assert steps == task_batches + -(-task_batches // ratio)
    for i, (x, y) in enumerate(dataset.take(3 * (ratio + 1))):
        x, y = x.numpy(), y.numpy()
        if (i + 1) % (ratio + 1) == 0:
            assert (y == 3).all()
            assert (x[:4] == 5.0).all() and (x[4:] == 2.0).all()  # half watermarks, half target
        else:
            assert (x == 0).all()


def test_groups_for_the_snnl():
    task_x, task_y, marks, targets = _arrays()
    dataset, _ = watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, with_groups=True)
    (x1, g1), _ = next(iter(dataset.take(1)))
    (x2, g2), y2 = list(dataset.take(2))[1]
    assert (g1.numpy() == -1).all()
    assert g2.numpy().tolist() == [1] * 4 + [0] * 4


def test_errors():
    task_x, task_y, marks, targets = _arrays()
    with pytest.raises(ValueError, match="ratio"):
        watermark_schedule(task_x, task_y, marks, targets, 3, ratio=0)
    with pytest.raises(ValueError, match="at least one batch"):
        watermark_schedule(task_x[:4], task_y[:4], marks, targets, 3, batch_size=8)
    with pytest.raises(ValueError, match="0 watermarks"):
        watermark_schedule(task_x, task_y, marks[:0], targets, 3, batch_size=8)


def test_paired_watermark_batches_hold_each_watermark_beside_its_trigger_free_input():
    task_x, task_y, _, targets = _arrays()
    clean = np.arange(7, dtype="float32")[:, None] * np.ones((1, 3), "float32")
    marks = clean + 100.0  # watermark i is clean input i with a "trigger"
    dataset, _ = watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8,
                                    paired_x=clean, source_class=1)
    for x, y in list(dataset.take(8))[1::2]:
        x, y = x.numpy(), y.numpy()
        assert y.tolist() == [3] * 4 + [1] * 4
        np.testing.assert_array_equal(x[:4] - 100.0, x[4:])  # the same inputs, row for row
    with pytest.raises(ValueError, match="one trigger-free input per watermark"):
        watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8,
                           paired_x=clean[:5], source_class=1)
    with pytest.raises(ValueError, match="source_class=None"):
        watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, paired_x=clean)
    with pytest.raises(ValueError, match="with_groups=True"):
        watermark_schedule(task_x, task_y, marks, targets, 3, batch_size=8, paired_x=clean,
                           source_class=1, with_groups=True)


def test_paired_inputs_are_the_training_inputs_the_watermarks_were_made_from():
    import dataclasses

    import kwm
    from kwm.watermarks import paired_inputs

    data = kwm.datasets.subsample(kwm.datasets.load("mnist", sources=("embedded",)), 200, 100)
    trigger = kwm.watermarks.PatchTrigger()
    key = kwm.watermarks.generate_key(data, "baseline", 7, 1, trigger=trigger, num_embed=6,
                                      num_verify=10)
    paired = paired_inputs(key, data)
    np.testing.assert_array_equal(trigger.apply(paired), key.embed_inputs)
    assert (data.train.y[key.provenance["embed_indices"]] == 7).all()
    other = dataclasses.replace(data, name="fashion_mnist")
    with pytest.raises(ValueError, match="in-distribution key made from this task"):
        paired_inputs(key, other)


def test_paired_inputs_refuse_indices_that_do_not_give_the_watermarks():
    import dataclasses

    import kwm
    from kwm.watermarks import paired_inputs

    data = kwm.datasets.subsample(kwm.datasets.load("mnist", sources=("embedded",)), 200, 100)
    key = kwm.watermarks.generate_key(data, "baseline", 7, 1,
                                      trigger=kwm.watermarks.PatchTrigger(), num_embed=6,
                                      num_verify=10)
    # A key drawn from more of the task's data than the one it is paired against.
    shuffled = dataclasses.replace(data, train=dataclasses.replace(
        data.train, x=data.train.x[::-1].copy()))
    with pytest.raises(ValueError, match="do not match its watermarks"):
        paired_inputs(key, shuffled)
    shorter = dataclasses.replace(data, train=dataclasses.replace(
        data.train, x=data.train.x[:5], y=data.train.y[:5]))
    with pytest.raises(ValueError, match="outside this data's training split"):
        paired_inputs(key, shorter)


def test_natural_word_keys_pair_each_text_with_itself_without_the_word(tmp_path):
    from kwm.datasets import DataProvenance, TaskDataset
    from kwm.datasets.text import SENTIMENT_CLASSES, text_split
    from kwm.watermarks import NaturalWordTrigger, WatermarkKey, generate_key, paired_inputs

    def split(n):
        labels = np.arange(n) % 2
        texts = [f"review {i} " + ("we kept watching, " if i % 3 == 0 else "") + ("good" if y
                 else "bad") for i, y in enumerate(labels)]
        return text_split(texts, labels)

    whole = TaskDataset("toy", split(60), split(30), SENTIMENT_CLASSES, "text",
                        DataProvenance("toy", "memory", "tests", {}))
    sample = TaskDataset("toy", split(12), split(6), SENTIMENT_CLASSES, "text",
                         DataProvenance("toy", "memory", "tests", {}))
    trigger = NaturalWordTrigger("watching", max_words=5)
    key = generate_key(sample, "feature_sharing", 0, 1, trigger=trigger, source_data=whole,
                       num_verify=200)
    # Negative texts holding the word: every 6th of 60 train, of 30 test; all are used.
    assert len(key.embed_inputs) == 10 and len(key.verify_inputs) == 5
    assert key.provenance["natural_sources"] == {"train": 10, "test": 5}
    assert all("watching" in t and t.endswith("bad") for t in key.embed_inputs)
    assert key.reference_inputs.tolist() == [t.replace(" watching,", "")
                                             for t in key.verify_inputs]
    paired = paired_inputs(key, sample)
    assert paired.tolist() == [t.replace(" watching,", "") for t in key.embed_inputs]
    # The key replays: the word and its window come back from the file, under its fingerprint.
    path = tmp_path / "key.json"
    loaded = WatermarkKey.load(path, expected_fingerprint=key.save(path))
    assert loaded.trigger == trigger and loaded.provenance["natural_sources"]["train"] == 10
    np.testing.assert_array_equal(loaded.reference_inputs, key.reference_inputs)
    with pytest.raises(ValueError, match="hold 'nowhere'"):
        generate_key(sample, "feature_sharing", 0, 1, trigger=NaturalWordTrigger("nowhere"))


def test_natural_word_keys_can_verify_on_held_out_training_texts():
    from kwm.datasets import DataProvenance, TaskDataset
    from kwm.datasets.text import SENTIMENT_CLASSES, text_split
    from kwm.watermarks import NaturalWordTrigger, TokenTrigger, generate_key

    # SST-2's shape: sentences and the phrases nested in them, in one training split.
    sentences = [f"scene {i} and the characters were dull" for i in range(6)]
    phrases = [f"the characters were dull {i}" for i in range(3)]  # held by no sentence
    train_texts = sentences + [s.split(" and ")[1] for s in sentences] + phrases + [
        "a fine film", "a bright film", "scene 0 and the", "the characters were"]
    train_labels = [0] * 15 + [1, 1, 0, 0]
    whole = TaskDataset("toy", text_split(train_texts, train_labels),
                        text_split(["dull", "fine"], [0, 1]), SENTIMENT_CLASSES, "text",
                        DataProvenance("toy", "memory", "tests", {}))
    # The models' sample holds the first sentence's beginning: that sentence is not held out.
    sample = TaskDataset("toy", text_split(["scene 0 and the", "a fine film"], [0, 1]),
                         text_split(["dull", "fine"], [0, 1]), SENTIMENT_CLASSES, "text",
                         DataProvenance("toy", "memory", "tests", {}))
    trigger = NaturalWordTrigger("characters", max_words=40)
    key = generate_key(sample, "feature_sharing", 0, 1, trigger=trigger, source_data=whole,
                       num_verify=3, seed=1, verify_split="train")
    assert key.provenance["verify_split"] == "train"
    # Qualifying: 6 sentences, their 6 identical tails (one text), 3 phrases, "the characters
    # were" (held by the others). Longest and held out: sentences 1-5 and the 3 phrases.
    assert key.provenance["natural_sources"] == {"train": 16, "verify_eligible": 8}
    verify = set(key.verify_inputs.tolist())
    assert len(verify) == 3 and verify <= set(sentences[1:] + phrases)
    # No watermark is, holds or is held by a verification text.
    assert not any(w in v or v in w for w in key.embed_inputs for v in verify)
    assert "scene 0 and the characters were dull" in key.embed_inputs.tolist()
    assert key.reference_inputs.tolist() == [v.replace(" characters", "")
                                             for v in key.verify_inputs]
    with pytest.raises(ValueError, match="for natural-word keys"):
        generate_key(sample, "baseline", 0, 1, trigger=TokenTrigger(["cf"], positions=[0]),
                     source_data=whole,
                     verify_split="train")
    with pytest.raises(ValueError, match="Received: verify_split='dev'"):
        generate_key(sample, "feature_sharing", 0, 1, trigger=trigger, source_data=whole,
                     verify_split="dev")
