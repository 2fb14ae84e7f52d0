"""The quantization plan: made once by the convert stage (placement, ranges, --recover's float
layers, the matmuls recipe), and applied through one path, so `gelu-edge convert --plan FILE`
makes the same model.tflite from the same model_approx.keras and calibration samples."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.errors import UserError
from pipeline.inputs import batch as batches
from pipeline.progress import Reporter
from pipeline.records.plan import FORMAT, OpPrecision, QuantPlan
from pipeline.tflite import attention, calibrate, hybrid, placement, smooth
from pipeline.tflite import graph as tflite_graph
from pipeline.tflite import macs as tflite_macs
from pipeline.tflite.converter import convert_model


def matrix_ops(graph: tflite_graph.Graph) -> list[OpPrecision]:
    """Every matrix op of a converted model with its arithmetic and MACs."""
    return [OpPrecision(op=op.name, layer=graph.origin(op), precision=tflite_macs.kind(graph, op),
                        macs=m)
            for op in graph.ops if (m := tflite_macs.macs(graph, op))]


def finish(plan: QuantPlan, data: bytes, graph: tflite_graph.Graph) -> QuantPlan:
    """The plan with what the model it made (`data`, parsed: `graph`) runs per matrix op, and
    that model's hash."""
    return plan.model_copy(update={"ops": matrix_ops(graph),
                                   "model_sha256": hashlib.sha256(data).hexdigest(),
                                   "model_canonical_sha256": tflite_graph.canonical_sha256(data)})


def matmuls(model: Any, plan: QuantPlan, calib_x: batches.Inputs, reporter: Reporter,
            choose: bool = False, attention_mode: str = "auto") -> tuple[bytes, QuantPlan]:
    """The matmuls placement: the float conversion, smoothed (with `choose`: factors chosen on
    the calibration samples and verified, and attention's matmuls measured, or as
    `attention_mode` forces; else the plan's), then the plan's recipe."""
    data = convert_model(model, "none", calib_x, plan.batch, reporter)
    if choose:
        sites, factors = smooth.choose(data, calib_x, plan.runtime, reporter)
        plan = plan.model_copy(update={"smoothing": sites, "smoothing_factors": factors})
    smoothed = smooth.apply(data, plan.smoothing_factors) if plan.smoothing_factors else data
    if choose and plan.smoothing:
        plan = plan.model_copy(update={"smoothing": smooth.verify(data, smoothed, plan.smoothing,
                                                                  calib_x)})
    per_head = plan.attention is not None and plan.attention.chosen == "int8" and \
        plan.attention.per_head
    with reporter.phase("int8 matrix ops (ai-edge-quantizer, dynamic range)"):
        made = hybrid.quantize(attention.split_per_head(smoothed) if per_head else smoothed,
                               plan.recipe, plan.static_ranges)
    if choose:
        choice, made, recipe, static = attention.choose(smoothed, made, plan.recipe, calib_x,
                                                        plan.runtime, reporter, attention_mode)
        plan = plan.model_copy(update={"attention": choice, "recipe": recipe,
                                       "static_ranges": static})
    return made, plan


def matmuls_plan(mode: str, why: str, runtime: str, batch: int, rewrites: list[str]
                 ) -> QuantPlan:
    """A new matmuls plan for the runtime."""
    return QuantPlan(mode=mode, placement=placement.MATMULS, why=why, runtime=runtime,
                     batch=batch, rewrites=rewrites,
                     recipe=hybrid.recipe(placement.weights(runtime)))


def apply(plan: QuantPlan, model: Any, calib_x: batches.Inputs, reporter: Reporter) -> bytes:
    """The model a plan makes, with no search: the recorded placement, ranges and float layers."""
    if plan.placement == placement.MATMULS:
        return matmuls(model, plan, calib_x, reporter)[0]
    if plan.int16_nodes:
        from pipeline.stages.convert import int16_norms

        return int16_norms.make(model, plan, calib_x, reporter)[0]
    calib = batches.take(calib_x, slice(0, plan.calibration_samples)) \
        if plan.calibration_samples else calib_x
    calibrated = calibrate.Calibrated.read(convert_model(model, plan.mode, calib, plan.batch,
                                                         reporter, calibrate_only=True))
    return calibrate.quantize(calibrated, plan.mode, dict(plan.ranges) or None,
                              plan.float_nodes or None)


def read(path: Path, rewrites: list[str], fitted: dict[str, list[float]]) -> QuantPlan:
    """A plan file, checked against the build folder's model: a UserError saying what differs."""
    try:
        plan = QuantPlan.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the quantization plan {path}: {exc}") from None
    except ValidationError as exc:
        raise UserError(f"{path} is not a quantization plan gelu-edge writes "
                        f"({exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}); "
                        "give the quant_plan.json of a build") from None
    if plan.format != FORMAT:
        raise UserError(f"{path}: quantization plan format {plan.format}, this gelu-edge "
                        f"writes {FORMAT}; make the plan again with gelu-edge convert")
    if plan.rewrites != rewrites:
        raise UserError(f"{path}: the plan was made for a model with the rewrites "
                        f"{', '.join(plan.rewrites) or 'none'}, model_approx.keras has "
                        f"{', '.join(rewrites) or 'none'}; run gelu-edge approximate with the "
                        "plan's placement first")
    if plan.fitted != fitted:
        raise UserError(f"{path}: the plan was made for a model whose rewrites fitted other "
                        "constants (quant_plan.json's `fitted` differs from approximate.json's); "
                        "run gelu-edge approximate on the same calibration samples first")
    return plan
