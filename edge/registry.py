"""One small registry for every kind of thing looked up by name (approximations, targets,
runtimes, metrics, ...). It lives in edge/ because the device runner needs it too and edge/
imports only the standard library; pipeline.registry subclasses it to raise UserError."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import ClassVar, Generic, TypeVar

T = TypeVar("T")


class UnknownName(LookupError):
    """A name no entry of a registry has; the message lists the choices."""


class Registry(Generic[T]):
    """Named entries of one kind, in registration order; `get` of an unknown name raises
    `error(message)` where the message names the kind and lists the choices."""

    error: ClassVar[Callable[[str], Exception]] = UnknownName
    MESSAGE: ClassVar[str] = "unknown {kind} {name!r}; choose one of: {choices}"

    def __init__(self, kind: str, entries: Iterable[tuple[str, T]] = (), *,
                 message: str | None = None) -> None:
        self.kind = kind
        self.message = message or self.MESSAGE
        self._entries: dict[str, T] = {}
        for name, item in entries:
            self.add(name, item)

    @classmethod
    def of(cls, kind: str, items: Iterable[T], *, key: Callable[[T], str] = attrgetter("name"),
           message: str | None = None) -> Registry[T]:
        """A registry of items that carry their own name (`key` reads it; `.name` by default)."""
        return cls(kind, ((key(i), i) for i in items), message=message)

    def add(self, name: str, item: T) -> T:
        """Register `item` under `name` (returned, so this works as a decorator's body); a name
        registered twice is a programming error."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = item
        return item

    def get(self, name: str) -> T:
        """The entry called `name`; unknown names raise `error` listing the choices."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    __getitem__ = get

    def unknown(self, name: str, choices: Iterable[str] | None = None) -> Exception:
        """The error for an unknown `name`, listing `choices` (default: every name)."""
        listed = ", ".join(self.names() if choices is None else choices)
        return self.error(self.message.format(kind=self.kind, name=name, choices=listed))

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
