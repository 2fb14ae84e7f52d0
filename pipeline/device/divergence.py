"""Where the device and this machine part ways: one sample traced on both with every tensor kept,
compared op by op in execution order. The inputs are the same on both sides, so the first op
whose output differs is the first op whose kernels compute differently; the ops after it show
how the difference grows. The same sample on the runtime's reference kernels on both sides then
says whether the optimized kernels make the difference; an int8 FULLY_CONNECTED is also replayed
here in integer arithmetic once per rounding mode (pipeline/device/rounding.py), which says how
each side rounds.

A kept tensor is only what its buffer holds after the invoke: the runtime runs some ops in place
(an ADD into its input buffer, then a SOFTMAX into the same), so an op output that a later op
overwrote is not compared (`hidden`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.device import rounding
from pipeline.device.edge_session import Trace
from pipeline.records.parity import Divergence, KernelCheck, OpDifference, RoundingReplay
from pipeline.tflite.graph import Graph, layer_scope

# Ops that run in place without changing the bytes: a tensor they share a buffer with still
# holds its own values.
VIEW_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "BITCAST"})


def hidden_tensors(graph: Graph, aliases: list[list[int]]) -> set[int]:
    """Op outputs that a later op, run in place in the same buffer, overwrote."""
    writer = {t: i for i, op in enumerate(graph.ops) for t in op.outputs}
    hidden: set[int] = set()
    for group in aliases:
        written = sorted((writer[t], t) for t in group if t in writer)
        for k, (_, t) in enumerate(written):
            if any(graph.ops[j].name not in VIEW_OPS for j, _ in written[k + 1:]):
                hidden.add(t)
    return hidden


def difference(graph: Graph, op_index: int, tensor: int, a: np.ndarray, b: np.ndarray
               ) -> OpDifference:
    """One op output on two machines: how many values differ and by how much (codes for
    integer tensors, LSB when quantized; absolute for float ones)."""
    t = graph.tensors[tensor]
    if a.shape != b.shape:
        raise ValueError(f"tensor {tensor} ({t.name}): shapes {a.shape} and {b.shape}")
    if a.dtype.kind in "iub":
        diff = np.abs(a.astype(np.int64) - b.astype(np.int64)).astype(np.float64)
        unit = "LSB" if t.scale else "int"
    else:
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        both_nan = np.isnan(a64) & np.isnan(b64)
        diff = np.where(both_nan, 0.0, np.abs(a64 - b64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        unit = "float"
    op = graph.ops[op_index]
    # A fused tensor name lists what the converter folded into the op, the op's own layer last.
    layer = layer_scope(t.name.split(";")[-1]) or graph.origin(op)
    return OpDifference(op_index=op_index, op=op.name, layer=layer, tensor=tensor,
                        tensor_name=t.name, dtype=t.dtype, elements=int(diff.size),
                        differing=int(np.count_nonzero(diff)),
                        max_diff=float(diff.max()) if diff.size else 0.0, unit=unit)


def compare(graph: Graph, a: Trace, b: Trace) -> tuple[list[OpDifference], set[int]]:
    """Every op output both traces hold and no in-place op overwrote, in execution order;
    and the overwritten ones."""
    hidden = hidden_tensors(graph, a.aliases + b.aliases)
    rows = [difference(graph, i, t, a.tensors[t], b.tensors[t])
            for i, op in enumerate(graph.ops) for t in op.outputs
            if t not in hidden and t in a.tensors and t in b.tensors]
    return rows, hidden


def _first(rows: list[OpDifference]) -> OpDifference | None:
    return next((r for r in rows if r.differing), None)


def _matches(trace: Trace, run_outputs: list[np.ndarray]) -> bool:
    return len(trace.outputs) == len(run_outputs) and all(
        np.array_equal(t.reshape(-1), r.reshape(-1)) for t, r in zip(trace.outputs, run_outputs))


def _describe(r: OpDifference) -> str:
    amount = f"{r.max_diff:g} LSB" if r.unit == "LSB" else f"{r.max_diff:.3g} ({r.unit})"
    return (f"op {r.op_index} {r.op} (`{r.layer}`), by up to {amount} in {r.differing} of "
            f"{r.elements} values")


def _modes(names: list[str]) -> str:
    return " or ".join(f"“{n}”" for n in names)


def rounding_text(first: OpDifference, replay: RoundingReplay) -> str:
    """What the integer replay of the first differing op says, in a sentence; a claim only
    where a rounding mode reproduces a side's output exactly."""
    tried = f"the {len(rounding.MODES)} rounding modes tried"
    if replay.device and replay.host:
        return (f"Replayed here in integer arithmetic on its traced input, the device's output of "
                f"that op is what {_modes(replay.device)} gives and this machine's what "
                f"{_modes(replay.host)} gives: the two compute it alike but for how the "
                f"requantization rounds, up to {first.max_diff:g} LSB on {first.differing} of "
                f"{first.elements} values.")
    if replay.device or replay.host:
        matched, other = (("the device's", "this machine's") if replay.device
                          else ("this machine's", "the device's"))
        return (f"Replayed here in integer arithmetic on its traced input, {matched} output of "
                f"that op is what {_modes(replay.device or replay.host)} gives; none of {tried} "
                f"gives {other} exactly, so that side computes it some other way (not one of "
                "these roundings).")
    return (f"Replayed here in integer arithmetic on its traced input, none of {tried} gives "
            "either side's output of that op exactly: the replay does not explain the "
            "difference.")


