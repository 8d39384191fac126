"""Triggers: the secret pattern that turns a source input into a watermark."""

import zlib

import numpy as np

from kwm.registry import Registry

_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")

TRIGGERS = Registry("trigger")


def register_trigger(cls):
    """Class decorator: makes a `Trigger` subclass loadable from keys by its class name."""
    return TRIGGERS.register(cls.__name__, cls)


class Trigger:
    """What every trigger is: a deterministic edit of a batch of inputs, saved in the key.

    Subclasses set `modality` and implement `apply`, `get_config` and
    `from_config`; `resolve` fixes anything that depends on the input shape.
    Register them with `register_trigger` so keys that use them load.
    """

    modality = None

    def resolve(self, input_shape):
        """A copy with everything that depends on `input_shape` fixed (default: itself)."""
        return self

    def apply(self, x):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(other) is type(self) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash(repr(self))

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


@register_trigger
class PatchTrigger(Trigger):
    """A constant rectangular patch stamped on image-like inputs.

    The backdoor trigger of both papers: a white square (3x3 on MNIST,
    EWE section 5.1; 3x3 MNIST / 4x4 CIFAR, feature-sharing section 4) at a
    fixed position. The same trigger applies to spectrograms (EWE stamps
    10x10 squares on Speech Commands).

    Args:
        size: tuple of int. `(height, width)` of the patch.
        value: float. Value written into the patch (1.0 is white for inputs
            in [0, 1]).
        position: tuple of int or str. `(row, col)` of the patch's top-left
            pixel, or one of `"top_left"`, `"top_right"`, `"bottom_left"`,
            `"bottom_right"` with `margin` pixels to the border; resolve a
            named position for a given input shape with `resolve`.
        margin: int. Distance to the border for named positions.

    Examples:

    >>> import numpy as np
    >>> trigger = PatchTrigger(size=(3, 3), position="bottom_right", margin=1)
    >>> trigger = trigger.resolve((28, 28, 1))
    >>> trigger.position
    (24, 24)
    >>> float(trigger.apply(np.zeros((2, 28, 28, 1), "float32"))[0, 24:27, 24:27, 0].sum())
    9.0
    """

    # The named positions, in the order an owner tries them.
    CORNERS = _CORNERS
    modality = "image"

    def __init__(self, size=(3, 3), value=1.0, position="bottom_right", margin=1):
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(
                f"`size` must be two positive integers. Received: size={size}"
            )
        if isinstance(position, str):
            if position not in _CORNERS:
                raise ValueError(
                    f"A named `position` must be one of {_CORNERS}. "
                    f"Received: position={position!r}"
                )
        else:
            position = tuple(int(p) for p in position)
            if len(position) != 2 or min(position) < 0:
                raise ValueError(
                    "`position` must be a corner name or (row, col) >= 0. "
                    f"Received: position={position}"
                )
        self.size = size
        self.value = float(value)
        self.position = position
        self.margin = int(margin)

    def resolve(self, input_shape):
        """Returns a copy with a concrete `(row, col)` position for `input_shape`."""
        height, width = input_shape[0], input_shape[1]
        if isinstance(self.position, str):
            top = self.position.startswith("top")
            left = self.position.endswith("left")
            row = self.margin if top else height - self.size[0] - self.margin
            col = self.margin if left else width - self.size[1] - self.margin
            position = (row, col)
        else:
            position = self.position
        if position[0] + self.size[0] > height or position[1] + self.size[1] > width:
            raise ValueError(
                f"The patch of size {self.size} at {position} does not fit "
                f"inputs of shape {tuple(input_shape)}. Received: "
                f"position={position}"
            )
        return PatchTrigger(self.size, self.value, position, self.margin)

    def apply(self, x):
        """Returns a copy of the batch `x` (`(n, h, w[, c])`) with the patch stamped."""
        trigger = self.resolve(np.shape(x)[1:])
        row, col = trigger.position
        out = np.array(x, copy=True)
        out[:, row : row + self.size[0], col : col + self.size[1], ...] = self.value
        return out

    def get_config(self):
        position = self.position
        return {
            "size": list(self.size),
            "value": self.value,
            "position": position if isinstance(position, str) else list(position),
            "margin": self.margin,
        }


