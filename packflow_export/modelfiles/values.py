"""Symbolic values of the pickle machine: what an opcode stack holds when nothing is executed."""

from __future__ import annotations

from typing import Any, Union

KEEP_TEXT = 4096          # strings and bytes longer than this are skipped, not kept
KEEP_ITEMS = 64           # container elements kept for analysis (args, state); the rest are counted


def is_dunder(key: object) -> bool:
    """A `__name__`-style attribute name (what BUILD state must never set)."""
    return isinstance(key, str) and len(key) > 4 and key.startswith("__") and key.endswith("__")


class Global:
    """A name a pickle imports; `actions` is what the allow-list lets loading do with it (None: not listed)."""

    __slots__ = ("module", "name", "actions")

    def __init__(self, module: str, name: str, actions: frozenset[str] | None) -> None:
        self.module = module
        self.name = name
        self.actions = actions

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    def allows(self, action: str) -> bool:
        return self.actions is not None and action in self.actions


class Made:
    """An object made at load time: an instance of `cls`, or the result of calling `func` (kept to check BUILD)."""

    __slots__ = ("origin", "instance", "args", "state", "dunder")

    def __init__(self, origin: Global, instance: bool, args: Any = ()) -> None:
        self.origin = origin          # the class instantiated, or the callable called
        self.instance = instance      # True: an instance of origin; False: whatever origin(*args) returned
        self.args = args
        self.state: Any = None
        self.dunder: list[str] = []   # dunder keys set on it through SETITEM(S)

    def buildable(self) -> bool:
        """Whether BUILD may set its state: its class (or the callable that made it) grants `build`."""
        return self.origin.allows("build")

    def describe(self) -> str:
        if self.instance:
            return f"an object of {self.origin.dotted}"
        return f"the result of {self.origin.dotted}"


class Opaque:
    """A value the analysis does not model (after a refused operation, a persistent id, a buffer)."""

    __slots__ = ("origin",)

    def __init__(self, origin: str) -> None:
        self.origin = origin


class Skipped:
    """Bulk bytes or text that were skipped, not kept."""

    __slots__ = ("size", "text")

    def __init__(self, size: int, text: bool) -> None:
        self.size = size
        self.text = text


class Container:
    """A list, dict or set built by the pickle; the first KEEP_ITEMS elements are kept, dunder keys noted."""

    __slots__ = ("kind", "items", "count", "dunder", "truncated")

    def __init__(self, kind: str) -> None:
        self.kind = kind              # "list", "dict", "set", "frozenset"
        self.items: list[Any] = []    # values, or (key, value) pairs for a dict
        self.count = 0
        self.dunder: list[str] = []
        self.truncated = False

    def get(self, key: str) -> Any:
        """A dict's value for a string key (among the kept items), or None."""
        for item in self.items:
            if isinstance(item, tuple) and len(item) == 2 and item[0] == key:
                return item[1]
        return None


Value = Union[Global, Made, Opaque, Skipped, Container, tuple, str, bytes, int, float, bool, None]


def describe(value: object) -> str:
    """A value as a message names it."""
    if isinstance(value, Global):
        return value.dotted
    if isinstance(value, Made):
        return value.describe()
    if isinstance(value, Opaque):
        return value.origin
    if isinstance(value, Container):
        return f"a {value.kind}"
    return f"a {type(value).__name__} value"