def verdict(first: OpDifference | None, reference: KernelCheck | None, device: str,
            host: str, traced_matches_run: bool, replay: RoundingReplay | None = None) -> str:
    """What the localisation says, in a sentence or four."""
    if first is None:
        if not traced_matches_run:
            return ("With every tensor kept the two sides agree on this sample, though their "
                    "normal runs differ: keeping every tensor turns off the default delegate "
                    "(XNNPACK), so the difference comes from the delegate's kernels.")
        return ("Every tensor that could be compared agrees on this sample; the difference is "
                "in a tensor an op overwrote in place (see the hidden tensors).")
    text = f"The device ({device}) and this machine ({host}) first differ at {_describe(first)}."
    if reference is None:
        text += " The reference-kernel run did not take place (see the note)."
    elif reference.agree:
        text += (f" With the runtime's reference kernels on both sides they agree bit for bit: "
                 f"the optimized {device} kernels compute that op differently from the "
                 f"{host} ones (the emulation and the plain C++ code are not the cause). A real "
                 f"device runs the same optimized kernels.")
        if reference.reference_vs_optimized is not None and reference.reference_vs_optimized > 1:
            text += (f" The reference kernels' own output of that op is up to "
                     f"{reference.reference_vs_optimized:g} codes from the optimized kernels' "
                     "on this machine: they compute it differently, so they are no yardstick "
                     "for which side is right.")
    else:
        assert reference.first is not None
        text += (f" With the reference kernels on both sides they still differ, first at "
                 f"{_describe(reference.first)}: not (only) the optimized kernels, but float "
                 "arithmetic (a float op or island, the math library) or the emulation itself.")
    return text + (" " + rounding_text(first, replay) if replay is not None else "")


def overwritten(graph: Graph, aliases: list[list[int]], tensor: int) -> bool:
    """Whether an op after the one that wrote `tensor` (any op, for a model input) wrote over
    its buffer in place, so that a trace no longer holds its values."""
    writer = {t: i for i, op in enumerate(graph.ops) for t in op.outputs}
    own = writer.get(tensor, -1)
    return any(writer[t] > own and graph.ops[writer[t]].name not in VIEW_OPS
               for group in aliases if tensor in group for t in group
               if t != tensor and t in writer)


def replay_first(graph: Graph, first: OpDifference | None, device: Trace, host: Trace,
                 model: Path | bytes | None) -> RoundingReplay | None:
    """The first differing op replayed in integer arithmetic, when it is an int8
    FULLY_CONNECTED whose input the traces hold intact (the host's: the sides agree on it, or
    the op would not be the first to differ)."""
    if model is None or first is None or graph.ops[first.op_index].name != "FULLY_CONNECTED":
        return None
    x = graph.ops[first.op_index].inputs[0]
    if x not in host.tensors or overwritten(graph, device.aliases + host.aliases, x):
        return None
    if x in device.tensors and not np.array_equal(device.tensors[x], host.tensors[x]):
        return None  # an input only a hidden op could have changed: not the op's own doing
    return rounding.explain(model, first.op_index, host.tensors[x],
                            device.tensors[first.tensor], host.tensors[first.tensor])


def localise(graph: Graph, sample: int, device: Trace, host: Trace,
             device_run: list[np.ndarray], host_run: list[np.ndarray],
             device_ref: Trace | None, host_ref: Trace | None, note: str | None = None,
             model: Path | bytes | None = None) -> Divergence:
    """The first op whose output differs, how the difference grows after it, the verdict of
    the reference kernels (when both reference traces ran), and with the `model` (path or
    bytes) an int8 FULLY_CONNECTED replayed once per rounding mode. The traces should hold the
    model inputs too: the first op's input may be one."""
    rows, hidden = compare(graph, device, host)
    first = _first(rows)
    growth = rows[rows.index(first):] if first is not None else []
    if first is not None:
        earlier = [t for t in hidden if any(t in op.outputs for op in
                                            graph.ops[_last_agreeing(rows, first):first.op_index])]
        if earlier:
            note = "; ".join(filter(None, [note, (
                f"ops just before it ran in place and their outputs could not be compared "
                f"(tensors {sorted(earlier)}): the difference may start there")]))
    reference = None
    if device_ref is not None and host_ref is not None:
        ref_rows, _ = compare(graph, device_ref, host_ref)
        ref_first = _first(ref_rows)
        yardstick = None
        if first is not None and first.tensor in host_ref.tensors:
            yardstick = difference(graph, first.op_index, first.tensor,
                                   host_ref.tensors[first.tensor],
                                   host.tensors[first.tensor]).max_diff
        reference = KernelCheck(agree=ref_first is None, first=ref_first,
                                reference_vs_optimized=yardstick)
    matches = _matches(device, device_run) and _matches(host, host_run)
    machines = (device.about.get("machine", "device"), host.about.get("machine", "host"))
    replay = replay_first(graph, first, device, host, model)
    return Divergence(sample=sample, first=first, growth=growth, hidden=sorted(hidden),
                      traced_matches_run=matches, reference=reference, rounding=replay,
                      verdict=verdict(first, reference, *machines, matches, replay), note=note)


def _last_agreeing(rows: list[OpDifference], first: OpDifference) -> int:
    """The op index just after the last compared op before `first` (0 if none)."""
    before = [r.op_index for r in rows if r.op_index < first.op_index]
    return max(before) + 1 if before else 0
