"""The report's "What int8 buys" section and its one terminal line, from parity.json's gains."""

from __future__ import annotations

from pipeline.records.parity import Gains, ParityRecord
from pipeline.stages.report.blocks import Block, fmt, size


def _mac_label(g: Gains) -> str:
    """"int8 MACs", or "integer MACs" when some are int16x8."""
    return "integer MACs" if any(m.kind == "int16x8" for m in g.macs) else "int8 MACs"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f} %"


def _where(g: Gains) -> str:
    return f"{g.runtime} (this machine, {g.machine or '?'})"


def line(p: ParityRecord) -> str | None:
    """'int8 MACs 100 %, 0.42x float latency on tflite-runtime 2.14.0 (this machine), 4.1x
    smaller'; None without gains."""
    g = p.gains
    if g is None:
        return None
    parts = [f"{_mac_label(g)} {_percent(g.integer_share)}"]
    q = g.quantized_latency
    if g.latency_ratio is not None:
        parts.append(f"{g.latency_ratio:.2f}x float latency on {g.runtime} (this machine)")
    elif q is not None:
        parts.append(f"{q.median_ms:.3g} ms on {g.runtime} (this machine), no float model to "
                     "compare with")
    else:
        parts.append("latency not measured")
    smaller = g.smaller(p.size.tflite_bytes)
    if smaller is not None:
        parts.append(_size_ratio(smaller))
    return ", ".join(parts)


SAME_SIZE = 0.05  # files within 5 % of each other are "about the same size"


def _size_ratio(smaller: float) -> str:
    """'4.1x smaller', 'about the same size' (within SAME_SIZE, where '1.0x larger' would
    read as a contradiction) or, for a model whose int8 file is larger (tiny models: the
    flatbuffer's own bytes and the quantization parameters dominate), '1.3x larger'."""
    if abs(smaller - 1.0) <= SAME_SIZE:
        return "about the same size"
    return f"{smaller:.1f}x smaller" if smaller >= 1 else f"{1 / smaller:.1f}x larger"


def slower_than_float(p: ParityRecord) -> str | None:
    """What to do when model.tflite measured slower than float on tflite-runtime 2.14, or None."""
    g = p.gains
    if g is None or g.latency_ratio is None or g.latency_ratio < 1.0 or \
            not g.runtime.startswith("tflite-runtime"):
        return None
    return (f"On {g.runtime} this model runs slower than float ({g.latency_ratio:.2f}x): that "
            "runtime's int8 and hybrid kernels are slower than its float ones, and it cannot "
            "run per-channel hybrid weights correctly. ai-edge-litert (LiteRT), the `rpi` "
            "target's default runtime, installs on Raspberry Pi OS Bookworm and Trixie; build "
            "without --runtime tflite-runtime to measure the model it gets.")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g} ms"


def blocks(p: ParityRecord) -> list[Block]:
    """A short table of what the quantized model gains over float32, and its float ops."""
    g = p.gains
    if g is None:
        return []
    q, f = g.quantized_latency, g.float_latency
    smaller = g.smaller(p.size.tflite_bytes)
    latency = f"median of {q.repeats} invokes, one thread" if q else "not measured"
    rows = [
        [_mac_label(g), _percent(g.integer_share),
         ", ".join(f"{m.kind}: {m.macs:,} in {m.ops} op(s)" for m in g.macs) or "no matrix ops"],
        ["latency, model.tflite", _ms(q.median_ms if q else None), latency],
        ["latency, float32 TFLite", _ms(f.median_ms if f else None),
         f"median of {f.repeats} invokes, one thread" if f else "not measured"],
        ["latency ratio (quantized / float)", fmt(g.latency_ratio),
         f"on {_where(g)}: this machine's CPU, not the target's" if g.runtime else ""],
        ["model_float.keras", size(p.size.keras_bytes), f"{p.size.keras_bytes:,} bytes"],
        ["model.tflite", size(p.size.tflite_bytes), f"{p.size.tflite_bytes:,} bytes"],
        ["float32 TFLite", size(g.float_tflite_bytes) if g.float_tflite_bytes else "—",
         f"{g.float_tflite_bytes:,} bytes; model.tflite is {_size_ratio(smaller)}"
         if g.float_tflite_bytes and smaller else "not converted"],
    ]
    found = [Block("h2", "What int8 buys"),
             Block("table", header=["", "value", "how"], rows=rows)]
    slower = slower_than_float(p)
    if slower:
        found.append(Block("p", slower))
    if g.notes:
        found.append(Block("list", items=list(g.notes)))
    if g.float_ops:
        found += [Block("p", "Ops that run in float (they read or write a float tensor):"),
                  Block("table", header=["op", "count", "why"],
                        rows=[[o.op, o.count, o.reason] for o in g.float_ops])]
    else:
        found.append(Block("p", "No op runs in float."))
    return found
