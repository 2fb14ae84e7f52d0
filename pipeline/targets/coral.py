"""`coral`: Coral Edge TPU. Static rules from the Edge TPU documentation and the compiler's known
failures; when `edgetpu_compiler` is on PATH it is run and its log decides the op placement."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

from pipeline.targets import rules
from pipeline.targets.base import (
    CPU,
    SUPPORTED,
    UNSUPPORTED,
    Compat,
    OpVerdict,
    Target,
    group_ops,
)
from pipeline.tempdirs import temporary_directory
from pipeline.tflite.graph import Graph, Op

# The Edge TPU's supported-op table (coral.ai/docs/edgetpu/models-intro), TFLite builtin names,
# with the table's notes where it has one. Not supported: GELU, ABS, NEG, POW, DEQUANTIZE,
# GATHER, CAST, HARD_SWISH and everything else not listed.
EDGETPU_OPS = {
    "ADD": "", "AVERAGE_POOL_2D": "no fused activation", "CONCATENATION": "no fused activation",
    "CONV_2D": "", "DEPTHWISE_CONV_2D": "dilated conv needs the 2.x compiler",
    "FULLY_CONNECTED": "only the default weights format", "L2_NORMALIZATION": "",
    "LOGISTIC": "", "MAXIMUM": "", "MAX_POOL_2D": "no fused activation",
    "MEAN": "no reduction in the z dimension", "MINIMUM": "", "MUL": "", "PAD": "",
    "RELU": "", "RELU6": "", "RELU_N1_TO_1": "", "RESHAPE": "",
    "RESIZE_BILINEAR": "", "RESIZE_NEAREST_NEIGHBOR": "", "SLICE": "",
    "SOFTMAX": "1-D input, at most 16,000 elements", "SPACE_TO_DEPTH": "", "SPLIT": "",
    "SQUEEZE": "", "STRIDED_SLICE": "", "SUB": "", "TANH": "",
    "QUANTIZE": "only at the model's edges (uint8 <-> int8)",
}
# Op versions edgetpu_compiler 16 is reported to reject (google-coral/edgetpu issues: CONV_2D v6,
# QUANTIZE v3, TRANSPOSE_CONV v4, EXP v2): op -> the newest it knows.
MAX_VERSION = {"CONV_2D": 5, "QUANTIZE": 2, "TRANSPOSE_CONV": 3, "EXP": 1}
# The compiler fails on op codes from here on: "Op builtin_code out of range: 150" (GELU).
FIRST_UNKNOWN_CODE = 150
MAX_DIMS_OVER_ONE = 3

RULES = (
    "full integer: every tensor int8/uint8 (int32 biases), no float ops",
    "inputs and outputs int8 or uint8",
    "constant shapes, batch 1",
    f"at most {MAX_DIMS_OVER_ONE} dimensions larger than 1 per tensor",
    "only ops of the Edge TPU table; op codes >= 150 (GELU) and newer op versions "
    f"({', '.join(f'{k} v{v + 1}' for k, v in MAX_VERSION.items())}) make the compiler fail",
    "the compiler maps one subgraph: every op after the first unsupported one runs on the CPU",
    "edgetpu_compiler is run when on PATH; otherwise the check is static",
)


def op_verdict(name: str, version: int, code: int) -> tuple[str, str]:
    if code >= FIRST_UNKNOWN_CODE:
        return (UNSUPPORTED, f"builtin op {code} ({name}) is unknown to edgetpu_compiler 16: it "
                f"fails with 'Op builtin_code out of range: {code}'; replace it "
                "(for GELU: --approx auto or --approx relu-corr)")
    if version > MAX_VERSION.get(name, version):
        return (UNSUPPORTED, f"{name} v{version} is newer than edgetpu_compiler 16 knows "
                f"(v{MAX_VERSION[name]}): the compiler rejects the model")
    if name not in EDGETPU_OPS:
        return (CPU, f"{name} is not in the Edge TPU op table: it runs on the CPU, and so does "
                "every op after it")
    note = EDGETPU_OPS[name]
    return (SUPPORTED, "Edge TPU op" + (f" ({note})" if note else ""))


INTEGER_TYPES = ("INT8", "UINT8")
SOFTMAX_MAX_ELEMENTS = 16_000


def tpu_op(graph: Graph, op: Op) -> tuple[bool, str]:
    """Can the Edge TPU run this op in a segment of its own: (yes, or why not). The op table
    and versions, then the table's notes that the static rules can judge: int8 activations,
    at most MAX_DIMS_OVER_ONE dimensions larger than 1, constant weights for FULLY_CONNECTED,
    softmax over one dimension, QUANTIZE only at the model's edges (kept on the host here)."""
    verdict, why = op_verdict(op.name, op.version, op.code)
    if verdict != SUPPORTED:
        return False, why.split(":")[0] if verdict == CPU else why
    if op.name == "QUANTIZE":
        return False, "QUANTIZE (a requantization) runs on the Edge TPU only at a model's edges"
    activations = [t for t in (*op.inputs, *op.outputs) if t >= 0 and not graph.is_constant(t)]
    for t in activations:
        tensor = graph.tensors[t]
        if tensor.dtype not in INTEGER_TYPES:
            return False, (f"{op.name} has a tensor of type {tensor.dtype}; the Edge TPU "
                           "runs int8 only")
        if sum(d > 1 for d in tensor.shape) > MAX_DIMS_OVER_ONE:
            return False, (f"{op.name} has a tensor of shape {list(tensor.shape)}: more than "
                           f"{MAX_DIMS_OVER_ONE} dimensions larger than 1")
    if op.name == "FULLY_CONNECTED" and not graph.is_constant(op.inputs[1]):
        return False, "FULLY_CONNECTED with weights computed at run time"
    if op.name == "SOFTMAX":
        shape = graph.tensors[op.inputs[0]].shape
        if sum(d > 1 for d in shape) > 1 or int(np.prod(shape)) > SOFTMAX_MAX_ELEMENTS:
            return False, (f"SOFTMAX over {list(shape)}: the Edge TPU takes a 1-D input of at "
                           f"most {SOFTMAX_MAX_ELEMENTS:,} elements")
    return True, why


