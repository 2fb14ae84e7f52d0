"""`gelu-edge check --compiler-log`: what edgetpu_compiler did with a model or a chain's Edge
TPU segments, read from the log a user brings back (`edgetpu_compiler -s` prints it; the
compiler cannot run here), matched against gelu-edge's static verdicts op by op, and its
parameter memory against the on-chip cache verdict.

The log has one block per compiled model, from its `Input model:` line: the memory it cached on
chip and streamed, the Edge TPU subgraphs, then a table of operator, count and status ("Mapped
to Edge TPU", or why not)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UserError
from pipeline.targets import coral
from pipeline.tflite.graph import Graph

UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_SIZE = r"([\d.]+)\s*(B|KiB|MiB|GiB)"


@dataclass
class Compiled:
    """One model's block of the log."""

    model: str  # the input model's file name, as the compiler printed it
    mapped: dict[str, int] = field(default_factory=dict)  # op -> count mapped to the Edge TPU
    not_mapped: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # op -> (n, why)
    cached_bytes: int | None = None
    streamed_bytes: int | None = None
    subgraphs: int | None = None


def _size(text: str, label: str) -> int | None:
    m = re.search(label + r":\s*" + _SIZE, text)
    return None if m is None else int(round(float(m.group(1)) * UNITS[m.group(2)]))


def parse(log: str) -> list[Compiled]:
    """Every compiled model's block; UserError when the log holds none (not such a log, or the
    compilation failed: its last line says why)."""
    blocks = re.split(r"(?m)^Input model:\s*", log)[1:]
    if not blocks:
        last = next((ln.strip() for ln in reversed(log.strip().splitlines()) if ln.strip()),
                    "an empty file")
        raise UserError(f"the compiler log has no 'Input model:' block (the compilation failed "
                        f"or this is not edgetpu_compiler -s output); its last line: {last}")
    found = []
    for block in blocks:
        name = Path(block.splitlines()[0].strip()).name
        c = Compiled(model=name, cached_bytes=_size(block, "On-chip memory used for caching "
                                                        "model parameters"),
                     streamed_bytes=_size(block, "Off-chip memory used for streaming uncached "
                                                 "model parameters"))
        sub = re.search(r"Number of Edge TPU subgraphs:\s*(\d+)", block)
        c.subgraphs = int(sub.group(1)) if sub else None
        for line in block.splitlines():
            m = re.match(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\S.*)$", line.strip())
            if not m:
                continue
            op, n, status = m.group(1), int(m.group(2)), m.group(3).strip()
            if status.startswith("Mapped to Edge TPU"):
                c.mapped[op] = c.mapped.get(op, 0) + n
            else:
                c.not_mapped.setdefault(op, []).append((n, status))
        found.append(c)
    return found


def expected(graph: Graph) -> dict[str, int]:
    """Op -> how many the static rules put on the Edge TPU: the ops before the first one it
    cannot run (the compiler maps one subgraph)."""
    counts: dict[str, int] = {}
    for op in graph.ops:
        if not coral.tpu_op(graph, op)[0]:
            break
        counts[op.name] = counts.get(op.name, 0) + 1
    return counts


@dataclass
class Finding:
    """Where the compiler and the static verdicts part, or agree, for one model."""

    model: str
    agrees: bool
    lines: list[str]


def match(graph: Graph, label: str, compiled: Compiled, cached: bool | None) -> Finding:
    """The compiler's mapping of one model against the static verdicts (and, for a chain's
    segment, its on-chip cache verdict)."""
    want = expected(graph)
    lines, agrees = [], True
    for op in sorted(set(want) | set(compiled.mapped) | set(compiled.not_mapped)):
        static, mapped = want.get(op, 0), compiled.mapped.get(op, 0)
        why = "; ".join(s for _, s in compiled.not_mapped.get(op, []))
        if static == mapped:
            lines.append(f"{op}: {mapped} on the Edge TPU, as the static check said")
        elif mapped < static:
            agrees = False
            lines.append(f"{op}: the static check put {static} on the Edge TPU, the compiler "
                         f"mapped {mapped}" + (f" ({why})" if why else "") + ": the static "
                         "rules missed this; please report it with the log")
        else:
            lines.append(f"{op}: the compiler mapped {mapped}, more than the {static} the "
                         "static check expected (it is stricter than the compiler here)")
    if compiled.subgraphs is not None and compiled.subgraphs != 1 and want:
        lines.append(f"{compiled.subgraphs} Edge TPU subgraphs (the static check expects one)")
    if cached is not None and compiled.streamed_bytes is not None:
        streams = compiled.streamed_bytes > 0
        verdict = "streams" if streams else "is cached on chip"
        said = "streams" if not cached else "is cached on chip"
        lines.append(f"parameters: the compiler cached {compiled.cached_bytes or 0:,} B and "
                     f"streams {compiled.streamed_bytes:,} B: the segment {verdict}; the "
                     f"static estimate said it {said}")
    return Finding(label, agrees, lines)
