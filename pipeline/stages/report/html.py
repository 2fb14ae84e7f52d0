"""parity.html: one self-contained page (styles inline, plots embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from pipeline.stages.report.blocks import Block, fmt

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #1b1f24; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; margin: .6em 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { background: #f6f8fa; padding: 0 3px; border-radius: 3px; }
.fail { color: #cf222e; font-weight: bold; }
figure { margin: 1em 0; }
img { max-width: 100%; border: 1px solid #d0d7de; }
"""


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r'<span class="fail">\1</span>', escaped)


def _image(block: Block, folder: Path) -> str:
    data = base64.b64encode((folder / block.src).read_bytes()).decode()
    title = html.escape(block.text)
    return (f'<figure><img alt="{title}" src="data:image/png;base64,{data}">'
            f"<figcaption>{title}</figcaption></figure>")


def render(blocks: list[Block], folder: Path) -> str:
    """The blocks as one HTML page; images are read from `folder` and embedded."""
    body: list[str] = []
    title = "gelu-edge parity"
    for b in blocks:
        if b.kind == "h1":
            title = b.text
            body.append(f"<h1>{_inline(b.text)}</h1>")
        elif b.kind == "h2":
            body.append(f"<h2>{_inline(b.text)}</h2>")
        elif b.kind == "p":
            body.append(f"<p>{_inline(b.text)}</p>")
        elif b.kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(fmt(c))}</td>" for c in row) + "</tr>"
                           for row in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif b.kind == "image":
            body.append(_image(b, folder))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
