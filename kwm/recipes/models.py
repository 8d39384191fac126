"""The models of a recipe: the victim's architecture, the thief's, and plain task models."""

import keras

from kwm import architectures, training


def total_epochs(config):
    """Epochs a victim trains in all (clean + watermark); plain models train as long."""
    train = config["training"]
    return train["epochs"] + train["watermark_epochs"]


def build_model(config, data, seed):
    """A fresh, seeded model of the recipe's `[model]` table for the task of `data`."""
    keras.utils.set_random_seed(seed)
    model_config = config["model"]
    return architectures.build(
        model_config["architecture"],
        data.input_shape,
        data.num_classes,
        dropout=model_config["dropout"],
        **model_config["options"],
    )


def thief_model(config, data, seed):
    """A fresh model for the thief: the victim's architecture, or `extraction.architecture`."""
    architecture = config["extraction"]["architecture"]
    if not architecture:
        return build_model(config, data, seed)
    keras.utils.set_random_seed(seed)
    return architectures.build(architecture, data.input_shape, data.num_classes)


def train_plain(config, data, seed, verbose, model_config=None):
    """A model of the recipe's (or `model_config`'s) architecture trained on the task only.

    It trains as long as the victim (`total_epochs`) with the recipe's batch
    size and learning rate: the independent model, and the owner's reference
    models.
    """
    model = build_model(config if model_config is None else {"model": model_config}, data, seed)
    training.train_classifier(
        model,
        data.train.x,
        data.train.y,
        epochs=total_epochs(config),
        batch_size=config["training"]["batch_size"],
        learning_rate=config["training"]["learning_rate"],
        seed=seed,
        verbose=verbose,
    )
    return model
