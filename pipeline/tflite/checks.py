"""Checks on a converted TFLite graph. Each check's docstring is the message the user sees."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.approximations import Approximation
from pipeline.records.convert import CheckResult
from pipeline.tflite.graph import FLOAT_TYPES, Graph
from pipeline.tflite.quantize_modes import QuantizeMode

# The I/O tensor type each integer mode asks the converter for.
IO_TYPES = {"int8": "INT8", "uint8": "UINT8", "int16x8": "INT16"}
# The types integer Keras inputs keep in TFLite (never quantized).
INTEGER_INPUT_TYPES = ("INT32", "INT64", "BOOL")


# The float op an island holds -> what removes it (the rewrite, or the option).
ISLAND_FIXES = {
    "NEG": "the layer-norm rewrite",
    "SQUARE": "the l2-normalize rewrite",
    "DIV": "the masked-pooling rewrite",
    "POW": "a GELU approximation (--approx): a tanh GELU formula with pow",
    "CAST": "the attention-mask or masked-pooling rewrite (a mask cast to float)",
}
ISLAND_OPS = frozenset({"DEQUANTIZE", "QUANTIZE"})


def float_ops(graph: Graph) -> list[int]:
    """Indices of the ops that read or write a float tensor."""
    return [i for i, op in enumerate(graph.ops)
            if {graph.tensors[t].dtype for t in op.inputs + op.outputs if t >= 0} & FLOAT_TYPES]


def no_float_island(graph: Graph, mode: QuantizeMode, approx: Approximation) -> list[str]:
    """float ops inside a full-integer model (DEQUANTIZE/QUANTIZE islands: {op}): slow on a CPU,
    and an accelerator sends the graph back to the CPU there. Remove them with what each names,
    or choose --quantize float16/dynamic."""
    if not mode.full_integer:
        return []
    found: dict[str, set[str]] = {}
    for i in float_ops(graph):
        op = graph.ops[i]
        if op.name not in ISLAND_OPS:
            found.setdefault(op.name, set()).add(graph.origin(op))
    if not found and float_ops(graph):  # islands of DEQUANTIZE/QUANTIZE only
        found = {"DEQUANTIZE": {graph.origin(graph.ops[i]) for i in float_ops(graph)}}
    return [f"{name} in {', '.join(sorted(layers)[:3])}"
            + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")
            + (f" ({ISLAND_FIXES[name]} removes it)" if name in ISLAND_FIXES else "")
            for name, layers in sorted(found.items())]


def no_gelu_op_after_replacement(graph: Graph, mode: QuantizeMode,
                                 approx: Approximation) -> list[str]:
    """GELU ops are still in the model although --approx {approx} replaces them ({op}): a GELU
    written inside a custom layer's call(), or a formula the converter fused back into the GELU
    op (builtin code 150), which the Edge TPU compiler rejects. Make it a layer activation or a
    keras.ops.gelu node so it can be replaced."""
    if approx.uses_gelu_op:
        return []
    return unreplaced_gelu(graph, 0)


def unreplaced_gelu(graph: Graph, expected: int) -> list[str]:
    """Where the GELU ops beyond the `expected` ones come from (their layers), or []."""
    gelus = [op for op in graph.ops if op.name == "GELU"]
    if len(gelus) <= expected:
        return []
    return sorted({f"GELU in {graph.origin(op)}" for op in gelus})


def io_types_match(graph: Graph, mode: QuantizeMode, approx: Approximation) -> list[str]:
    """{op} of the model is not {want} as --quantize asks; the runtime would be fed the wrong
    type. Please report this model: the converter ignored the requested input/output type."""
    want = IO_TYPES.get(mode.name)
    if want is None:
        return []
    # Integer model inputs (token ids, masks) stay integer: only float inputs are quantized.
    bad = [f"input {graph.tensors[i].name}" for i in graph.inputs
           if graph.tensors[i].dtype not in (want, *INTEGER_INPUT_TYPES)]
    bad += [f"output {graph.tensors[i].name}" for i in graph.outputs
            if graph.tensors[i].dtype != want]
    return bad


CHECKS: list[Callable[[Graph, QuantizeMode, Approximation], list[str]]] = [
    no_float_island,
    no_gelu_op_after_replacement,
    io_types_match,
]


def run_checks(graph: Graph, mode: QuantizeMode, approx: Approximation) -> list[CheckResult]:
    """Run every check; a failed check's message names the offending ops."""
    results = []
    want = IO_TYPES.get(mode.name, "")
    for check in CHECKS:
        offenders = check(graph, mode, approx)
        template = " ".join((check.__doc__ or "").split())
        message = template.format(op="; ".join(offenders), approx=approx.name,
                                  want=want) if offenders else "ok"
        results.append(CheckResult(name=check.__name__, passed=not offenders, message=message))
    return results