def _cut(graph: Graph) -> dict[str, object]:
    """Where the first op the Edge TPU cannot run cuts the graph; whether the compiler fails."""
    verdicts = [op_verdict(op.name, op.version, op.code)[0] for op in graph.ops]
    fails = UNSUPPORTED in verdicts
    for i, op in enumerate(graph.ops):
        if verdicts[i] != SUPPORTED:
            return {"first_unsupported": {"index": i, "op": op.name},
                    "ops_on_tpu": 0 if fails else i,
                    "ops_on_cpu": len(graph.ops) if fails else len(graph.ops) - i,
                    "compiler_rejects_model": fails}
    return {"compiler_rejects_model": False, "first_unsupported": None,
            "ops_on_tpu": len(graph.ops), "ops_on_cpu": 0}


def _compiler(model: Path) -> tuple[rules.Rule, dict[str, tuple[str, str]]] | None:
    """Run edgetpu_compiler if installed: its verdict and per-op (verdict, reason) from its log."""
    exe = shutil.which("edgetpu_compiler")
    if exe is None:
        return None
    with temporary_directory("edgetpu") as tmp:
        proc = subprocess.run([exe, "-s", "-o", tmp, str(model)], capture_output=True, text=True,
                              timeout=600)
    return parse_compiler_log(proc.returncode, proc.stdout + proc.stderr)


def parse_compiler_log(returncode: int, log: str
                       ) -> tuple[rules.Rule, dict[str, list[tuple[int, str, str]]]]:
    """edgetpu_compiler -s output -> (rule, op -> [(count, verdict, status)]); an op can be
    listed twice, part mapped to the Edge TPU and part not."""
    if returncode != 0:
        last = next((ln for ln in reversed(log.strip().splitlines()) if ln.strip()), "failed")
        return rules.Rule("edgetpu_compiler", False, f"edgetpu_compiler failed: {last.strip()}"), {}
    placement: dict[str, list[tuple[int, str, str]]] = {}
    for line in log.splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]+)\s+(\d+)\s+(\S.*)$", line.strip())
        if m:
            status = m.group(3).strip()
            verdict = SUPPORTED if status.startswith("Mapped to Edge TPU") else CPU
            placement.setdefault(m.group(1), []).append((int(m.group(2)), verdict, status))
    on_cpu = re.search(r"operations that will run on CPU:\s*(\d+)", log)
    n_cpu = int(on_cpu.group(1)) if on_cpu else 0
    return rules.Rule("edgetpu_compiler", n_cpu == 0,
                      f"edgetpu_compiler: {n_cpu} operations run on the CPU"), placement


def check(model: Path, graph: Graph) -> Compat:
    """The Edge TPU's rules; the real compiler's log when it is installed."""
    codes = {(op.name, op.version): op.code for op in graph.ops}
    verdicts = group_ops(graph, lambda n, v: op_verdict(n, v, codes[(n, v)]))
    checks = [rules.full_integer(graph), rules.io_types(graph, ("INT8", "UINT8")),
              rules.static_batch_one(graph), rules.max_dims_over_one(graph, MAX_DIMS_OVER_ONE)]
    notes, method = [], "static"
    compiled = _compiler(model)
    if compiled is None:
        notes.append("edgetpu_compiler is not on PATH (it is not installable from the package "
                     "registries): this check is static, from the Edge TPU op table and rules")
    else:
        rule, placement = compiled
        checks.append(rule)
        method = "edgetpu_compiler"
        # The log lists ops by name only: its lines replace the first version's verdict.
        placed, seen = [], set()
        for v in verdicts:
            if v.op in placement and v.op not in seen:
                placed += [OpVerdict(v.op, v.version, n, verdict, status)
                           for n, verdict, status in placement[v.op]]
            elif v.op not in placement:
                placed.append(v)
            seen.add(v.op)
        verdicts = placed
    return Compat(target="coral", method=method, ops=verdicts, rules=checks, notes=notes,
                  details=_cut(graph))


def describe(compat: Compat) -> list[str]:
    """Where the graph is cut, and whether the compiler fails on the whole model."""
    cut = compat.details.get("first_unsupported")
    if cut and compat.details.get("compiler_rejects_model"):
        return [f"the Edge TPU compiler rejects the whole model (op {cut['index']}, "
                f"{cut['op']}): nothing would run on the Edge TPU"]
    if cut:
        return [f"graph cut at op {cut['index']} ({cut['op']}): "
                f"{compat.details['ops_on_cpu']} ops would run on the CPU"]
    return []


TARGET = Target(
    name="coral",
    summary="Coral Edge TPU, int8/uint8 full integer, batch 1",
    runtime="tflite-runtime",
    machine="aarch64",
    default_quantize="int8",
    quantize_modes=("int8", "uint8"),
    accelerator=True,
    rules=RULES,
    checker=check,
    details=describe,
)

TARGETS = (TARGET,)
