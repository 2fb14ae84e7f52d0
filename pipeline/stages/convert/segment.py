"""Coral: cut model.tflite into Edge TPU and host segments (pipeline.tflite.segments), write them
with segments.json, check each Edge TPU segment statically, run the chain against the whole
model, and estimate what the Edge TPU does per inference.

The estimate is a lower bound from published peaks, never a measurement: the Edge TPU's 4 TOPS
(2e12 int8 multiply-accumulates a second) for the segments' MACs, and USB 3.0's 5 Gbit/s
signalling rate for the activations that cross between host and Edge TPU and the parameters
that do not fit its 8 MB of on-chip memory (which then stream from the host each inference).
Co-compiled segments share that memory; the ones compiled first get it first.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import artifacts
from pipeline.device import chain as chain_check
from pipeline.device import edge_client
from pipeline.errors import UserError
from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.segments import BoundaryTensor, ChainCheck, Segment, SegmentChain
from pipeline.targets import coral
from pipeline.tflite import macs as tflite_macs
from pipeline.tflite import segments
from pipeline.tflite import slice as slice_
from pipeline.tflite.graph import Graph, parse

TPU_MACS_PER_S = 2e12  # 4 TOPS peak, two ops per multiply-accumulate
USB3_BYTES_PER_S = 5e9 / 8  # USB 3.0 signalling rate
CACHE_BYTES = 8 * 1024 * 1024  # the Edge TPU's on-chip memory (8 MB)
CHECK_SAMPLES = 8  # samples the chain is run on against the whole model
COMPILED_DIR = "edgetpu"


def check_option(target: str, max_segments: int | None) -> None:
    """--max-segments is for coral alone: refused before any work elsewhere."""
    if max_segments is not None and target != "coral":
        raise UserError(f"--max-segments applies to --target coral (its chain of Edge TPU "
                        f"segments); target {target!r} runs one model: leave it out")


def _tensor(graph: Graph, index: int) -> BoundaryTensor:
    t = graph.tensors[index]
    return BoundaryTensor(index=index, name=t.name, dtype=t.dtype, shape=list(t.shape),
                          scale=t.scale, zero_point=t.zero_point,
                          bytes=segments.tensor_bytes(graph, index))


def make(out: Path, data: bytes, graph: Graph, max_segments: int | None, x: batches.Inputs,
         runtime: str, reporter: Reporter, host_float: bool = False) -> SegmentChain:
    """Write out/segments/ and out/segments.json for a coral build; the chain's record. With
    `host_float`, the Edge TPU ops in float are said to be on the host for --host-float."""
    verdicts = [coral.tpu_op(graph, op) for op in graph.ops]
    on_tpu = {id(op): v[0] for op, v in zip(graph.ops, verdicts)}
    cuts = segments.cut(graph, lambda op: on_tpu[id(op)], max_segments)
    bounds = segments.boundaries(graph, cuts)
    total_macs = sum(tflite_macs.macs(graph, op) for op in graph.ops)
    width = len(str(len(cuts)))
    made: list[Segment] = []
    cached_so_far = 0
    for n, (c, b) in enumerate(zip(cuts, bounds)):
        name = f"{artifacts.SEGMENTS_DIR}/{n:0{width}d}_{c.side}.tflite"
        seg_data = slice_.submodel(data, c.ops, b.inputs, b.outputs,
                                   f"gelu-edge segment {n} ({c.side})")
        artifacts.write_bytes(out / name, seg_data)
        seg_graph = parse(seg_data, name)
        params = segments.parameter_bytes(graph, c.ops)
        reasons: dict[str, str] = {}
        check = cached = None
        if c.side == segments.ACCELERATOR:
            compat = coral.check(out / name, seg_graph)
            failed = [r.message for r in compat.rules if not r.passed]
            failed += [f"{v.op}: {v.reason}" for v in compat.ops if v.verdict != coral.SUPPORTED]
            check = "passed" if not failed else "; ".join(failed)
            cached = cached_so_far + params <= CACHE_BYTES
            cached_so_far += params
        else:
            for i in c.ops:
                ok, why = verdicts[i]
                op = graph.ops[i]
                if not ok and host_float and op.name not in ("QUANTIZE", "DEQUANTIZE") and \
                        coral.op_verdict(op.name, op.version, op.code)[0] == coral.SUPPORTED:
                    why = "an Edge TPU op, kept in float on the host by --host-float"
                if not ok:
                    reasons.setdefault(op.name, why)
        made.append(Segment(side=c.side, file=name, ops=seg_graph.op_counts(),
                            macs=sum(tflite_macs.macs(graph, graph.ops[i]) for i in c.ops),
                            parameter_bytes=params, inputs=list(b.inputs),
                            outputs=list(b.outputs), host_reasons=reasons, check=check,
                            cached=cached))
    rejected = sorted({why for op in graph.ops
                       for verdict, why in [coral.op_verdict(op.name, op.version, op.code)]
                       if verdict == coral.UNSUPPORTED})
    crossing = sorted({t for b in bounds for t in (*b.inputs, *b.outputs)}
                      | set(graph.inputs) | set(graph.outputs))
    tpu = [s for s in made if s.side == segments.ACCELERATOR]
    tpu_macs = sum(s.macs for s in tpu)
    transfer = sum(segments.tensor_bytes(graph, t) for s in tpu for t in (*s.inputs, *s.outputs))
    streamed = sum(s.parameter_bytes for s in tpu if not s.cached)
    estimate_ms = 1e3 * (tpu_macs / TPU_MACS_PER_S + (transfer + streamed) / USB3_BYTES_PER_S)
    files = " ".join(s.file for s in tpu)
    chain = SegmentChain(
        target="coral", segments=made, model_inputs=list(graph.inputs),
        model_outputs=list(graph.outputs), boundary=[_tensor(graph, t) for t in crossing],
        max_segments=max_segments,
        accelerator_mac_share=tpu_macs / total_macs if total_macs else 0.0,
        accelerator_parameter_bytes=sum(s.parameter_bytes for s in tpu),
        cache_bytes=CACHE_BYTES, streamed_bytes=streamed, transfer_bytes=transfer,
        estimate_ms=estimate_ms,
        estimate_basis=("a lower bound from published peaks, not a measurement: the Edge "
                        "TPU's 4 TOPS for the segments' multiply-accumulates and USB 3.0's "
                        "5 Gbit/s for the activations crossing to and from it and the "
                        "parameters beyond its 8 MB of on-chip memory; host segments not "
                        "included"),
        compile_command=f"edgetpu_compiler -s -o {COMPILED_DIR} {files}" if files else "",
        rejected=rejected)
    artifacts.write_json(out / artifacts.SEGMENTS_JSON, chain.model_dump())  # what edge runs
    chain = chain.model_copy(update={"chain_check": _check(out, x, runtime, reporter)})
    artifacts.write_json(out / artifacts.SEGMENTS_JSON, chain.model_dump())
    return chain


def _check(out: Path, x: batches.Inputs, runtime: str, reporter: Reporter) -> ChainCheck:
    """The chain against model.tflite on the first CHECK_SAMPLES samples, on the CPU runtime."""
    x = batches.take(x, slice(0, CHECK_SAMPLES))
    whole, _ = edge_client.run(out / artifacts.MODEL_TFLITE, x, runtime, reporter)
    return chain_check.compare(out, whole, x, runtime, reporter)
