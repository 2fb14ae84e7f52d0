"""`--int16-norms`: an all-integer model whose layer norms and residual adds carry int16
activations; every other op, the matrix ops included, stays int8.

Kept in float one group at a time, an all-integer MiniLM's layer norms are the only ops whose
int8 costs much (benchmarks/integer_precision.py): a layer norm is a chain of small ops, and
each int8 tensor between them rounds again. With int16 there, the matrix ops keep int8
arithmetic and no op is float. The runtime needs int16 kernels for those ops (LiteRT has them;
tflite-runtime 2.14 has no int16 RSQRT), and no int8-only accelerator runs them.

The model is made by ai-edge-quantizer from the float TFLite model: int8 for every op, int16
for the ops named here by their output tensors, ranges min/max over the first calibration
samples. The plan keeps those names and ranges, so `convert --plan` makes it again.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pipeline.errors import UserError
from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.plan import QuantPlan
from pipeline.stages.convert import host_float
from pipeline.tflite import graph as tflite_graph

# Runtimes that lack an int16 kernel a layer norm needs.
NO_INT16_KERNELS = {"tflite-runtime": "tflite-runtime 2.14 has no int16 RSQRT (a layer norm's)"}


def check_option(enabled: bool, target: Any, runtime: str | None, mode: str,
                 integer_only: bool | None, recover: bool, calibration_method: str) -> None:
    """--int16-norms with options it cannot honour: refused before any work. `integer_only`
    is None where the placement is not known yet (the convert command: the stage checks)."""
    from pipeline.tflite import ranges

    if not enabled:
        return
    if target.accelerator:
        hint = (" (for coral, --host-float keeps the layer norms in float on the host)"
                if target.name == "coral" else "")
        raise UserError(f"--int16-norms is for CPU targets (LiteRT's int16 kernels), and "
                        f"{target.name!r} is an accelerator target: leave it out{hint}")
    if mode != "int8":
        raise UserError(f"--int16-norms applies to --quantize int8, not {mode}")
    if integer_only is False:
        raise UserError("--int16-norms applies to all-integer builds: add --integer-only")
    if runtime in NO_INT16_KERNELS:
        raise UserError(f"--int16-norms with --runtime {runtime}: {NO_INT16_KERNELS[runtime]}; "
                        "use --runtime litert")
    if recover:
        raise UserError("--int16-norms and --recover: choose one (--recover keeps layers in "
                        "float, --int16-norms keeps every op integer)")
    if calibration_method != ranges.DEFAULT:
        raise UserError("--int16-norms sets its ranges by min/max over the calibration "
                        "samples: leave out --calibration-method")


def int16_nodes(graph: tflite_graph.Graph, model: Any) -> list[str]:
    """The output tensor names of the ops that get int16 activations in the float model
    `graph` of the replaced Keras `model`: every op of a normalisation layer but its matrix
    ops, and every ADD of two activations (--host-float's choice, as if every op ran on the
    Edge TPU)."""
    return host_float.chosen_nodes(graph, model, lambda op: True)


def recipe(nodes: list[str]) -> list[dict[str, Any]]:
    """ai-edge-quantizer's recipe: static int8 for every op, static int16 activations for the
    ops whose output is named in `nodes` (its scope for an op is the output names, each
    followed by ';'; the later entry wins)."""
    from ai_edge_quantizer import recipe as stock

    int8 = copy.deepcopy(stock.static_wi8_ai8()[0])
    if not nodes:
        return [int8]
    int16 = copy.deepcopy(stock.static_wi8_ai16()[0])
    # Anchored at both ends: a fused op's own output name starts with the names of the ops
    # fused into it (a layer norm's last op, then the Dense it feeds).
    int16["regex"] = "^(?:" + "|".join(re.escape(n) for n in sorted(set(nodes))) + ");$"
    return [int8, int16]


def make(model: Any, plan: QuantPlan, calib_x: batches.Inputs, reporter: Reporter,
         choose: bool = False) -> tuple[bytes, QuantPlan]:
    """The model: the float conversion quantized by the recipe. With `choose`, the int16 ops
    and the ranges are found here and recorded in the plan; else the plan's are used."""
    from pipeline.tflite import hybrid
    from pipeline.tflite.converter import activation_ranges, convert_model

    float_model = convert_model(model, "none", calib_x, plan.batch, reporter)
    if choose:
        graph = tflite_graph.parse(float_model, "float model")
        plan = plan.model_copy(update={
            "int16_nodes": int16_nodes(graph, model),
            "static_ranges": activation_ranges(float_model, calib_x, reporter)})
    with reporter.phase("ai-edge-quantizer (int8, int16 layer norms and residual adds)"):
        data = hybrid.quantize(float_model, recipe(plan.int16_nodes), plan.static_ranges)
    return data, plan
