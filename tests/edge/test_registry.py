"""The one registry every kind uses (approximations, targets, runtimes, metrics, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from edge.registry import Registry, UnknownName


@dataclass(frozen=True)
class Thing:
    name: str


def test_entries_keep_registration_order() -> None:
    reg = Registry("colour", [("red", 1), ("green", 2)])
    reg.add("blue", 3)
    assert reg.names() == list(reg) == ["red", "green", "blue"]
    assert reg.items() == [("red", 1), ("green", 2), ("blue", 3)]
    assert reg.values() == [1, 2, 3] and len(reg) == 3
    assert "green" in reg and "mauve" not in reg
    assert reg.get("green") == reg["green"] == 2


def test_of_reads_each_items_name() -> None:
    things = [Thing("b"), Thing("a")]
    assert Registry.of("thing", things).names() == ["b", "a"]
    assert Registry.of("thing", things, key=lambda t: t.name.upper()).names() == ["B", "A"]


def test_unknown_name_lists_the_choices() -> None:
    reg = Registry("colour", [("red", 1), ("green", 2)])
    with pytest.raises(UnknownName) as caught:
        reg.get("mauve")
    assert str(caught.value) == "unknown colour 'mauve'; choose one of: red, green"
    assert isinstance(caught.value, LookupError)
    assert str(reg.unknown("x", ["auto", *reg])) == \
        "unknown colour 'x'; choose one of: auto, red, green"


def test_message_can_be_a_registrys_own() -> None:
    reg = Registry("place", [("local", 0)], message="--on {name!r}: use one of {choices}")
    assert str(reg.unknown("ftp://h")) == "--on 'ftp://h': use one of local"


def test_a_name_registered_twice_is_refused() -> None:
    reg = Registry("colour", [("red", 1)])
    with pytest.raises(ValueError, match="colour 'red' is registered twice"):
        reg.add("red", 2)
    assert reg.get("red") == 1
    with pytest.raises(ValueError):
        Registry.of("thing", [Thing("a"), Thing("a")])


def test_add_returns_the_item_so_a_decorator_can_use_it() -> None:
    reg: Registry = Registry("metric")

    def metric(fn):
        return reg.add(fn.__name__, fn)

    @metric
    def rmse() -> float:
        return 0.0

    assert reg.get("rmse") is rmse
