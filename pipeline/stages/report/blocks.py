"""The pieces a report is made of (headings, paragraphs, lists, tables, images) and how numbers
and names look in them; the Markdown and HTML writers render them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TENSOR_NAME_CHARS = 48


@dataclass(frozen=True)
class Block:
    """One piece of the report: heading (level 1-3), paragraph, list, table or image."""

    kind: str  # "h1" | "h2" | "p" | "list" | "table" | "image"
    text: str = ""
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    src: str = ""  # image path relative to the build folder


def fmt(value: Any) -> str:
    """A number as the report shows it."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def size(n: int) -> str:
    """A byte count as KiB or MiB."""
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def short(name: str) -> str:
    """A fused tensor name ('a;b;c') as its last part, cut to fit a table cell."""
    last = name.split(";")[-1]
    return last if len(last) <= TENSOR_NAME_CHARS else "…" + last[-TENSOR_NAME_CHARS:]
