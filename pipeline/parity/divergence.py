"""Where the device and this machine part ways: one sample traced on both with every tensor kept,
compared op by op in execution order. The inputs are the same on both sides, so the first op
whose output differs is the first op whose kernels compute differently; the ops after it show
how the difference grows. The same sample on the runtime's reference kernels on both sides then
says whether the optimized kernels make the difference.

A kept tensor is only what its buffer holds after the invoke: the runtime runs some ops in place
(an ADD into its input buffer, then a SOFTMAX into the same), so an op output that a later op
overwrote is not compared (`hidden`).
"""

from __future__ import annotations

import numpy as np

from pipeline.edge_session import Trace
from pipeline.records.parity import Divergence, KernelCheck, OpDifference
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


def verdict(first: OpDifference | None, reference: KernelCheck | None, device: str,
            host: str, traced_matches_run: bool) -> str:
    """What the localisation says, in a sentence or three."""
    if first is None:
        if not traced_matches_run:
            return ("With every tensor kept the two sides agree on this sample, though their "
                    "normal runs differ: keeping every tensor turns off the default delegate "
                    "(XNNPACK), so the difference comes from the delegate's kernels.")
        return ("Every tensor that could be compared agrees on this sample; the difference is "
                "in a tensor an op overwrote in place (see the hidden tensors).")
    text = f"The device ({device}) and this machine ({host}) first differ at {_describe(first)}."
    if reference is None:
        return text + " The reference-kernel run did not take place (see the note)."
    if reference.agree:
        text += (f" With the runtime's reference kernels on both sides they agree bit for bit: "
                 f"the optimized {device} kernels compute that op differently from the "
                 f"{host} ones (the emulation and the plain C++ code are not the cause). A real "
                 f"device runs the same optimized kernels.")
        if reference.reference_vs_optimized is not None and reference.reference_vs_optimized > 1:
            text += (f" The reference kernels' own output of that op is up to "
                     f"{reference.reference_vs_optimized:g} codes from the optimized kernels' "
                     "on this machine: they compute it differently, so they are no yardstick "
                     "for which side is right.")
        return text
    assert reference.first is not None
    return (text + f" With the reference kernels on both sides they still differ, first at "
            f"{_describe(reference.first)}: not (only) the optimized kernels, but float "
            "arithmetic (a float op or island, the math library) or the emulation itself.")


def localise(graph: Graph, sample: int, device: Trace, host: Trace,
             device_run: list[np.ndarray], host_run: list[np.ndarray],
             device_ref: Trace | None, host_ref: Trace | None, note: str | None = None
             ) -> Divergence:
    """The first op whose output differs, how the difference grows after it, and the verdict
    of the reference kernels (when both reference traces ran)."""
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
    return Divergence(sample=sample, first=first, growth=growth, hidden=sorted(hidden),
                      traced_matches_run=matches, reference=reference,
                      verdict=verdict(first, reference, *machines, matches), note=note)


def _last_agreeing(rows: list[OpDifference], first: OpDifference) -> int:
    """The op index just after the last compared op before `first` (0 if none)."""
    before = [r.op_index for r in rows if r.op_index < first.op_index]
    return max(before) + 1 if before else 0
