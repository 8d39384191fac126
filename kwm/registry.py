"""Named, pluggable things (methods, architectures, ...) looked up by name."""


class Registry:
    """A name -> object table with one way to add, list and look up entries.

    Args:
        kind: str. What the entries are, for error messages (e.g. "method").

    Examples:

    >>> methods = Registry("method")
    >>> @methods.register("noop")
    ... def noop():
    ...     return None
    >>> methods.names(), methods.get("noop") is noop
    (['noop'], True)
    >>> methods.get("other")
    Traceback (most recent call last):
    ...
    ValueError: Unknown method. Known: ['noop']. Received: name='other'
    """

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name, entry=None):
        """Adds `entry` under `name`; without `entry`, a decorator that adds what it decorates."""
        if entry is None:
            return lambda decorated: self.register(name, decorated)
        if name in self._entries and self._entries[name] is not entry:
            raise ValueError(
                f"A {self.kind} named {name!r} is registered already. Received: name={name!r}"
            )
        self._entries[name] = entry
        return entry

    def unregister(self, name):
        """Removes `name` (e.g. a plugin's entry after a test); an error if it is not registered."""
        self.get(name)
        del self._entries[name]

    def get(self, name):
        if name not in self._entries:
            raise ValueError(
                f"Unknown {self.kind}. Known: {self.names()}. Received: name={name!r}"
            )
        return self._entries[name]

    def names(self, sort=True):
        """The registered names, sorted (or in registration order with `sort=False`)."""
        return sorted(self._entries) if sort else list(self._entries)

    def __contains__(self, name):
        return name in self._entries
