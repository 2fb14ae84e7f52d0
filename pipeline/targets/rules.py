"""Model-level rules the targets share. Each rule's message is written here once and reused by
`gelu-edge check`, the build's parity gate and the report."""

from __future__ import annotations

from pathlib import Path

from pipeline.targets.base import LOAD_RULE, Rule
from pipeline.tflite.graph import FLOAT_TYPES, Graph

# Op versions newer than some runtimes register: (op, version) -> first runtime that loads it.
# From TFLite's op-version table (tensorflow/lite/tools/versioning/runtime_version.cc);
# FULLY_CONNECTED v12 confirmed by loading with tflite-runtime 2.14 (tests/pipeline/
# test_targets.py, test_dynamic_range_is_rejected_by_rpi_and_accepted_by_litert).
OP_MIN_RUNTIME = {
    ("GELU", 1): "2.9.0",
    ("GELU", 2): "2.9.0",
    ("FULLY_CONNECTED", 12): "2.17.0",  # dynamic range: float input, int8 weights
}


# Int8 ops whose prepare aborts the process (SIGABRT, no message) when the output's rescale
# factor 2 max(input scales) / (2^20 output scale) reaches 1: TFLite's general ADD/SUB path
# refuses it in QuantizeMultiplierSmallerThanOneExp. It happens when the calibration never
# reached a branch (relu(x - 5) on data below 5): its output range is degenerate (scale ~1e-8).
# Seen with tflite-runtime 2.14.0 (ADD and SUB) and ai-edge-litert 2.3.0 (ADD only).
RESCALE_ABORTS = {"tflite-runtime": ("ADD", "SUB"), "litert": ("ADD",)}
RESCALE_SHIFT = 20  # the int8 ADD/SUB kernels' left shift


def version_tuple(version: str) -> tuple[int, ...]:
    """'2.14.0' -> (2, 14, 0); non-numeric parts count as 0."""
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _names(graph: Graph, indices: list[int], limit: int = 3) -> str:
    names = [graph.tensors[i].name or f"#{i}" for i in indices[:limit]]
    more = f" and {len(indices) - limit} more" if len(indices) > limit else ""
    return ", ".join(names) + more


def full_integer(graph: Graph) -> Rule:
    """No float tensor anywhere: an integer accelerator cannot run float ops or float weights."""
    floats = [i for i, t in enumerate(graph.tensors) if t.dtype in FLOAT_TYPES]
    if not floats:
        return Rule("full_integer", True, "every tensor is integer")
    ops = sorted({op.name for op in graph.ops
                  if any(i in floats for i in op.inputs + op.outputs if i >= 0)})
    return Rule("full_integer", False,
                f"{len(floats)} float tensors ({_names(graph, floats)}) used by "
                f"{', '.join(ops)}: the model is not full integer; build with --quantize int8 "
                "(or uint8) and an approximation without float ops (--approx auto)")


def io_types(graph: Graph, allowed: tuple[str, ...]) -> Rule:
    """Model inputs and outputs must have one of the allowed types."""
    bad = [f"{kind} {graph.tensors[i].name} is {graph.tensors[i].dtype}"
           for kind, indices in (("input", graph.inputs), ("output", graph.outputs))
           for i in indices if graph.tensors[i].dtype not in allowed]
    if not bad:
        return Rule("io_types", True, f"inputs and outputs are {'/'.join(allowed)}")
    return Rule("io_types", False, f"{'; '.join(bad)}; the target needs {' or '.join(allowed)} "
                "(build with --quantize int8 or uint8)")


