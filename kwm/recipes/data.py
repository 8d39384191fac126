"""The data of a recipe: the task, the watermark sources, and the thief's queries."""

import numpy as np

from kwm import datasets
from kwm.recipes.reference_models import check_same_task, reference_dataset_names


def load_data(config, data_dir=None, download="auto"):
    """The task dataset, and the watermark sources' if not the task's sample, of a recipe.

    The sources are another dataset (`watermark.source_dataset`), the task's
    whole splits (`watermark.source_pool = "all"`), or None (the task's
    sample itself).
    """
    sources = tuple(config["data"]["sources"])
    data = datasets.load(
        config["experiment"]["dataset"], data_dir=data_dir, sources=sources, download=download
    )
    whole = data
    data = datasets.subsample(data, config["data"]["max_train"], config["data"]["max_test"])
    source_name = config["watermark"]["source_dataset"]
    pool = config["watermark"]["source_pool"]
    if pool not in ("sample", "all") or (
        pool == "all" and source_name and source_name != data.name
    ):
        raise ValueError(
            "`watermark.source_pool` is 'sample' or 'all' ('all': in-distribution sources from "
            f"the task's whole splits). Received: source_pool={pool!r}, "
            f"source_dataset={source_name!r}"
        )
    if pool == "all":
        return data, whole
    source = None
    if source_name and source_name != data.name:
        source = datasets.load(source_name, data_dir=data_dir, sources=sources, download=download)
        # e.g. MNIST digits as the offline stand-in for SVHN on CIFAR: padded to 32x32, RGB.
        source = datasets.match_input_shape(source, data.input_shape)
    return data, source


def load_queries(config, data, data_dir=None, download="auto"):
    """The thief's query dataset when `extraction.queries` names another dataset, else None.

    Its images are padded to the task's input shape if smaller
    (`datasets.match_input_shape`); its labels are never used.
    """
    name = config["extraction"]["queries"]
    if name == "train":
        return None
    queries = datasets.load(
        name, data_dir=data_dir, sources=tuple(config["data"]["sources"]), download=download
    )
    return datasets.match_input_shape(queries, data.input_shape)


def thief_queries(config, data, queries=None, seed=0, labels=False):
    """The inputs the thief sends: training inputs of the task or of `queries`, within the budget.

    With `labels=True`, `(inputs, their true labels)`: what an innocent model trained the
    thief's way on the same inputs would learn from instead of the API's answers.
    """
    extraction = config["extraction"]
    if extraction["queries"] == "train":
        x, y = data.train.x, data.train.y
    elif queries is not None and queries.name == extraction["queries"]:
        x, y = queries.train.x, queries.train.y
    else:
        raise ValueError(
            "`extraction.queries` names a dataset that was not loaded (`load_queries`). "
            f"Received: extraction.queries={extraction['queries']!r}"
        )
    budget = extraction["num_queries"]
    if budget < 0 or budget > len(x):
        raise ValueError(
            f"`extraction.num_queries` must lie in [0, {len(x)}] (0: all). "
            f"Received: extraction.num_queries={budget}"
        )
    if budget:
        chosen = np.random.default_rng(seed).choice(len(x), size=budget, replace=False)
        x, y = x[chosen], y[chosen]
    return (x, y) if labels else x


def load_other_datasets(config, data, data_dir=None, download="auto"):
    """The other datasets of the task a recipe trains models on, by name.

    `verification.reference_datasets` (the owner's reference models; ""
    is the task's own data, not loaded again) and
    `verification.independent_datasets` (innocent suspects) name them. Each
    comes from the recipe's sources and is cut to `data.max_train` /
    `data.max_test` as the task's data is, except that a test split kept
    whole (`max_test = 0`) is cut to the task's own test size: it only
    scores an innocent model's accuracy on its own dataset. It must have
    the task's modality and classes. Hand the result to `ReferenceModels(datasets=...)`
    and `run_seed(other_data=...)`.

    Args:
        config: dict. A loaded recipe.
        data: TaskDataset. The task's data.
        data_dir: str or None. As for `load_data`.
        download: as for `kwm.datasets.load`.

    Returns:
        A dict from dataset name to `TaskDataset` (empty when every model
        trains on the task's own data).
    """
    names = reference_dataset_names(config, data) + independent_dataset_names(config, data)
    others = {}
    for name in dict.fromkeys(names):
        if name == data.name:
            continue
        other = datasets.load(
            name, data_dir=data_dir, sources=tuple(config["data"]["sources"]), download=download
        )
        check_same_task(data, other)
        others[name] = datasets.subsample(
            other, config["data"]["max_train"], config["data"]["max_test"] or len(data.test)
        )
    return others


def independent_dataset_names(config, data):
    """`verification.independent_datasets`, checked: other datasets of the task, each once."""
    names = list(config["verification"]["independent_datasets"])
    if data.name in names or len(set(names)) != len(names) or not all(names):
        raise ValueError(
            "`verification.independent_datasets` names other datasets of the task, each once "
            f"(the task's own independent model is always trained). "
            f"Received: independent_datasets={names} on {data.name}"
        )
    return names