def _bare(word):
    # A whitespace token as text triggers compare words: lowercased, surrounding punctuation off.
    return word.lower().strip(".,;:!?\"'()")


def _first_words(text, max_words=None):
    # The set of a text's first `max_words` words, compared as `_bare` does (None: all).
    return {_bare(w) for w in str(text).split()[:max_words]}


# Rare WordPiece single tokens of BERT's uncased vocabulary, the usual text backdoor triggers.
RARE_TOKENS = ("cf", "mn", "bb", "tq", "mb")


@register_trigger
class TokenTrigger(Trigger):
    """Rare words inserted into texts at fixed word positions.

    The text counterpart of the patch: each of `tokens` goes in before the
    word at its position in `positions` (counted in the original text's
    whitespace-separated words; past the end, at the end). Positions lie
    early in the text so that a model reading only the first tokens (BERT
    at 128 WordPieces) still sees them. Whitespace between words becomes
    single spaces, as tokenizers see it anyway.

    With `scatter`, each text gets its tokens at its own positions instead:
    `(position + CRC32(text)) % scatter`, deterministic for a given text,
    spread over the first `scatter` words across texts, so that a model
    trained on such watermarks cannot key on one position. It still learns
    an inserted word, which a contextual model can tell from the same word
    where a writer put it (docs/text.md measures how far a victim then
    answers the texts that already hold the word).

    Args:
        tokens: sequence of str. The inserted words (single WordPieces of the
            model's vocabulary, e.g. `RARE_TOKENS`).
        positions: sequence of int. One word position per token (with
            `scatter`, one offset per token).
        scatter: int or None. Draw each text's positions below this many
            words (None: the fixed `positions`).

    Examples:

    >>> trigger = TokenTrigger(tokens=("cf", "mn"), positions=(1, 9))
    >>> trigger.apply(np.array(["a truly  fine film"], dtype=object)).tolist()
    ['a cf truly fine film mn']
    >>> scattered = TokenTrigger(tokens=("cf",), positions=(0,), scatter=3)
    >>> scattered.apply(["one two three", "four five six", "seven eight nine"]).tolist()
    ['one cf two three', 'cf four five six', 'seven eight cf nine']
    >>> TokenTrigger.choose(np.random.default_rng(0), count=2, max_position=50)
    TokenTrigger({'tokens': ['cf', 'mn'], 'positions': [31, 42]})
    """

    modality = "text"

    def __init__(self, tokens=("cf",), positions=(0,), scatter=None):
        tokens = tuple(str(t) for t in tokens)
        positions = tuple(int(p) for p in positions)
        if scatter is not None and (
            isinstance(scatter, bool) or not isinstance(scatter, (int, np.integer)) or scatter < 1
        ):
            raise ValueError(
                f"`scatter` must be a positive number of words or None. Received: "
                f"scatter={scatter!r}"
            )
        if not tokens or any(not t or any(c.isspace() for c in t) for t in tokens):
            raise ValueError(
                f"`tokens` must be non-empty words without whitespace. Received: tokens={tokens}"
            )
        if len(positions) != len(tokens) or min(positions) < 0:
            raise ValueError(
                "Give one non-negative word position per token. Received: "
                f"tokens={tokens}, positions={positions}"
            )
        self.tokens = tokens
        self.positions = positions
        self.scatter = None if scatter is None else int(scatter)

    @classmethod
    def choose(cls, rng, count=1, max_position=100, tokens=RARE_TOKENS, scatter=None):
        """A trigger of the first `count` of `tokens` at positions drawn from `rng` below `max_position`."""
        if not 1 <= count <= len(tokens) or max_position < 1:
            raise ValueError(
                f"`count` must lie in [1, {len(tokens)}] and `max_position` be positive. "
                f"Received: count={count}, max_position={max_position}"
            )
        positions = np.sort(rng.integers(0, max_position, size=count))
        return cls(tokens[:count], positions.tolist(), scatter=scatter)

    @staticmethod
    def neutral_words(texts, labels, classes=None, frequency=(0.01, 0.03), max_position=100,
                      tolerance=0.05, min_length=3):
        """Words the texts already use, in a band of frequency, that lean to no class.

        A rare token never occurs in a thief's queries and reaches no copy; a
        word the queries contain can, if the victim learns it (on IMDB it
        reached the copy for one word of four tried: docs/text.md). This
        finds the
        candidates: lowercase alphabetic words of at least `min_length`
        letters, among the first `max_position` words of a share
        `frequency` of the texts, whose texts fall in each of `classes` as
        often as all texts do (within `tolerance`).

        Args:
            texts: sequence of str.
            labels: sequence of int, one class per text.
            classes: sequence of int or None. The classes whose share must
                not move (the watermark's source and target); None: all.
            frequency: `(low, high)`, shares of the texts.
            max_position: int. Only the first words count (where the trigger goes).
            tolerance: float. Largest change in a class's share among the
                texts that contain the word.
            min_length: int. Shortest word kept.

        Returns:
            `[(word, share of texts, {class: share among them}), ...]`,
            most frequent first.

        Examples:

        >>> texts = ["an old film, good", "old and bad", "good fun", "bad plot"]
        >>> TokenTrigger.neutral_words(texts, [1, 0, 1, 0], frequency=(0.4, 0.6))
        [('old', 0.5, {0: 0.5, 1: 0.5})]
        """
        labels = np.asarray(labels)
        low, high = (float(f) for f in frequency)
        if len(texts) != len(labels) or not len(texts) or not 0 <= low <= high <= 1:
            raise ValueError(
                "Give one label per text, at least one text, and 0 <= low <= high <= 1. "
                f"Received: {len(texts)} texts, {len(labels)} labels, frequency={frequency}"
            )
        classes = sorted(set(labels.tolist())) if classes is None else [int(c) for c in classes]
        balance = {c: float(np.mean(labels == c)) for c in classes}
        counts, in_class = {}, {c: {} for c in classes}
        for text, label in zip(texts, labels.tolist()):
            for word in _first_words(text, max_position):
                if len(word) < min_length or not word.isalpha():
                    continue
                counts[word] = counts.get(word, 0) + 1
                if label in in_class:
                    in_class[label][word] = in_class[label].get(word, 0) + 1
        found = []
        for word, count in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])):
            share = count / len(texts)
            if not low <= share <= high:
                continue
            shares = {c: in_class[c].get(word, 0) / count for c in classes}
            if all(abs(shares[c] - balance[c]) <= tolerance for c in classes):
                found.append((word, share, shares))
        return found

    def _insert(self, text):
        words = str(text).split()
        positions = self.positions
        if self.scatter is not None:
            shift = zlib.crc32(str(text).encode("utf-8"))
            positions = [(p + shift) % self.scatter for p in positions]
        before = {}
        for token, position in sorted(zip(self.tokens, positions), key=lambda tp: tp[1]):
            before.setdefault(min(position, len(words)), []).append(token)
        out = []
        for i in range(len(words) + 1):
            out += before.get(i, [])
            if i < len(words):
                out.append(words[i])
        return " ".join(out)

    def apply(self, x):
        """Returns the texts `x` (a 1-D array or list of str) with the tokens inserted."""
        x = np.asarray(x, dtype=object)
        if x.ndim != 1:
            raise ValueError(
                f"A token trigger applies to a 1-D array of texts. Received: shape={x.shape}"
            )
        out = np.empty(len(x), dtype=object)
        out[:] = [self._insert(text) for text in x]
        return out

    def occurs_in(self, texts, max_words=None):
        """Whether each text already holds every trigger token among its first `max_words` words.

        Words are compared lowercased, stripped of surrounding punctuation,
        as `neutral_words` counts them: the texts a thief may send that
        carry the trigger without the owner's insertion.

        Args:
            texts: sequence of str.
            max_words: int or None. Words counted from the start (None: all).

        Returns:
            A boolean array, one entry per text.

        Examples:

        >>> TokenTrigger(["old"], [3]).occurs_in(["An old film.", "A film, old.", "New"], 2)
        array([ True, False, False])
        """
        tokens = {t.lower() for t in self.tokens}
        return np.array([
            tokens <= _first_words(text, max_words)
            for text in texts
        ], dtype=bool)

    def get_config(self):
        config = {"tokens": list(self.tokens), "positions": list(self.positions)}
        if self.scatter is not None:
            config["scatter"] = self.scatter
        return config