def static_batch_one(graph: Graph) -> Rule:
    """Constant shapes (no dynamic dimension) and a batch of 1 on every input."""
    dynamic = [i for i, t in enumerate(graph.tensors) if -1 in t.signature]
    batch = [i for i in graph.inputs if graph.tensors[i].shape[:1] not in ((1,), ())]
    if not dynamic and not batch:
        return Rule("static_batch_one", True, "constant shapes, batch 1")
    problems = []
    if dynamic:
        problems.append(f"dynamic dimensions in {_names(graph, dynamic)}")
    if batch:
        problems.append(f"batch size {graph.tensors[batch[0]].shape[0]} on "
                        f"{_names(graph, batch)}")
    return Rule("static_batch_one", False,
                f"{'; '.join(problems)}: the target needs constant shapes with batch 1 "
                "(gelu-edge converts with batch 1; convert your model with a fixed input shape)")


def max_dims_over_one(graph: Graph, limit: int) -> Rule:
    """No activation tensor may have more than `limit` dimensions larger than 1."""
    bad = [i for i, t in enumerate(graph.tensors)
           if not graph.is_constant(i) and sum(d > 1 for d in t.shape) > limit]
    if not bad:
        return Rule("max_dims_over_one", True, f"every tensor has at most {limit} dimensions > 1")
    t = graph.tensors[bad[0]]
    return Rule("max_dims_over_one", False,
                f"{len(bad)} tensors have more than {limit} dimensions larger than 1 "
                f"(first: {t.name} {list(t.shape)}); reshape so that at most {limit} are")


def min_runtime_version(graph: Graph, runtime: str, version: str) -> Rule:
    """The converter's `min_runtime_version` metadata must not be newer than the runtime."""
    needed = graph.metadata.get("min_runtime_version")
    if needed is None:
        return Rule("min_runtime_version", True, "no min_runtime_version metadata in the model")
    if version_tuple(needed) <= version_tuple(version):
        return Rule("min_runtime_version", True, f"needs runtime {needed}, {runtime} is {version}")
    return Rule("min_runtime_version", False,
                f"the converter says this model needs runtime {needed}; {runtime} {version} "
                "cannot load it (an op version is too new: see the per-op verdicts; for a "
                "dynamic-range model use --quantize int8 instead)")


def runtime_op_verdict(op: str, version: int, runtime: str, runtime_version: str
                       ) -> tuple[str, str] | None:
    """(verdict, reason) when OP_MIN_RUNTIME knows this op version is too new; else None."""
    needed = OP_MIN_RUNTIME.get((op, version))
    if needed and version_tuple(needed) > version_tuple(runtime_version):
        return ("unsupported", f"{op} v{version} needs runtime {needed}; {runtime} "
                f"{runtime_version} does not register it")
    return None


def real_load(model: Path, runtime: str) -> Rule:
    """Load the model with the real runtime in its own process and invoke it once."""
    from pipeline.device import edge_client

    ok, message = edge_client.load_check(model, runtime)
    return Rule(LOAD_RULE, ok, message)


def int8_rescale(graph: Graph, runtime: str) -> Rule:
    """No int8 ADD/SUB whose output rescale factor the runtime's kernel aborts on."""
    ops = RESCALE_ABORTS.get(runtime, ())
    bad = []
    for index, op in enumerate(graph.ops):
        if op.name not in ops or not op.outputs:
            continue
        out = graph.tensors[op.outputs[0]]
        scales = [graph.tensors[i].scale for i in op.inputs if i >= 0]
        if out.dtype != "INT8" or not out.scale or None in scales:
            continue
        factor = 2 * max(scales) / (2**RESCALE_SHIFT * out.scale)
        if factor >= 1:
            bad.append(f"op {index} {op.name} (layer {graph.origin(op)}, output scale "
                       f"{out.scale:.3g})")
    if not bad:
        return Rule("int8_rescale", True, f"every int8 {'/'.join(ops) or 'ADD/SUB'} output "
                    f"range is one {runtime} prepares")
    return Rule("int8_rescale", False,
                f"{'; '.join(bad[:3])}{' and more' if len(bad) > 3 else ''}: a degenerate "
                "output range (the calibration data never reached this branch); "
                f"{runtime} aborts (SIGABRT) preparing it. Calibrate on data that reach it, "
                "or use another approximation or target")
