"""Finding layers by name, also inside nested models (a keras-hub backbone in its classifier)."""

import keras

SEPARATOR = "/"


def _children(layer):
    return list(getattr(layer, "layers", None) or [])


def _paths(model, prefix=""):
    for layer in _children(model):
        path = prefix + layer.name
        yield path, layer
        yield from _paths(layer, path + SEPARATOR)


def layer_paths(model):
    """Every layer of `model` as a path, nested models' layers as `outer/inner`.

    Args:
        model: keras.Model.

    Examples:

    >>> import keras
    >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden")],
    ...                          name="backbone")
    >>> inputs = keras.Input((3,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    >>> [p for p in layer_paths(model) if "input" not in p]
    ['backbone', 'backbone/hidden', 'head']
    """
    return [path for path, _ in _paths(model)]


def find_layer(model, name):
    """The layer of `model` named `name`, searched in nested models too.

    `name` is a top-level layer's name, a path through nested models
    (`"backbone/transformer_layer_5"`), or the name of exactly one nested
    layer anywhere in the model.

    Args:
        model: keras.Model.
        name: str. A layer name or path.

    Examples:

    >>> import keras
    >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden")],
    ...                          name="backbone")
    >>> inputs = keras.Input((3,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    >>> find_layer(model, "backbone/hidden").name, find_layer(model, "hidden").name
    ('hidden', 'hidden')
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A layer name must be a non-empty string. Received: name={name!r}")
    layer = model
    parts = name.split(SEPARATOR)
    for part in parts:
        matches = [child for child in _children(layer) if child.name == part]
        if not matches:
            layer = None
            break
        layer = matches[0]
    if layer is not None:
        return layer
    if len(parts) == 1:
        found = [(path, child) for path, child in _paths(model) if child.name == name]
        if len(found) == 1:
            return found[0][1]
        if len(found) > 1:
            raise ValueError(
                f"Several nested layers are named {name!r}: {[p for p, _ in found]}; name one "
                f"by its path. Received: name={name!r}"
            )
    raise ValueError(
        f"{model.name} has no layer {name!r}; its layers are {layer_paths(model)}. "
        f"Received: name={name!r}"
    )


def _chain(model, name):
    """The layers from `model` down to the layer `name`, outermost first."""
    target = find_layer(model, name)
    paths = [path for path, layer in _paths(model) if layer is target]
    chain, layer = [], model
    for part in (name if name in paths else paths[0]).split(SEPARATOR):
        layer = next(child for child in _children(layer) if child.name == part)
        chain.append(layer)
    return chain


def _graph_nodes(model):
    graph = model if hasattr(model, "_nodes_by_depth") else getattr(model, "_functional", None)
    if graph is None:
        raise ValueError(
            f"{model.name} is not a functional or Sequential model, so its nested layers have no "
            f"symbolic outputs. Received: model={type(model).__name__}"
        )
    return [node for nodes in graph._nodes_by_depth.values() for node in nodes]


def _node_in(model, layer):
    """The node at which `model`'s graph calls `layer`."""
    graph = _graph_nodes(model)
    for node in layer._inbound_nodes:
        if any(node is other for other in graph):
            return node
    raise ValueError(
        f"{layer.name} is not called in {model.name}'s graph, so it has no output there. "
        f"Received: layer={layer.name!r}"
    )


def _symbolic_output(model, chain):
    """The output of `chain[-1]` as a symbolic tensor of `model`'s graph."""
    head, rest = chain[0], chain[1:]
    node = _node_in(model, head)
    if not rest:
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs
    inner = _symbolic_output(head, rest)
    inputs = getattr(head, "_functional", head).inputs
    features = keras.Model(inputs if len(inputs) > 1 else inputs[0], inner)
    return features(*node.arguments.args, **node.arguments.kwargs)


def feature_model(model, names, include_output=True):
    """A model from `model`'s inputs to the outputs of the layers `names`.

    Nested layers (`find_layer` names and paths) are reached through the
    nested model's own graph, sharing every weight with `model`. With
    `include_output`, `model`'s own output comes last.

    Args:
        model: keras.Model. A functional model (nested functional models
            inside it are fine).
        names: sequence of str. Layer names or paths.
        include_output: bool. Append `model.output`.

    Examples:

    >>> import keras, numpy as np
    >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="hidden")],
    ...                          name="backbone")
    >>> inputs = keras.Input((3,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    >>> hidden, output = feature_model(model, ["hidden"])(np.ones((1, 3)))
    >>> tuple(hidden.shape), tuple(output.shape)
    ((1, 4), (1, 2))
    """
    outputs = [_symbolic_output(model, _chain(model, name)) for name in names]
    if include_output:
        outputs.append(model.output)
    return keras.Model(model.inputs if len(model.inputs) > 1 else model.input, outputs,
                       name=f"{model.name}_features")
