"""parity.md: GitHub-flavoured Markdown, short enough for a CI step summary, plots linked."""

from __future__ import annotations

from pipeline.stages.report.blocks import Block, fmt


def _cell(value: object) -> str:
    return fmt(value).replace("|", "\\|").replace("\n", " ")


def render(blocks: list[Block]) -> str:
    """The blocks as Markdown."""
    out: list[str] = []
    for b in blocks:
        if b.kind == "h1":
            out += [f"# {b.text}", ""]
        elif b.kind == "h2":
            out += [f"## {b.text}", ""]
        elif b.kind == "p":
            out += [b.text, ""]
        elif b.kind == "list":
            out += [f"- {item}" for item in b.items] + [""]
        elif b.kind == "table":
            out += ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in b.rows] + [""]
        elif b.kind == "image":
            out += [f"![{b.text}]({b.src})", ""]
    return "\n".join(out).rstrip() + "\n"