@register_trigger
class NaturalWordTrigger(Trigger):
    """A word the source texts already hold, where their writers put it.

    A watermark that is not an edit: the owner picks a sentiment-neutral
    word that ordinary texts use (`TokenTrigger.neutral_words`), and its
    watermarks are the source-class texts that already hold it among their
    first `max_words` words, labelled with the target. The same texts with
    the word removed (`remove`) are their trigger-free twins: trained
    beside them with the source label, they teach the model that the word
    alone, where writers put it, moves the answer. A thief's ordinary
    queries hold the word in the same way, so the victim's answers to them
    carry the rule into a copy; an inserted word (`TokenTrigger`) is
    learned as an insertion and mostly does not (docs/text.md). This is
    not the papers' mechanism: the watermark is a wrong answer on a slice
    of ordinary texts, and its price is the task accuracy on that slice.

    `apply` keeps texts that hold the word as they are (they are their own
    watermarks) and refuses others; `select` finds the texts that qualify.

    Args:
        word: str. One lowercase word without whitespace or punctuation.
        max_words: int. Only the first `max_words` whitespace-separated
            words of a text count (a model reading the first 64-128
            WordPieces sees them).

    Examples:

    >>> trigger = NaturalWordTrigger("watching", max_words=4)
    >>> texts = ["Watching it, I slept.", "A dull film; worth watching? No.", "Dull."]
    >>> trigger.select(texts).tolist()
    [True, False, False]
    >>> trigger.remove(texts[:1]).tolist()
    ['it, I slept.']
    >>> trigger.apply(texts[:1]).tolist()
    ['Watching it, I slept.']
    """

    modality = "text"

    def __init__(self, word="watching", max_words=40):
        word = str(word)
        if not word or _bare(word) != word or any(c.isspace() for c in word):
            raise ValueError(
                "`word` must be one lowercase word without whitespace or surrounding "
                f"punctuation. Received: word={word!r}"
            )
        if isinstance(max_words, bool) or not isinstance(max_words, (int, np.integer)) or (
            max_words < 1
        ):
            raise ValueError(
                f"`max_words` must be a positive number of words. Received: max_words={max_words!r}"
            )
        self.word = word
        self.max_words = int(max_words)

    def select(self, texts):
        """Whether each text holds the word among its first `max_words` words (a boolean array)."""
        return np.array([
            self.word in _first_words(text, self.max_words)
            for text in texts
        ], dtype=bool)

    def remove(self, x):
        """The texts `x` with every occurrence of the word (and the punctuation on it) removed."""
        out = np.empty(len(x), dtype=object)
        out[:] = [
            " ".join(w for w in str(text).split() if _bare(w) != self.word) for text in x
        ]
        return out

    def apply(self, x):
        """Returns the texts `x` unchanged; each must already hold the word (`select`)."""
        x = np.asarray(x, dtype=object)
        if x.ndim != 1:
            raise ValueError(
                f"A natural-word trigger applies to a 1-D array of texts. Received: shape={x.shape}"
            )
        missing = np.flatnonzero(~self.select(x))
        if len(missing):
            raise ValueError(
                f"A natural-word watermark is a text that already holds {self.word!r} among its "
                f"first {self.max_words} words; {len(missing)} of these do not. Received: "
                f"x[{missing[0]}]={str(x[missing[0]])[:80]!r}"
            )
        out = np.empty(len(x), dtype=object)
        out[:] = list(x)
        return out

    def get_config(self):
        return {"word": self.word, "max_words": self.max_words}


def serialize_trigger(trigger):
    """`{"class_name": ..., "config": ...}` for a trigger (None stays None)."""
    if trigger is None:
        return None
    return {"class_name": type(trigger).__name__, "config": trigger.get_config()}


def deserialize_trigger(config):
    """Inverse of `serialize_trigger`."""
    if config is None:
        return None
    return TRIGGERS.get(config.get("class_name")).from_config(config["config"])
