"""A name -> class registry filled by a decorator; duplicates are refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoints, entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to registered objects, for components found by name in specs.

    With an entry-point `group`, installed packages add names too: a name not registered yet is
    imported from the entry point of that name, whose module registers it with the decorator.
    """

    def __init__(self, kind: str, group: str = "") -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}

    def register(self, name: str, replace: bool = False) -> Callable[[T], T]:
        """Decorator that registers its target under `name` (a second one only with `replace`)."""

        def decorate(item: T) -> T:
            if name in self._items and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = item
            return item

        return decorate

    def get(self, name: str) -> T:
        """The object registered under `name` (imported from its entry point if need be), or a KeyError."""
        if name not in self._items:
            for point in self._offered().select(name=name):  # the first distribution that offers it
                point.load()
                if name not in self._items:
                    raise KeyError(f"entry point {self.group} {name} = {point.value} registers no {self.kind} {name!r}")
                break
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; known: {', '.join(self)}") from None

    def copy(self) -> Registry[T]:
        """A registry holding the same items, to which later registrations do not reach."""
        twin: Registry[T] = Registry(self.kind)  # a snapshot: what an entry point registers reaches the original
        twin._items = dict(self._items)
        return twin

    def _offered(self) -> EntryPoints:
        """The entry points of the group (none without one), read each time: a package may be installed since."""
        return entry_points(group=self.group) if self.group else EntryPoints(())

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._offered().names

    def __iter__(self) -> Iterator[str]:
        """Registered names and those entry points offer, sorted; `get` imports the latter."""
        return iter(sorted({*self._items, *self._offered().names}))
