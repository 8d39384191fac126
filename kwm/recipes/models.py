"""The models of a recipe: the victim's architecture, the thief's, and plain task models."""

import keras

from kwm import architectures, training


def total_epochs(config):
    """Epochs a victim trains in all (clean + watermark)."""
    train = config["training"]
    return train["epochs"] + train["watermark_epochs"]


def plain_epochs(config):
    """Epochs of a plain task model (the independent models, the owner's reference models):
    `training.plain_epochs`, or as long as the victim (`total_epochs`) when it is 0."""
    return config["training"].get("plain_epochs") or total_epochs(config)


_VOCABULARIES = {}


def text_vocabulary(data, size):
    """The WordPiece vocabulary of `data`'s training texts (computed once per dataset and size),
    with the rare words token triggers use as single entries."""
    from kwm.watermarks import RARE_TOKENS

    key = (data.name, data.provenance.location, len(data.train), int(size))
    if key not in _VOCABULARIES:
        _VOCABULARIES[key] = architectures.word_piece_vocabulary(
            data.train.x, size=size, tokens=RARE_TOKENS
        )
    return _VOCABULARIES[key]


def build_model(config, data, seed):
    """A fresh, seeded model of the recipe's `[model]` table for the task of `data`.

    A BERT trained from scratch (`small_bert`) gets the WordPiece vocabulary
    of the task's training texts (`options.vocabulary_size` entries).
    """
    keras.utils.set_random_seed(seed)
    model_config = config["model"]
    options = dict(model_config["options"])
    if model_config["architecture"] == "small_bert" and "vocabulary" not in options:
        options["vocabulary"] = text_vocabulary(data, options.pop("vocabulary_size", 4000))
    return architectures.build(
        model_config["architecture"],
        data.input_shape,
        data.num_classes,
        dropout=model_config["dropout"],
        **options,
    )


def thief_model(config, data, seed):
    """A fresh model for the thief: the victim's architecture, or `extraction.architecture`."""
    architecture = config["extraction"]["architecture"]
    if not architecture:
        return build_model(config, data, seed)
    keras.utils.set_random_seed(seed)
    options = {}
    if architecture == "small_bert":
        options["vocabulary"] = text_vocabulary(data, 4000)
    return architectures.build(architecture, data.input_shape, data.num_classes, **options)


def train_plain(config, data, seed, verbose, model_config=None, learning_rate=None):
    """A model of the recipe's (or `model_config`'s) architecture trained on the task only.

    It trains `plain_epochs` (as long as the victim unless the recipe says)
    with the recipe's batch size and learning rate (or `learning_rate`): the
    independent models, and the owner's reference models.
    """
    model = build_model(config if model_config is None else {"model": model_config}, data, seed)
    training.train_classifier(
        model,
        data.train.x,
        data.train.y,
        epochs=plain_epochs(config),
        batch_size=config["training"]["batch_size"],
        learning_rate=learning_rate or config["training"]["learning_rate"],
        seed=seed,
        verbose=verbose,
    )
    return model
